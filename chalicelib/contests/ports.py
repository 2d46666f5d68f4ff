"""The contest area's storage ports and the plain data they pass. No AWS here.

- `StateStore`: the stream-derived working state (versioned JSON rows, committed atomically with
  counter deltas) and the write-sharded counters.
- `ContestRepository`: contest definitions, boards (snapshots and settled results, stored as a
  head plus pages so a board of any size fits) and the registry of counter shards per round.

What the contest reads of other areas comes through their ports (`PaymentHistory`,
`MembershipHistory`, `PartnerDirectory`); the admin trail is `chalicelib.admin_trail`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.contests.domain import Metrics

PAGE_SIZE = 200  # board entries per stored page


@dataclass(frozen=True)
class Row:
    version: int
    data: dict[str, Any]


@dataclass(frozen=True)
class Put:
    """Replace a state row, on condition that its version is still `expected` (None = absent)."""

    key: str
    expected: int | None
    data: dict[str, Any]

    @property
    def version(self) -> int:
        """The version the row has once this put is committed."""
        return (self.expected or 0) + 1


@dataclass(frozen=True)
class Check:
    """Write nothing, but commit only if a state row's version is still `expected` (None =
    absent): a row a decision was read from, without changing it."""

    key: str
    expected: int | None


@dataclass(frozen=True)
class CounterKey:
    contest_id: str
    round: int
    partner_id: str
    shard: int

    @property
    def pk(self) -> str:
        return f"{self.contest_id}#{self.round}#{self.partner_id}#{self.shard}"


@dataclass
class Commit:
    """State puts and counter deltas that commit together or not at all, on condition that the
    rows in `checks` (never also in `puts`) have not moved."""

    puts: list[Put] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    adds: dict[CounterKey, dict[str, int]] = field(default_factory=dict)

    def add(self, key: CounterKey, name: str, delta: int) -> None:
        if delta:
            self.adds.setdefault(key, defaultdict(int))[name] += delta

    @property
    def empty(self) -> bool:
        return not self.puts and not any(any(v for v in d.values()) for d in self.adds.values())


@dataclass(frozen=True)
class Board:
    """A stored ranking: `kind` is "snapshot" or "final"; `meta` holds as_of/settled_at/winners;
    `version` names the pages it points at."""

    kind: str
    meta: dict[str, Any]
    version: str
    pages: int


def pages_of(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Board entries cut into stored pages."""
    return [entries[i:i + PAGE_SIZE] for i in range(0, len(entries), PAGE_SIZE)]


def pages_needed(board: Board, limit: int | None) -> int:
    """How many of a board's pages hold its first `limit` entries (None: all)."""
    return board.pages if limit is None else min(board.pages, -(-limit // PAGE_SIZE))


def chunks(seq: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class StateStore(Protocol):
    """The contest's working state and counters (written by the stream path only)."""

    def read(self, keys: Iterable[str]) -> dict[str, Row]:
        """Strongly consistent reads of state rows (absent keys are left out)."""
        ...

    def commit(self, commit: Commit) -> bool:
        """All puts and counter adds atomically; False (nothing written) if the version of a put
        or checked row moved. A commit with nothing to write succeeds without checking."""
        ...

    def counters(self, contest_id: str, round_no: int, shards: dict[str, list[int]]) -> dict[str, Metrics]:
        """Sum of each partner's counter shards (`shards`: partner id -> shard numbers)."""
        ...

    def all_counters(self) -> dict[tuple[str, int, str], Metrics]:
        """Every counter summed over its shards, by (contest, round, partner) (audits: a scan)."""
        ...


class ContestRepository(Protocol):
    """Contest definitions, stored boards and the counter-shard registry."""

    def add_contest(self, contest_id: str, doc: dict[str, Any]) -> None:
        """Store a new contest; `Conflict(contest_exists)` if the id is taken."""
        ...

    def get_contest(self, contest_id: str) -> dict[str, Any] | None: ...

    def list_contests(self) -> list[dict[str, Any]]: ...

    def settled_rounds(self, contest_id: str) -> set[int]:
        """The rounds of a contest with a final (settled) result."""
        ...

    def write_pages(self, contest_id: str, round_no: int, version: str, entries: list[dict[str, Any]]) -> int:
        """Store a board's entries under `version` (not yet visible); returns the page count."""
        ...

    def put_snapshot_head(self, contest_id: str, round_no: int, version: str, pages: int,
                          meta: dict[str, Any]) -> bool:
        """Point the round's snapshot at `version` unless a ranking as of a later (or the same)
        `meta["as_of"]` already did; True if it moved."""
        ...

    def put_final_head(self, contest_id: str, round_no: int, version: str, pages: int,
                       meta: dict[str, Any]) -> bool:
        """Freeze the settled result; False if another settlement got there first."""
        ...

    def get_board(self, contest_id: str, round_no: int, kind: str) -> Board | None: ...

    def board_entries(self, contest_id: str, round_no: int, board: Board,
                      limit: int | None = None) -> list[dict[str, Any]]:
        """The board's entries in order (the first `limit` of them)."""
        ...

    def register_shard(self, contest_id: str, round_no: int, partner_id: str, shard: int) -> None:
        """Record that a counter shard exists in a round (idempotent), before its first write."""
        ...

    def registered_shards(self, contest_id: str, round_no: int) -> dict[str, list[int]]:
        """partner id -> the shard numbers registered in the round."""
        ...

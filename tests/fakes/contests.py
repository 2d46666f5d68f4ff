"""In-memory fakes of the contest area's storage ports (`chalicelib.contests.ports`): the same
contract suite as the DynamoDB adapters (tests/integration/test_contests_contract.py)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from chalicelib.contests.domain import Metrics
from chalicelib.contests.ports import Board, Commit, CounterKey, Row, pages_needed, pages_of
from chalicelib.errors import Conflict


class InMemoryStateStore:
    """Versioned rows and counter shards behind one lock (a commit is all or nothing)."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.counter_rows: dict[CounterKey, dict[str, int]] = {}
        self._lock = threading.Lock()

    def read(self, keys: Iterable[str]) -> dict[str, Row]:
        with self._lock:
            return {k: Row(self.rows[k].version, _stored(self.rows[k].data)) for k in set(keys) if k in self.rows}

    def commit(self, commit: Commit) -> bool:
        if commit.empty:
            return True
        with self._lock:
            expected = [(p.key, p.expected) for p in commit.puts] + [(c.key, c.expected) for c in commit.checks]
            for row_key, version in expected:
                cur = self.rows.get(row_key)
                if (cur.version if cur else None) != version:
                    return False
            for p in commit.puts:
                self.rows[p.key] = Row(p.version, _stored(p.data))
            for key, deltas in commit.adds.items():
                row = self.counter_rows.setdefault(key, defaultdict(int))
                for name, d in deltas.items():
                    row[name] += d
            return True

    def counters(self, contest_id: str, round_no: int, shards: dict[str, list[int]]) -> dict[str, Metrics]:
        out: dict[str, Metrics] = {}
        with self._lock:
            for pid, numbers in shards.items():
                for shard in numbers:
                    row = self.counter_rows.get(CounterKey(contest_id, round_no, pid, shard))
                    if row is not None:
                        out.setdefault(pid, Metrics()).add(Metrics.from_dict(row))
        return out

    def all_counters(self) -> dict[tuple[str, int, str], Metrics]:
        out: dict[tuple[str, int, str], Metrics] = {}
        with self._lock:
            for key, row in self.counter_rows.items():
                out.setdefault((key.contest_id, key.round, key.partner_id), Metrics()).add(Metrics.from_dict(row))
        return out


class InMemoryContestRepository:
    """Contests, board heads and pages, and the shard registry in dictionaries."""

    def __init__(self) -> None:
        self.contests: dict[str, dict[str, Any]] = {}
        self.heads: dict[tuple[str, int, str], Board] = {}
        self.pages: dict[tuple[str, int, str], list[list[dict[str, Any]]]] = {}
        self.shards: dict[tuple[str, int], set[tuple[str, int]]] = defaultdict(set)
        self._lock = threading.Lock()

    def add_contest(self, contest_id: str, doc: dict[str, Any]) -> None:
        with self._lock:
            if contest_id in self.contests:
                raise Conflict(f"contest {contest_id} exists", code="contest_exists")
            self.contests[contest_id] = _stored(doc)

    def get_contest(self, contest_id: str) -> dict[str, Any] | None:
        with self._lock:
            doc = self.contests.get(contest_id)
            return _stored(doc) if doc is not None else None

    def list_contests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_stored(d) for _, d in sorted(self.contests.items())]

    def settled_rounds(self, contest_id: str) -> set[int]:
        with self._lock:
            return {n for (cid, n, kind) in self.heads if cid == contest_id and kind == "final"}

    def write_pages(self, contest_id: str, round_no: int, version: str, entries: list[dict[str, Any]]) -> int:
        pages = _stored(pages_of(entries))
        with self._lock:
            self.pages[(contest_id, round_no, version)] = pages
        return len(pages)

    def put_snapshot_head(self, contest_id: str, round_no: int, version: str, pages: int,
                          meta: dict[str, Any]) -> bool:
        key = (contest_id, round_no, "snapshot")
        with self._lock:
            cur = self.heads.get(key)
            if cur is not None and not str(cur.meta["as_of"]) < str(meta["as_of"]):
                return False
            self.heads[key] = Board("snapshot", _stored(meta), version, pages)
            return True

    def put_final_head(self, contest_id: str, round_no: int, version: str, pages: int,
                       meta: dict[str, Any]) -> bool:
        key = (contest_id, round_no, "final")
        with self._lock:
            if key in self.heads:
                return False
            self.heads[key] = Board("final", _stored(meta), version, pages)
            return True

    def get_board(self, contest_id: str, round_no: int, kind: str) -> Board | None:
        with self._lock:
            board = self.heads.get((contest_id, round_no, kind))
            return replace(board, meta=_stored(board.meta)) if board else None

    def board_entries(self, contest_id: str, round_no: int, board: Board,
                      limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            stored = self.pages.get((contest_id, round_no, board.version), [])
            entries = [e for page in stored[:pages_needed(board, limit)] for e in _stored(page)]
        return entries if limit is None else entries[:limit]

    def register_shard(self, contest_id: str, round_no: int, partner_id: str, shard: int) -> None:
        with self._lock:
            self.shards[(contest_id, round_no)].add((partner_id, shard))

    def registered_shards(self, contest_id: str, round_no: int) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        with self._lock:
            for pid, shard in sorted(self.shards.get((contest_id, round_no), ())):
                out[pid].append(shard)
        return dict(out)


def _stored(value: Any) -> Any:
    """A copy as storage would keep it (JSON), so the fake refuses what DynamoDB would."""
    return json.loads(json.dumps(value))

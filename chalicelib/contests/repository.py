"""Storage of the contest area.

- `StateStore` (port) with `DynamoStateStore` and `InMemoryStateStore`: the stream-derived
  working state (versioned JSON rows, committed atomically with counter deltas) and the
  write-sharded counters.
- `ContestRepository`: contest definitions, boards (snapshots and settled results, stored as a
  head item plus pages so a board of any size fits), the partner registry per round and the
  append-only admin audit trail.
- `RecordedFacts`: reads the recorded payments, refunds and memberships (settlement, audit,
  first-payment seeding).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.contests.domain import MembershipFact, Metrics, PaymentFact
from chalicelib.contests.models import ContestCounterModel, ContestModel, ContestStateModel, PaymentRow
from chalicelib.storage import cancellation_codes, error_code, with_retries

COUNTER_FIELDS = ("merchants_onboarded", "active_merchants", "gmv_fen", "new_members", "counted_payments")


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
    puts: list[Put] = field(default_factory=list)
    adds: dict[CounterKey, dict[str, int]] = field(default_factory=dict)

    def add(self, key: CounterKey, name: str, delta: int) -> None:
        if delta:
            self.adds.setdefault(key, defaultdict(int))[name] += delta

    @property
    def empty(self) -> bool:
        return not self.puts and not any(any(v for v in d.values()) for d in self.adds.values())


class StateStore(Protocol):
    def read(self, keys: Iterable[str]) -> dict[str, Row]:
        """Strongly consistent reads of state rows (absent keys are left out)."""
    def commit(self, commit: Commit) -> bool:
        """All puts and counter adds atomically; False (nothing written) if a version moved."""
    def counters(self, contest_id: str, round_no: int, shards: dict[str, list[int]]) -> dict[str, Metrics]:
        """Sum of each partner's counter shards (`shards`: partner id -> shard numbers)."""
    def all_counters(self) -> dict[tuple[str, int, str], Metrics]: ...


def _metrics_of(m: ContestCounterModel) -> Metrics:
    return Metrics(int(m.merchants_onboarded or 0), int(m.active_merchants or 0), int(m.gmv_fen or 0),
                   int(m.new_members or 0), int(m.counted_payments or 0))


def _accumulate(into: Metrics, other: Metrics) -> None:
    into.merchants_onboarded += other.merchants_onboarded
    into.active_merchants += other.active_merchants
    into.gmv_fen += other.gmv_fen
    into.new_members += other.new_members
    into.counted_payments += other.counted_payments


class DynamoStateStore:
    def __init__(self, connection: Connection, workers: int = 8) -> None:
        self._conn = connection
        self._workers = workers

    def read(self, keys: Iterable[str]) -> dict[str, Row]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}

        def get() -> dict[str, Row]:
            out = {}
            for m in ContestStateModel.batch_get(wanted, consistent_read=True):
                out[m.pk] = Row(int(m.version or 0), json.loads(m.data or "{}"))
            return out

        return with_retries(get)

    def commit(self, commit: Commit) -> bool:
        def write() -> None:
            with TransactWrite(connection=self._conn) as tx:
                for p in commit.puts:
                    item = ContestStateModel(p.key, version=(p.expected or 0) + 1, data=json.dumps(p.data))
                    cond = (ContestStateModel.pk.does_not_exist() if p.expected is None
                            else ContestStateModel.version == p.expected)
                    tx.save(item, condition=cond)
                for key, deltas in commit.adds.items():
                    actions: list[Action] = [
                        ContestCounterModel.contest_id.set(key.contest_id),
                        ContestCounterModel.round.set(key.round),
                        ContestCounterModel.partner_id.set(key.partner_id),
                        ContestCounterModel.shard.set(key.shard),
                    ]
                    actions += [getattr(ContestCounterModel, name).add(d) for name, d in deltas.items() if d]
                    tx.update(ContestCounterModel(key.pk), actions=actions)

        if commit.empty:
            return True
        try:
            with_retries(write)
            return True
        except TransactWriteError as e:
            if "ConditionalCheckFailed" in cancellation_codes(e):
                return False
            raise

    def counters(self, contest_id: str, round_no: int, shards: dict[str, list[int]]) -> dict[str, Metrics]:
        keys = [CounterKey(contest_id, round_no, pid, s).pk for pid, ss in shards.items() for s in ss]

        def get(chunk: list[str]) -> list[ContestCounterModel]:
            return with_retries(lambda: list(ContestCounterModel.batch_get(chunk)))

        out: dict[str, Metrics] = {}
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            for models in pool.map(get, list(chunks(keys, 100))):
                for m in models:
                    _accumulate(out.setdefault(str(m.partner_id), Metrics()), _metrics_of(m))
        return out

    def all_counters(self) -> dict[tuple[str, int, str], Metrics]:
        out: dict[tuple[str, int, str], Metrics] = {}
        for m in ContestCounterModel.scan():
            _accumulate(out.setdefault((str(m.contest_id), int(m.round or 0), str(m.partner_id)), Metrics()),
                        _metrics_of(m))
        return out


class InMemoryStateStore:
    """The fake: same semantics (versions, atomic commit), one lock."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.counter_rows: dict[CounterKey, dict[str, int]] = {}
        self._lock = threading.Lock()

    def read(self, keys: Iterable[str]) -> dict[str, Row]:
        with self._lock:
            return {k: self.rows[k] for k in keys if k in self.rows}

    def commit(self, commit: Commit) -> bool:
        with self._lock:
            for p in commit.puts:
                cur = self.rows.get(p.key)
                if (cur.version if cur else None) != p.expected:
                    return False
            for p in commit.puts:
                self.rows[p.key] = Row((p.expected or 0) + 1, json.loads(json.dumps(p.data)))
            for key, deltas in commit.adds.items():
                row = self.counter_rows.setdefault(key, defaultdict(int))
                for name, d in deltas.items():
                    row[name] += d
            return True

    def counters(self, contest_id: str, round_no: int, shards: dict[str, list[int]]) -> dict[str, Metrics]:
        wanted = set(shards)
        return {pid: m for (cid, r, pid), m in self.all_counters().items()
                if cid == contest_id and r == round_no and pid in wanted}

    def all_counters(self) -> dict[tuple[str, int, str], Metrics]:
        out: dict[tuple[str, int, str], Metrics] = {}
        with self._lock:
            for key, row in self.counter_rows.items():
                _accumulate(out.setdefault((key.contest_id, key.round, key.partner_id), Metrics()),
                            Metrics.from_dict(row))
        return out


# ---------------------------------------------------------------- contests, boards, audit trail

CATALOG = "CONTESTS"
PAGE_SIZE = 200


def _head_pk(contest_id: str) -> str:
    return f"C#{contest_id}"


def _head_sk(round_no: int, kind: str) -> str:
    return f"R#{round_no:03d}#{kind}"


def _pages_pk(contest_id: str, round_no: int, version: str) -> str:
    return f"P#{contest_id}#{round_no}#{version}"


@dataclass(frozen=True)
class Board:
    """A stored ranking: `kind` is "snapshot" or "final"; `meta` holds as_of/settled_at/winners."""

    kind: str
    meta: dict[str, Any]
    version: str
    pages: int


class ContestRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    # -- definitions
    def add_contest(self, contest_id: str, doc: dict[str, Any]) -> None:
        item = ContestModel(CATALOG, contest_id, data=json.dumps(doc))
        with_retries(lambda: item.save(condition=ContestModel.pk.does_not_exist()))

    def get_contest(self, contest_id: str) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            for m in ContestModel.query(CATALOG, ContestModel.sk == contest_id, consistent_read=True):
                return dict(json.loads(m.data or "{}"))
            return None

        return with_retries(get)

    def list_contests(self) -> list[dict[str, Any]]:
        return with_retries(lambda: [json.loads(m.data or "{}") for m in ContestModel.query(CATALOG)])

    # -- boards (snapshot: replaced by newer rankings; final: written once)
    def write_pages(self, contest_id: str, round_no: int, version: str, entries: list[dict[str, Any]]) -> int:
        pk = _pages_pk(contest_id, round_no, version)
        chunks = [entries[i:i + PAGE_SIZE] for i in range(0, len(entries), PAGE_SIZE)]

        def write() -> None:
            with ContestModel.batch_write() as batch:
                for i, chunk in enumerate(chunks):
                    batch.save(ContestModel(pk, f"{i:05d}", data=json.dumps(chunk)))

        if chunks:
            with_retries(write)
        return len(chunks)

    def put_snapshot_head(self, contest_id: str, round_no: int, version: str, pages: int,
                          meta: dict[str, Any]) -> bool:
        """Point the round's snapshot at new pages unless a newer ranking already did."""
        as_of = str(meta["as_of"])
        item = ContestModel(_head_pk(contest_id), _head_sk(round_no, "snapshot"), data=json.dumps(meta),
                            as_of=as_of, version=version, pages=pages)
        try:
            with_retries(lambda: item.save(condition=ContestModel.as_of.does_not_exist()
                                           | (ContestModel.as_of < as_of)))
            return True
        except PutError as e:
            if error_code(e) == "ConditionalCheckFailedException":
                return False
            raise

    def put_final_head(self, contest_id: str, round_no: int, version: str, pages: int,
                       meta: dict[str, Any]) -> bool:
        """Freeze the settled result; False if another settlement got there first."""
        item = ContestModel(_head_pk(contest_id), _head_sk(round_no, "final"), data=json.dumps(meta),
                            version=version, pages=pages)
        try:
            with_retries(lambda: item.save(condition=ContestModel.pk.does_not_exist()))
            return True
        except PutError as e:
            if error_code(e) == "ConditionalCheckFailedException":
                return False
            raise

    def get_board(self, contest_id: str, round_no: int, kind: str) -> Board | None:
        def get() -> Board | None:
            for m in ContestModel.query(_head_pk(contest_id), ContestModel.sk == _head_sk(round_no, kind),
                                        consistent_read=True):
                return Board(kind, json.loads(m.data or "{}"), str(m.version), int(m.pages or 0))
            return None

        return with_retries(get)

    def board_entries(self, contest_id: str, round_no: int, board: Board,
                      limit: int | None = None) -> list[dict[str, Any]]:
        pages = board.pages if limit is None else min(board.pages, -(-limit // PAGE_SIZE))
        if pages == 0:
            return []

        def get() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for m in ContestModel.query(_pages_pk(contest_id, round_no, board.version), limit=pages):
                out.extend(json.loads(m.data or "[]"))
            return out

        entries = with_retries(get)
        return entries if limit is None else entries[:limit]

    # -- which counter shards exist in a round (written once per process and shard by the stream
    #    path, before the shard's first write): the ranking reads exactly those
    def register_shard(self, contest_id: str, round_no: int, partner_id: str, shard: int) -> None:
        item = ContestModel(f"REG#{contest_id}#{round_no}", f"{partner_id}#{shard:03d}")
        with_retries(item.save)

    def registered_shards(self, contest_id: str, round_no: int) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for m in with_retries(lambda: list(ContestModel.query(f"REG#{contest_id}#{round_no}"))):
            pid, _, shard = m.sk.rpartition("#")
            out[pid].append(int(shard))
        return dict(out)

    # -- append-only audit trail of admin actions
    def append_audit(self, at: datetime, entry_id: str, doc: dict[str, Any]) -> None:
        item = ContestModel(f"AUDIT#{at:%Y-%m}", f"{at.isoformat()}#{entry_id}", data=json.dumps(doc))
        with_retries(lambda: item.save(condition=ContestModel.pk.does_not_exist()))

    def audit_trail(self, month: str) -> list[dict[str, Any]]:
        return [json.loads(m.data or "{}") for m in ContestModel.query(f"AUDIT#{month}")]


# ---------------------------------------------------------------- recorded facts


class RecordedFacts:
    """The recorded payments (with refunds), memberships and partner names."""

    def __init__(self, workers: int = 8) -> None:
        self._workers = workers

    def merchant_payments(self, merchant_id: str, since: datetime, until: datetime) -> list[PaymentFact]:
        """Payments of a merchant with `since` ≤ paid_at < `until`, each with its recorded refunds."""
        rows = with_retries(lambda: list(PaymentRow.merchant_paid_index.query(
            merchant_id, PaymentRow.paid_at.between(since, until))))
        return _facts(r for r in rows if r.paid_at is not None and r.paid_at < until)

    def earliest_qualifying(self, merchant_id: str, min_fen: int,
                            before: datetime | None = None) -> PaymentFact | None:
        """The merchant's earliest payment of at least `min_fen` (ties by out_trade_no)."""
        cond = PaymentRow.paid_at < before if before is not None else None
        best: PaymentFact | None = None
        for r in PaymentRow.merchant_paid_index.query(
                merchant_id, cond, filter_condition=(PaymentRow.sk == "PAY") & (PaymentRow.amount_fen >= min_fen)):
            fact = _fact(r, 0)
            if best is not None and fact.paid_at > best.paid_at:
                break
            if best is None or fact.order < best.order:
                best = fact
        return best

    def payments_for(self, merchant_ids: Iterable[str], since: datetime, until: datetime,
                     min_fen: int) -> list[PaymentFact]:
        """Everything the reference computation needs about these merchants for [since, until):
        their payments in the window plus each one's earliest qualifying payment before it."""

        def one(mid: str) -> list[PaymentFact]:
            facts = self.merchant_payments(mid, since, until)
            earlier = self.earliest_qualifying(mid, min_fen, before=since)
            return facts + ([earlier] if earlier else [])

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return [f for chunk in pool.map(one, sorted(set(merchant_ids))) for f in chunk]

    def all_payments(self) -> list[PaymentFact]:
        """Every recorded payment with its refunds (the audit's full recomputation)."""
        return _facts(with_retries(lambda: list(PaymentRow.scan())))

    def payments_between(self, since: datetime, until: datetime) -> list[PaymentFact]:
        """Every payment with `since` ≤ paid_at < `until` (a scan: contest backfill only)."""
        rows = with_retries(lambda: list(PaymentRow.scan(PaymentRow.paid_at.between(since, until))))
        return [f for f in _facts(rows) if f.paid_at < until]

    def memberships_between(self, since: datetime, until: datetime) -> list[MembershipFact]:
        return [m for m in self.all_memberships() if since <= m.created_at < until]

    def memberships(self, partner_ids: Iterable[str], since: datetime, until: datetime) -> list[MembershipFact]:
        from chalicelib.memberships.models import MembershipModel

        def one(pid: str) -> list[MembershipFact]:
            return [MembershipFact(m.membership_id, m.merchant_id, m.partner_id, m.created_at)
                    for m in MembershipModel.partner_index.query(pid, MembershipModel.created_at.between(since, until))
                    if m.created_at < until]

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return [f for chunk in pool.map(one, sorted(set(partner_ids))) for f in chunk]

    def all_memberships(self) -> list[MembershipFact]:
        from chalicelib.memberships.models import MembershipModel

        return [MembershipFact(m.membership_id, m.merchant_id, m.partner_id, m.created_at)
                for m in MembershipModel.scan()]

    def partner_names(self, partner_ids: Iterable[str]) -> dict[str, str]:
        from chalicelib.onboarding.models import PartnerModel

        ids = sorted(set(partner_ids))
        return {m.partner_id: m.name for m in with_retries(lambda: list(PartnerModel.batch_get(ids)))}

    def all_partner_ids(self) -> list[str]:
        from chalicelib.onboarding.models import PartnerModel

        return [m.partner_id for m in PartnerModel.scan(attributes_to_get=["partner_id"])]

    def merchants_of(self, partner_ids: Iterable[str]) -> list[str]:
        from chalicelib.onboarding.models import MerchantModel

        def one(pid: str) -> list[str]:
            return [m.merchant_id for m in MerchantModel.partner_index.query(pid)]

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return [mid for chunk in pool.map(one, sorted(set(partner_ids))) for mid in chunk]


def _fact(r: PaymentRow, refunded: int) -> PaymentFact:
    return PaymentFact(str(r.merchant_id), str(r.partner_id), str(r.out_trade_no), str(r.buyer_id),
                       int(r.amount_fen or 0), r.paid_at, refunded)


def _facts(rows: Iterable[PaymentRow]) -> list[PaymentFact]:
    """Payments with their refunds: the sum of the recorded refund items, or the payment's own
    `refunded_fen` total when that is larger (both are written by the payments area)."""
    payments: dict[str, PaymentRow] = {}
    refunds: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.sk == "PAY":
            payments[r.pk] = r
        elif (r.sk or "").startswith("REF#"):
            refunds[r.pk] += int(r.amount_fen or 0)
    return [_fact(r, max(refunds.get(pk, 0), int(r.refunded_fen or 0))) for pk, r in payments.items()]


def chunks(seq: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]

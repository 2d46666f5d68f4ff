"""Storage of payments, refunds, merchant aggregates and the callback log.

`PaymentsRepository` is the port; `DynamoPaymentsRepository` the PynamoDB adapter and
`InMemoryPaymentsRepository` the fake the unit tests use. Both pass the same contract tests.

Every payment or refund is ONE DynamoDB transaction: the payment/refund item (conditional on
its key being new), the ADD updates of the merchant's day and month counters, the distinct-
customer markers, the membership's savings, the callback log entry and, for terminal
callbacks, the nonce guard and a check that the terminal is not revoked. It commits whole or
not at all; a cancelled transaction is reported as the set of items whose condition failed
(`WriteResult.failed`), with the payment as recorded when its key was taken (`existing`).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.auth import NONCE_TTL_SECONDS
from chalicelib.errors import Unauthorized
from chalicelib.memberships.domain import ACTIVE, SAVINGS_OPEN_STATUSES, Membership
from chalicelib.memberships.models import MembershipModel, member_key
from chalicelib.onboarding.models import TerminalModel
from chalicelib.onboarding.repository import nonce_key
from chalicelib.payments.domain import MembershipTerms, PaymentFacts, RecordedPayment
from chalicelib.payments.models import (
    AGGREGATE_SK,
    CUSTOMER_SK_PREFIX,
    PAYMENT_SK,
    AggregateModel,
    CallbackLogModel,
    PaymentModel,
    RefundModel,
    buyer_key,
    day_key,
    month_key,
    payment_pk,
)
from chalicelib.storage import GuardModel, with_retries

CONDITION_FAILED = "ConditionalCheckFailed"
TX_ATTEMPTS = 8  # hot aggregate items may see TransactionConflict under load: retry, jittered


@dataclass(frozen=True)
class TerminalGuard:
    """The terminal request's nonce, claimed inside the recording transaction (wall clock)."""

    terminal_id: str
    nonce: str
    at: datetime


@dataclass
class CallbackEntry:
    """One callback as received, with its outcome (see CallbackLogModel)."""

    source: str
    path: str
    body: str
    body_bytes: int
    headers: dict[str, str]
    status: int = 0
    code: str | None = None
    outcome: str = ""
    merchant_id: str | None = None
    terminal_id: str | None = None
    out_trade_no: str | None = None
    written: bool = False
    received: str | None = None  # the log item's sort key, fixed once so retries write the same item


@dataclass(frozen=True)
class NewPayment:
    facts: PaymentFacts
    payment_id: str
    business_day: str
    member_savings_fen: int
    membership_id: str | None
    flags: tuple[str, ...]
    recorded_at: datetime


@dataclass(frozen=True)
class NewRefund:
    payment: RecordedPayment
    refund_sk: str
    refund_id: str
    out_request_no: str
    source: str
    amount_fen: int
    recorded_at: datetime
    business_day: str
    savings_reversed_fen: int  # applied to the membership in the same transaction
    requested_fen: int | None = None  # a terminal refund's own amount (None: same as amount_fen)
    terminal_fen: int = 0  # added to the payment's terminal_refunded_fen


@dataclass(frozen=True)
class WriteResult:
    """A write's outcome: committed, or the labels of the items whose condition failed
    (`nonce`, `terminal`, `payment`, `refund`, `membership`) and nothing written."""

    ok: bool
    failed: frozenset[str] = frozenset()
    existing: RecordedPayment | None = None  # the recorded payment when `payment` was already taken


@dataclass
class Aggregate:
    gmv_fen: int = 0
    payments: int = 0
    refunds_fen: int = 0
    customers: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"gmv_fen": self.gmv_fen, "payments": self.payments, "refunds_fen": self.refunds_fen,
                "customers": self.customers}


class PaymentsRepository(Protocol):
    """What the payments use cases need from storage. Each write is all or nothing."""

    def record_payment(self, new: NewPayment, guard: TerminalGuard | None, log: CallbackEntry | None,
                       token: str | None) -> WriteResult:
        """Put the payment (its key must be new) with its day/month aggregates and customer markers,
        the membership's savings (its status must be open), the log entry and the nonce."""
        ...

    def record_refund(self, new: NewRefund, guard: TerminalGuard | None, log: CallbackEntry | None,
                      token: str | None) -> WriteResult:
        """Put the refund (its key must be new) if the payment's refunded total is still the one
        read, moving the aggregates of the refund's business day and the membership's savings."""
        ...

    def claim_guard(self, guard: TerminalGuard, log: CallbackEntry | None = None, at: datetime | None = None) -> None:
        """Claim the nonce (with the callback's log entry, if given, written at `at`);
        401 `terminal_revoked` / `replayed_nonce` if it cannot be."""
        ...

    def load_payment(self, merchant_id: str, out_trade_no: str) -> tuple[RecordedPayment | None, dict[str, int]]:
        """The payment and its refunds as {refund sk: requested amount}, read consistently."""
        ...

    def membership_at(self, merchant_id: str, buyer_id: str, at: datetime) -> MembershipTerms | None:
        """The buyer's membership at this merchant that started last at or before `at`."""
        ...

    def day_figures(self, merchant_id: str, day: str) -> Aggregate: ...

    def month_figures(self, merchant_id: str, month: str) -> Aggregate: ...

    def members_summary(self, merchant_id: str, now: datetime) -> dict[str, int]:
        """Memberships active at `now`: how many, their fees and their savings."""
        ...

    def log_callback(self, entry: CallbackEntry, at: datetime) -> None:
        """Log a callback that no recording transaction logged."""
        ...

    def callbacks(self, log_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest callbacks of a merchant (or `unknown#<source>`), newest first."""
        ...


def _log_received(entry: CallbackEntry, at: datetime) -> str:
    """The log item's sort key, fixed on first use so a retried write writes the same item."""
    if entry.received is None:
        entry.received = f"{at.astimezone(UTC).isoformat(timespec='microseconds')}#{secrets.token_hex(4)}"
    return entry.received


class _Tx:
    """A TransactWrite that remembers which label each item has, in DynamoDB's item order
    (PynamoDB sends condition checks, then puts, then updates)."""

    def __init__(self, tx: TransactWrite) -> None:
        self.tx = tx
        self._checks: list[str] = []
        self._puts: list[str] = []
        self._updates: list[str] = []

    def check(self, label: str, model_cls: Any, hash_key: str, condition: Any) -> None:
        self.tx.condition_check(model_cls, hash_key, condition=condition)
        self._checks.append(label)

    def put(self, label: str, item: Any, condition: Any = None, return_old: bool = False) -> None:
        self.tx.save(item, condition=condition, return_values="ALL_OLD" if return_old else None)
        self._puts.append(label)

    def update(self, label: str, item: Any, actions: list[Any], condition: Any = None) -> None:
        self.tx.update(item, actions=actions, condition=condition)
        self._updates.append(label)

    @property
    def labels(self) -> list[str]:
        return self._checks + self._puts + self._updates


def _failures(labels: list[str], exc: TransactWriteError) -> WriteResult | None:
    """The failed conditions of a cancelled transaction, or None if it failed otherwise."""
    reasons = exc.cancellation_reasons or []
    failed: set[str] = set()
    existing: RecordedPayment | None = None
    for label, reason in zip(labels, reasons, strict=False):
        if reason is not None and reason.code == CONDITION_FAILED:
            failed.add(label)
            if label == "payment" and reason.raw_item:  # the put's ALL_OLD: a duplicate or a conflict
                existing = _recorded(PaymentModel.from_raw_data(reason.raw_item))
    return WriteResult(False, frozenset(failed), existing) if failed else None


def _savings_open(now: datetime) -> Any:
    """A membership's savings still move: not refunded or settled, neither as stored nor as the
    business clock says (the refund window closes at `refund_deadline`, before the job runs)."""
    return (MembershipModel.membership_id.exists() & MembershipModel.status.is_in(*SAVINGS_OPEN_STATUSES)
            & (MembershipModel.refund_deadline > now))


def _recorded(m: PaymentModel) -> RecordedPayment:
    return RecordedPayment(
        payment_id=m.payment_id, merchant_id=m.merchant_id, partner_id=m.partner_id,
        out_trade_no=m.out_trade_no, source=m.source, content_hash=m.content_hash,
        amount_fen=int(m.amount_fen), buyer_id=m.buyer_id, paid_at=m.paid_at,
        refunded_fen=int(m.refunded_fen or 0), member_savings_fen=int(m.member_savings_fen or 0),
        savings_reversed_fen=int(m.savings_reversed_fen or 0), membership_id=m.membership_id,
        terminal_refunded_fen=int(m.terminal_refunded_fen or 0),
    )


class DynamoPaymentsRepository:
    """Payments, refunds, aggregates and the callback log on DynamoDB."""

    def __init__(self, connection: Connection, log_ttl_days: int = 30) -> None:
        self._conn = connection
        self._log_ttl = timedelta(days=log_ttl_days)

    # ------------------------------------------------------------------ transactions

    def _run(self, build: Callable[[_Tx], None], token: str | None) -> WriteResult:
        def attempt() -> WriteResult:
            holder: list[_Tx] = []
            try:
                with TransactWrite(connection=self._conn, client_request_token=token) as raw_tx:
                    tx = _Tx(raw_tx)
                    holder.append(tx)
                    build(tx)
            except TransactWriteError as exc:
                result = _failures(holder[0].labels, exc) if holder else None
                if result is None:
                    raise
                return result
            return WriteResult(True)

        return with_retries(attempt, attempts=TX_ATTEMPTS)

    @staticmethod
    def _guard_items(tx: _Tx, guard: TerminalGuard) -> None:
        expires = guard.at + timedelta(seconds=NONCE_TTL_SECONDS)
        tx.put("nonce", GuardModel(nonce_key(guard.terminal_id, guard.nonce), owner=guard.terminal_id,
                                   expires_at=expires),
               condition=GuardModel.key.does_not_exist() | (GuardModel.expires_at < guard.at))
        tx.check("terminal", TerminalModel, guard.terminal_id,
                 TerminalModel.terminal_id.exists() & TerminalModel.revoked_at.does_not_exist())

    def _log_item(self, entry: CallbackEntry, at: datetime) -> CallbackLogModel:
        return CallbackLogModel(
            entry.merchant_id or f"unknown#{entry.source}",
            _log_received(entry, at),
            source=entry.source, path=entry.path, status=entry.status, code=entry.code,
            outcome=entry.outcome, merchant_id=entry.merchant_id, terminal_id=entry.terminal_id,
            out_trade_no=entry.out_trade_no, headers=json.dumps(entry.headers, sort_keys=True),
            body=entry.body, body_bytes=entry.body_bytes, expires_at=at + self._log_ttl,
        )

    @staticmethod
    def _aggregate_updates(tx: _Tx, merchant_id: str, day: str, gmv: int, payments: int,
                           refunds_fen: int, refunds: int) -> None:
        for label, pk, period in (("agg_day", day_key(merchant_id, day), day),
                                  ("agg_month", month_key(merchant_id, day[:7]), day[:7])):
            actions = [AggregateModel.merchant_id.set(merchant_id), AggregateModel.period.set(period),
                       AggregateModel.gmv_fen.add(gmv)]
            if payments:
                actions.append(AggregateModel.payments.add(payments))
            if refunds:
                actions += [AggregateModel.refunds_fen.add(refunds_fen), AggregateModel.refunds.add(refunds)]
            tx.update(label, AggregateModel(pk, AGGREGATE_SK), actions)

    def record_payment(self, new: NewPayment, guard: TerminalGuard | None, log: CallbackEntry | None,
                       token: str | None) -> WriteResult:
        """Record a payment with its aggregates, savings, log entry and nonce, or report which
        conditions failed (`payment` taken → the recorded one in `existing`)."""
        f = new.facts
        day = new.business_day

        def build(tx: _Tx) -> None:
            if guard is not None:
                self._guard_items(tx, guard)
            tx.put("payment", PaymentModel(
                payment_pk(f.merchant_id, f.out_trade_no), PAYMENT_SK,
                payment_id=new.payment_id, merchant_id=f.merchant_id, partner_id=f.partner_id,
                store_id=f.store_id, terminal_id=f.terminal_id, source=f.source,
                out_trade_no=f.out_trade_no, trade_no=f.trade_no, amount_fen=f.amount_fen,
                discount_fen=f.discount_fen, buyer_id=f.buyer_id, buyer_key=buyer_key(f.merchant_id, f.buyer_id),
                paid_at=f.paid_at, business_day=day, content_hash=f.content_hash, refunded_fen=0,
                membership_id=new.membership_id, member_savings_fen=new.member_savings_fen,
                savings_reversed_fen=0, flags=list(new.flags) or None, recorded_at=new.recorded_at,
            ), condition=PaymentModel.pk.does_not_exist(), return_old=True)
            for label, pk in (("customer_day", day_key(f.merchant_id, day)),
                              ("customer_month", month_key(f.merchant_id, day[:7]))):
                tx.put(label, AggregateModel(pk, CUSTOMER_SK_PREFIX + f.buyer_id))
            if log is not None:
                tx.put("log", self._log_item(log, new.recorded_at))
            self._aggregate_updates(tx, f.merchant_id, day, f.amount_fen, 1, 0, 0)
            if new.membership_id and new.member_savings_fen:
                tx.update("membership", MembershipModel(new.membership_id),
                          [MembershipModel.savings_fen.add(new.member_savings_fen)],
                          condition=_savings_open(new.recorded_at))

        result = self._run(build, token)
        if result.ok and log is not None:
            log.written = True
        return result

    def record_refund(self, new: NewRefund, guard: TerminalGuard | None, log: CallbackEntry | None,
                      token: str | None) -> WriteResult:
        """Record a refund if the payment's refunded total is still what was read (optimistic),
        moving the aggregates of the refund's business day and the membership's savings."""
        p = new.payment
        pk = payment_pk(p.merchant_id, p.out_trade_no)

        def build(tx: _Tx) -> None:
            if guard is not None:
                self._guard_items(tx, guard)
            tx.put("refund", RefundModel(
                pk, new.refund_sk, refund_id=new.refund_id, merchant_id=p.merchant_id, partner_id=p.partner_id,
                out_trade_no=p.out_trade_no, out_request_no=new.out_request_no, source=new.source,
                amount_fen=new.amount_fen, buyer_id=p.buyer_id, paid_at=p.paid_at, recorded_at=new.recorded_at,
                business_day=new.business_day, membership_id=p.membership_id,
                savings_reversed_fen=new.savings_reversed_fen, requested_fen=new.requested_fen,
            ), condition=RefundModel.pk.does_not_exist(), return_old=True)
            if log is not None:
                tx.put("log", self._log_item(log, new.recorded_at))
            actions = [PaymentModel.refunded_fen.add(new.amount_fen)]
            if new.savings_reversed_fen:
                actions.append(PaymentModel.savings_reversed_fen.add(new.savings_reversed_fen))
            if new.terminal_fen:
                actions.append(PaymentModel.terminal_refunded_fen.add(new.terminal_fen))
            terminal_total = PaymentModel.terminal_refunded_fen == p.terminal_refunded_fen
            if p.terminal_refunded_fen == 0:
                terminal_total = terminal_total | PaymentModel.terminal_refunded_fen.does_not_exist()
            tx.update("payment", PaymentModel(pk, PAYMENT_SK), actions,
                      condition=(PaymentModel.refunded_fen == p.refunded_fen) & terminal_total)
            self._aggregate_updates(tx, p.merchant_id, new.business_day, -new.amount_fen, 0, new.amount_fen, 1)
            if p.membership_id and new.savings_reversed_fen:
                tx.update("membership", MembershipModel(p.membership_id),
                          [MembershipModel.savings_fen.add(-new.savings_reversed_fen)],
                          condition=_savings_open(new.recorded_at))

        result = self._run(build, token)
        if result.ok and log is not None:
            log.written = True
        return result

    def claim_guard(self, guard: TerminalGuard, log: CallbackEntry | None = None, at: datetime | None = None) -> None:
        """Claim the nonce for a path that records nothing else (with the callback's log entry
        when given): `replayed_nonce` or `terminal_revoked` (401) if it cannot be claimed."""

        def build(tx: _Tx) -> None:
            self._guard_items(tx, guard)
            if log is not None:
                tx.put("log", self._log_item(log, at or guard.at))

        result = self._run(build, None)
        raise_guard_failure(result)
        if log is not None:
            log.written = True

    # ------------------------------------------------------------------ reads

    def load_payment(self, merchant_id: str, out_trade_no: str) -> tuple[RecordedPayment | None, dict[str, int]]:
        """The payment (consistent read) and its refunds as {refund sk: requested amount}, in one query."""
        payment: RecordedPayment | None = None
        refunds: dict[str, int] = {}

        def query() -> None:
            nonlocal payment
            refunds.clear()
            for item in PaymentModel.query(payment_pk(merchant_id, out_trade_no), consistent_read=True):
                if item.sk == PAYMENT_SK:
                    payment = _recorded(item)
                else:
                    refunds[item.sk] = int(item.amount_fen if item.requested_fen is None else item.requested_fen)

        with_retries(query)
        return payment, refunds

    def membership_at(self, merchant_id: str, buyer_id: str, at: datetime) -> MembershipTerms | None:
        """The buyer's membership at this merchant that started last at or before `at`.

        The index is eventually consistent: a membership locked a moment ago may not be in it
        yet. When it shows none covering `at`, the active-membership guard (a consistent read)
        names the current one, so a member paying right after locking in still counts."""
        items = with_retries(lambda: list(MembershipModel.member_index.query(
            member_key(merchant_id, buyer_id), MembershipModel.starts_at <= at,
            scan_index_forward=False, limit=1)))
        m = items[0] if items else None
        if m is None or m.ends_at <= at:
            m = self._active_membership(merchant_id, buyer_id, at) or m
        if m is None:
            return None
        return MembershipTerms(m.membership_id, m.status, m.starts_at, m.ends_at, int(m.discount_percent),
                               None if m.max_discount_per_order_fen is None else int(m.max_discount_per_order_fen))

    def _active_membership(self, merchant_id: str, buyer_id: str, at: datetime) -> MembershipModel | None:
        """The membership the active guard names, read consistently, if it covers `at`."""
        from chalicelib.memberships.repository import active_guard_key

        try:
            guard = with_retries(lambda: GuardModel.get(active_guard_key(merchant_id, buyer_id),
                                                        consistent_read=True))
            if not guard.owner:
                return None
            m = with_retries(lambda: MembershipModel.get(guard.owner, consistent_read=True))
        except DoesNotExist:
            return None
        return m if m.starts_at <= at < m.ends_at else None

    def aggregate(self, pk: str) -> Aggregate:
        """A day's or month's figures (consistent reads) with its distinct customers."""
        try:
            item = with_retries(lambda: AggregateModel.get(pk, AGGREGATE_SK, consistent_read=True))
            agg = Aggregate(int(item.gmv_fen or 0), int(item.payments or 0), int(item.refunds_fen or 0))
        except DoesNotExist:
            agg = Aggregate()
        agg.customers = with_retries(lambda: AggregateModel.count(
            pk, AggregateModel.sk.startswith(CUSTOMER_SK_PREFIX), consistent_read=True))
        return agg

    def day_figures(self, merchant_id: str, day: str) -> Aggregate:
        return self.aggregate(day_key(merchant_id, day))

    def month_figures(self, merchant_id: str, month: str) -> Aggregate:
        return self.aggregate(month_key(merchant_id, month))

    def members_summary(self, merchant_id: str, now: datetime) -> dict[str, int]:
        """Memberships of a merchant active at `now`: how many, their locked fees and their savings.
        One past its `ends_at` is not active any more, whether or not the lifecycle job ran yet."""
        active = fees = savings = 0
        for m in MembershipModel.merchant_index.query(
                merchant_id, filter_condition=(MembershipModel.status == ACTIVE) & (MembershipModel.ends_at > now)):
            active += 1
            fees += int(m.fee_fen or 0)
            savings += int(m.savings_fen or 0)
        return {"active": active, "locked_fees_fen": fees, "savings_fen": savings}

    # ------------------------------------------------------------------ callback log

    def log_callback(self, entry: CallbackEntry, at: datetime) -> None:
        item = self._log_item(entry, at)
        with_retries(lambda: item.save())
        entry.written = True

    def callbacks(self, log_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest callbacks of a merchant (or `unknown#<source>`), newest first."""
        return [
            {"received": i.received, "source": i.source, "path": i.path, "status": int(i.status),
             "code": i.code, "outcome": i.outcome, "terminal_id": i.terminal_id, "out_trade_no": i.out_trade_no,
             "headers": json.loads(i.headers or "{}"), "body": i.body, "body_bytes": int(i.body_bytes or 0)}
            for i in CallbackLogModel.query(log_key, scan_index_forward=False, limit=limit)
        ]

    # ------------------------------------------------------------------ audit scans

    def scan_payments(self) -> Iterator[dict[str, Any]]:
        for m in PaymentModel.scan(PaymentModel.kind == "payment"):
            yield {"pk": m.pk, "merchant_id": m.merchant_id, "buyer_id": m.buyer_id, "amount_fen": int(m.amount_fen),
                   "business_day": m.business_day, "refunded_fen": int(m.refunded_fen or 0),
                   "membership_id": m.membership_id, "member_savings_fen": int(m.member_savings_fen or 0),
                   "savings_reversed_fen": int(m.savings_reversed_fen or 0)}

    def scan_refunds(self) -> Iterator[dict[str, Any]]:
        for r in RefundModel.scan(RefundModel.kind == "refund"):
            yield {"pk": r.pk, "merchant_id": r.merchant_id, "amount_fen": int(r.amount_fen),
                   "business_day": r.business_day, "membership_id": r.membership_id,
                   "savings_reversed_fen": int(r.savings_reversed_fen or 0)}

    def scan_aggregates(self) -> Iterator[dict[str, Any]]:
        for a in AggregateModel.scan():
            yield {"pk": a.pk, "sk": a.sk, "gmv_fen": int(a.gmv_fen or 0), "payments": int(a.payments or 0),
                   "refunds_fen": int(a.refunds_fen or 0)}

    def scan_memberships(self) -> Iterator[dict[str, Any]]:
        for m in MembershipModel.scan():
            yield {"membership_id": m.membership_id, "status": m.status, "savings_fen": int(m.savings_fen or 0)}


def raise_guard_failure(result: WriteResult) -> None:
    """Turn a failed terminal guard into the contract's 401 (revocation wins over the nonce)."""
    if "terminal" in result.failed:
        raise Unauthorized("terminal revoked", code="terminal_revoked")
    if "nonce" in result.failed:
        raise Unauthorized("nonce already used", code="replayed_nonce")


# ---------------------------------------------------------------- in-memory fake


@dataclass
class _Figures:
    gmv_fen: int = 0
    payments: int = 0
    refunds_fen: int = 0
    refunds: int = 0
    customers: set[str] = field(default_factory=set)


def _ttl_seconds(at: datetime) -> int:
    return int(at.timestamp())  # a TTL attribute keeps whole seconds; conditions compare those


class InMemoryPaymentsRepository:
    """The same semantics in memory, for the unit tests: a write checks every condition first,
    then applies everything or nothing, under one lock. Terminals and memberships belong to
    other areas; seed them with `add_terminal`, `revoke_terminal` and `add_membership`."""

    def __init__(self) -> None:
        self.payments: dict[str, RecordedPayment] = {}
        self.flags: dict[str, tuple[str, ...]] = {}  # payment pk → flags it was recorded with
        self.refunds: dict[str, dict[str, int]] = {}  # payment pk → {refund sk: amount_fen}
        self.figures: dict[str, _Figures] = {}  # day_key / month_key → figures
        self.guards: dict[str, int] = {}  # nonce key → expiry (unix seconds)
        self.terminals: dict[str, datetime | None] = {}  # terminal_id → revoked_at
        self.memberships: dict[str, Membership] = {}
        self.log: dict[tuple[str, str], dict[str, Any]] = {}  # (log key, received) → callback
        self._lock = threading.RLock()

    # seeding (what the onboarding and memberships areas write)
    def add_terminal(self, terminal_id: str) -> None:
        with self._lock:
            self.terminals.setdefault(terminal_id, None)

    def revoke_terminal(self, terminal_id: str, at: datetime) -> None:
        with self._lock:
            if terminal_id in self.terminals and self.terminals[terminal_id] is None:
                self.terminals[terminal_id] = at

    def add_membership(self, membership: Membership) -> None:
        with self._lock:
            self.memberships[membership.membership_id] = membership

    # conditions and effects
    def _guard_failures(self, guard: TerminalGuard | None) -> set[str]:
        failed: set[str] = set()
        if guard is None:
            return failed
        expires = self.guards.get(nonce_key(guard.terminal_id, guard.nonce))
        if expires is not None and not expires < _ttl_seconds(guard.at):
            failed.add("nonce")
        if guard.terminal_id not in self.terminals or self.terminals[guard.terminal_id] is not None:
            failed.add("terminal")
        return failed

    def _claim(self, guard: TerminalGuard | None) -> None:
        if guard is not None:
            expires = guard.at + timedelta(seconds=NONCE_TTL_SECONDS)
            self.guards[nonce_key(guard.terminal_id, guard.nonce)] = _ttl_seconds(expires)

    def _savings_open(self, membership_id: str, now: datetime) -> bool:
        m = self.memberships.get(membership_id)
        return m is not None and m.status in SAVINGS_OPEN_STATUSES and m.refund_deadline > now

    def _add_savings(self, membership_id: str, amount: int) -> None:
        m = self.memberships[membership_id]
        self.memberships[membership_id] = replace(m, savings_fen=m.savings_fen + amount)

    def _move(self, merchant_id: str, day: str, gmv: int, payments: int, refunds_fen: int, refunds: int,
              customer: str | None = None) -> None:
        for pk in (day_key(merchant_id, day), month_key(merchant_id, day[:7])):
            f = self.figures.setdefault(pk, _Figures())
            f.gmv_fen += gmv
            f.payments += payments
            f.refunds_fen += refunds_fen
            f.refunds += refunds
            if customer is not None:
                f.customers.add(customer)

    def _write_log(self, entry: CallbackEntry, at: datetime) -> None:
        received = _log_received(entry, at)
        self.log[(entry.merchant_id or f"unknown#{entry.source}", received)] = {
            "received": received, "source": entry.source, "path": entry.path, "status": entry.status,
            "code": entry.code, "outcome": entry.outcome, "terminal_id": entry.terminal_id,
            "out_trade_no": entry.out_trade_no, "headers": dict(entry.headers), "body": entry.body,
            "body_bytes": entry.body_bytes}

    # the port
    def record_payment(self, new: NewPayment, guard: TerminalGuard | None, log: CallbackEntry | None,
                       token: str | None) -> WriteResult:
        f = new.facts
        pk = payment_pk(f.merchant_id, f.out_trade_no)
        savings = bool(new.membership_id and new.member_savings_fen)
        if log is not None:
            _log_received(log, new.recorded_at)
        with self._lock:
            failed = self._guard_failures(guard)
            existing = self.payments.get(pk)
            if existing is not None:
                failed.add("payment")
            if savings and not self._savings_open(new.membership_id or "", new.recorded_at):
                failed.add("membership")
            if failed:
                return WriteResult(False, frozenset(failed), existing)
            self._claim(guard)
            self.payments[pk] = RecordedPayment(
                payment_id=new.payment_id, merchant_id=f.merchant_id, partner_id=f.partner_id,
                out_trade_no=f.out_trade_no, source=f.source, content_hash=f.content_hash,
                amount_fen=f.amount_fen, buyer_id=f.buyer_id, paid_at=f.paid_at,
                member_savings_fen=new.member_savings_fen, membership_id=new.membership_id)
            self.flags[pk] = new.flags
            self._move(f.merchant_id, new.business_day, f.amount_fen, 1, 0, 0, customer=f.buyer_id)
            if savings:
                self._add_savings(new.membership_id or "", new.member_savings_fen)
            if log is not None:
                self._write_log(log, new.recorded_at)
                log.written = True
        return WriteResult(True)

    def record_refund(self, new: NewRefund, guard: TerminalGuard | None, log: CallbackEntry | None,
                      token: str | None) -> WriteResult:
        p = new.payment
        pk = payment_pk(p.merchant_id, p.out_trade_no)
        reverses = bool(p.membership_id and new.savings_reversed_fen)
        if log is not None:
            _log_received(log, new.recorded_at)
        with self._lock:
            failed = self._guard_failures(guard)
            if new.refund_sk in self.refunds.get(pk, {}):
                failed.add("refund")
            current = self.payments.get(pk)
            if current is None or (current.refunded_fen, current.terminal_refunded_fen) != (
                    p.refunded_fen, p.terminal_refunded_fen):
                failed.add("payment")
            if reverses and not self._savings_open(p.membership_id or "", new.recorded_at):
                failed.add("membership")
            if failed or current is None:
                return WriteResult(False, frozenset(failed))
            self._claim(guard)
            self.refunds.setdefault(pk, {})[new.refund_sk] = (
                new.amount_fen if new.requested_fen is None else new.requested_fen)
            self.payments[pk] = replace(current, refunded_fen=current.refunded_fen + new.amount_fen,
                                        savings_reversed_fen=current.savings_reversed_fen + new.savings_reversed_fen,
                                        terminal_refunded_fen=current.terminal_refunded_fen + new.terminal_fen)
            self._move(p.merchant_id, new.business_day, -new.amount_fen, 0, new.amount_fen, 1)
            if reverses:
                self._add_savings(p.membership_id or "", -new.savings_reversed_fen)
            if log is not None:
                self._write_log(log, new.recorded_at)
                log.written = True
        return WriteResult(True)

    def claim_guard(self, guard: TerminalGuard, log: CallbackEntry | None = None, at: datetime | None = None) -> None:
        with self._lock:
            failed = self._guard_failures(guard)
            if not failed:
                self._claim(guard)
                if log is not None:
                    self._write_log(log, at or guard.at)
                    log.written = True
        raise_guard_failure(WriteResult(not failed, frozenset(failed)))

    def load_payment(self, merchant_id: str, out_trade_no: str) -> tuple[RecordedPayment | None, dict[str, int]]:
        pk = payment_pk(merchant_id, out_trade_no)
        with self._lock:
            return self.payments.get(pk), dict(self.refunds.get(pk, {}))

    def membership_at(self, merchant_id: str, buyer_id: str, at: datetime) -> MembershipTerms | None:
        with self._lock:
            started = [m for m in self.memberships.values()
                       if m.merchant_id == merchant_id and m.customer_id == buyer_id and m.starts_at <= at]
        if not started:
            return None
        m = max(started, key=lambda m: m.starts_at)
        return MembershipTerms(m.membership_id, m.status, m.starts_at, m.ends_at, m.discount_percent,
                               m.max_discount_per_order_fen)

    def _aggregate(self, pk: str) -> Aggregate:
        with self._lock:
            f = self.figures.get(pk, _Figures())
            return Aggregate(f.gmv_fen, f.payments, f.refunds_fen, len(f.customers))

    def day_figures(self, merchant_id: str, day: str) -> Aggregate:
        return self._aggregate(day_key(merchant_id, day))

    def month_figures(self, merchant_id: str, month: str) -> Aggregate:
        return self._aggregate(month_key(merchant_id, month))

    def members_summary(self, merchant_id: str, now: datetime) -> dict[str, int]:
        with self._lock:
            active = [m for m in self.memberships.values()
                      if m.merchant_id == merchant_id and m.status == ACTIVE and m.ends_at > now]
        return {"active": len(active), "locked_fees_fen": sum(m.fee_fen for m in active),
                "savings_fen": sum(m.savings_fen for m in active)}

    def log_callback(self, entry: CallbackEntry, at: datetime) -> None:
        with self._lock:
            self._write_log(entry, at)
        entry.written = True

    def callbacks(self, log_key: str, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            mine = sorted((k[1], v) for k, v in self.log.items() if k[0] == log_key)
        return [dict(v) for _, v in reversed(mine[-limit:])]

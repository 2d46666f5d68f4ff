"""In-memory fakes of the payments adapters: `InMemoryPaymentsRepository` (passes the contract
suite of tests/integration/test_payments_repository.py with `DynamoPaymentsRepository`) and
`FakePaymentHistory` over it. Other areas' parts of a write (the nonce claim, the member's
savings) come in through the same ports as on DynamoDB, as `FakeTx` conditions and effects."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chalicelib.onboarding.domain import TerminalGuard
from chalicelib.payments.domain import RecordedPayment
from chalicelib.payments.models import day_key, month_key, payment_pk
from chalicelib.payments.ports import (
    Aggregate,
    CallbackRecord,
    MemberSavings,
    NewPayment,
    NewRefund,
    PaymentRecord,
    TerminalGuards,
    WriteResult,
)
from tests.fakes.tx import LOCK, FakeTx


@dataclass
class _Figures:
    gmv_fen: int = 0
    payments: int = 0
    refunds_fen: int = 0
    refunds: int = 0
    customers: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Refund:
    amount_fen: int  # added to the refunded total
    requested_fen: int  # what was asked (idempotency compares it)
    savings_reversed_fen: int
    business_day: str


class InMemoryPaymentsRepository:
    def __init__(self, guards: TerminalGuards, savings: MemberSavings) -> None:
        self._guards = guards
        self._savings = savings
        self.payments: dict[str, RecordedPayment] = {}
        self.days: dict[str, str] = {}  # payment pk → business day
        self.flags: dict[str, tuple[str, ...]] = {}  # payment pk → flags it was recorded with
        self.refunds: dict[str, dict[str, _Refund]] = defaultdict(dict)  # payment pk → {refund sk: refund}
        self.figures: dict[str, _Figures] = {}  # day_key / month_key → figures
        self.log: dict[tuple[str, str], CallbackRecord] = {}  # (log key, received) → record

    def _common(self, tx: FakeTx, guard: TerminalGuard | None, log: CallbackRecord | None) -> None:
        if guard is not None:
            self._guards.contribute(tx, guard)
        if log is not None:
            tx.then(lambda: self.log.__setitem__((log.log_key, log.received), log))

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

    def record_payment(self, new: NewPayment, guard: TerminalGuard | None, log: CallbackRecord | None,
                       token: str | None) -> WriteResult:
        f = new.facts
        pk = payment_pk(f.merchant_id, f.out_trade_no)
        tx = FakeTx()
        self._common(tx, guard, log)
        tx.require("payment", lambda: pk not in self.payments)

        def record() -> None:
            self.payments[pk] = RecordedPayment(
                payment_id=new.payment_id, merchant_id=f.merchant_id, partner_id=f.partner_id,
                out_trade_no=f.out_trade_no, source=f.source, content_hash=f.content_hash,
                amount_fen=f.amount_fen, buyer_id=f.buyer_id, paid_at=f.paid_at,
                member_savings_fen=new.member_savings_fen, membership_id=new.membership_id)
            self.days[pk] = new.business_day
            self.flags[pk] = new.flags
            self._move(f.merchant_id, new.business_day, f.amount_fen, 1, 0, 0, customer=f.buyer_id)

        tx.then(record)
        if new.membership_id and new.member_savings_fen:
            self._savings.contribute(tx, new.membership_id, new.member_savings_fen, new.recorded_at)
        with LOCK:
            failed = tx.commit()
            return WriteResult(not failed, failed, self.payments.get(pk) if "payment" in failed else None)

    def record_refund(self, new: NewRefund, guard: TerminalGuard | None, log: CallbackRecord | None,
                      token: str | None) -> WriteResult:
        p = new.payment
        pk = payment_pk(p.merchant_id, p.out_trade_no)
        tx = FakeTx()
        self._common(tx, guard, log)
        tx.require("refund", lambda: new.refund_sk not in self.refunds[pk])

        def unchanged() -> bool:
            current = self.payments.get(pk)
            return current is not None and (current.refunded_fen, current.terminal_refunded_fen) == (
                p.refunded_fen, p.terminal_refunded_fen)

        tx.require("payment", unchanged)

        def record() -> None:
            current = self.payments[pk]
            requested = new.amount_fen if new.requested_fen is None else new.requested_fen
            self.refunds[pk][new.refund_sk] = _Refund(new.amount_fen, requested, new.savings_reversed_fen,
                                                      new.business_day)
            self.payments[pk] = replace(
                current, refunded_fen=current.refunded_fen + new.amount_fen,
                savings_reversed_fen=current.savings_reversed_fen + new.savings_reversed_fen,
                terminal_refunded_fen=current.terminal_refunded_fen + new.terminal_fen)
            self._move(p.merchant_id, new.business_day, -new.amount_fen, 0, new.amount_fen, 1)

        tx.then(record)
        if p.membership_id and new.savings_reversed_fen:
            self._savings.contribute(tx, p.membership_id, -new.savings_reversed_fen, new.recorded_at)
        failed = tx.commit()
        return WriteResult(not failed, failed)

    def claim_guard(self, guard: TerminalGuard, log: CallbackRecord | None) -> WriteResult:
        tx = FakeTx()
        self._common(tx, guard, log)
        failed = tx.commit()
        return WriteResult(not failed, failed)

    def log_callback(self, record: CallbackRecord) -> None:
        with LOCK:
            self.log[(record.log_key, record.received)] = record

    def load_payment(self, merchant_id: str, out_trade_no: str) -> tuple[RecordedPayment | None, dict[str, int]]:
        pk = payment_pk(merchant_id, out_trade_no)
        with LOCK:
            return self.payments.get(pk), {sk: r.requested_fen for sk, r in self.refunds.get(pk, {}).items()}

    def _aggregate(self, pk: str) -> Aggregate:
        with LOCK:
            f = self.figures.get(pk, _Figures())
            return Aggregate(f.gmv_fen, f.payments, f.refunds_fen, len(f.customers))

    def day_figures(self, merchant_id: str, day: str) -> Aggregate:
        return self._aggregate(day_key(merchant_id, day))

    def month_figures(self, merchant_id: str, month: str) -> Aggregate:
        return self._aggregate(month_key(merchant_id, month))

    def callbacks(self, log_key: str, limit: int = 50) -> list[dict[str, Any]]:
        with LOCK:
            mine = sorted((k[1], v) for k, v in self.log.items() if k[0] == log_key)
        return [{"received": r.received, "source": r.source, "path": r.path, "status": r.status, "code": r.code,
                 "outcome": r.outcome, "terminal_id": r.terminal_id, "out_trade_no": r.out_trade_no,
                 "headers": dict(r.headers), "body": r.body, "body_bytes": r.body_bytes}
                for _, r in reversed(mine[-limit:])]

    def logged(self) -> list[CallbackRecord]:
        """Every log record in the order written (tests)."""
        with LOCK:
            return list(self.log.values())


class FakePaymentHistory:
    """`PaymentHistory` over the fake repository's payments (what other areas' unit tests read);
    passes the same contract as `DynamoPaymentHistory` (tests/integration/test_payments_repository.py).
    Without a repository it keeps payments of its own, seeded with `add`."""

    def __init__(self, repo: InMemoryPaymentsRepository | None = None) -> None:
        self.payments: dict[str, RecordedPayment] = repo.payments if repo is not None else {}

    def add(self, record: PaymentRecord, membership_id: str | None = None, member_savings_fen: int = 0) -> None:
        """Seed a recorded payment (when there is no repository to record it through)."""
        with LOCK:
            self.payments[payment_pk(record.merchant_id, record.out_trade_no)] = RecordedPayment(
                payment_id=f"pay_{record.out_trade_no}", merchant_id=record.merchant_id,
                partner_id=record.partner_id, out_trade_no=record.out_trade_no, source="terminal",
                content_hash="", amount_fen=record.amount_fen, buyer_id=record.buyer_id, paid_at=record.paid_at,
                refunded_fen=record.refunded_fen, member_savings_fen=member_savings_fen, membership_id=membership_id,
                confirmed_at=record.platform_paid_at if record.confirmed else None,
                platform_paid_at=record.platform_paid_at, platform_amount_fen=record.platform_amount_fen)

    def _records(self) -> list[PaymentRecord]:
        with LOCK:
            return [PaymentRecord(p.merchant_id, p.partner_id, p.out_trade_no, p.buyer_id, p.amount_fen, p.paid_at,
                                  p.refunded_fen, p.confirmed, p.platform_paid_at, p.platform_amount_fen)
                    for p in self.payments.values()]

    def merchant_payments(self, merchant_id: str, since: datetime, until: datetime) -> list[PaymentRecord]:
        return [p for p in self._records() if p.merchant_id == merchant_id and since <= p.paid_at < until]

    def earliest_qualifying(self, merchant_id: str, min_fen: int,
                            before: datetime | None = None) -> PaymentRecord | None:
        found = [p for p in self._records() if p.merchant_id == merchant_id and p.amount_fen >= min_fen
                 and (before is None or p.paid_at < before)]
        return min(found, key=lambda p: (p.paid_at, p.out_trade_no), default=None)

    def buyer_payments(self, merchant_id: str, buyer_id: str, since: datetime,
                       until: datetime) -> list[PaymentRecord]:
        return [p for p in self._records()
                if p.merchant_id == merchant_id and p.buyer_id == buyer_id and since <= p.paid_at <= until]

    def payments_between(self, since: datetime, until: datetime) -> list[PaymentRecord]:
        return [p for p in self._records() if since <= p.paid_at < until]

    def all_payments(self) -> list[PaymentRecord]:
        return self._records()

    def savings_by_membership(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        with LOCK:
            for p in self.payments.values():
                if p.membership_id:
                    out[p.membership_id] += p.member_savings_fen - p.savings_reversed_fen
        return dict(out)

    def from_stream_image(self, image: dict[str, Any]) -> PaymentRecord | None:
        raise NotImplementedError("the fake has no stream: stream images are DynamoDB's (contract-tested there)")

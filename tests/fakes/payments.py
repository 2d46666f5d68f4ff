"""In-memory fakes of the payments adapters: `InMemoryPaymentsRepository` (passes the contract
suite of tests/integration/test_payments_repository.py with `DynamoPaymentsRepository`) and
`FakePaymentHistory` over it. Other areas' parts of a write (the nonce claim, the member's
savings) come in through the same ports as on DynamoDB, as `FakeTx` conditions and effects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chalicelib.onboarding.domain import TerminalGuard
from chalicelib.payments.callbacks import log_partitions, newest_first, newest_page
from chalicelib.payments.domain import (
    TERMINAL,
    PaymentFacts,
    PlatformReport,
    RecordedPayment,
    agrees,
    channels_of,
    cumulative_reversal,
)
from chalicelib.payments.models import day_key, month_key, payment_pk
from chalicelib.payments.ports import (
    Aggregate,
    CallbackPage,
    CallbackRecord,
    MemberSavings,
    NewPayment,
    NewRefund,
    PagePosition,
    PaymentPage,
    PaymentRecord,
    PaymentView,
    SavingsPayment,
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
        self.facts: dict[str, PaymentFacts] = {}  # payment pk → the facts it was recorded from (the read side's)
        self.refunds: dict[str, dict[str, _Refund]] = defaultdict(dict)  # payment pk → {refund sk: refund}
        self.figures: dict[str, _Figures] = {}  # day_key / month_key → figures
        self.log: dict[tuple[str, str], CallbackRecord] = {}  # (log key, received) → record
        self.reports: dict[tuple[str, str], PlatformReport] = {}  # (payment pk, platform) → report
        self.pending: dict[tuple[str, str], str] = {}  # reports waiting for their binding: → pending key
        self.tasks: set[tuple[str, str]] = set()

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
                       token: str | None, report: PlatformReport | None = None) -> WriteResult:
        f = new.facts
        pk = payment_pk(f.merchant_id, f.out_trade_no)
        tx = FakeTx()
        self._common(tx, guard, log)
        if report is not None:
            self._keep_report(tx, report)
        tx.require("payment", lambda: pk not in self.payments)
        confirmed = report is not None and report.binding_verified

        def record() -> None:
            self.payments[pk] = RecordedPayment(
                payment_id=new.payment_id, merchant_id=f.merchant_id, partner_id=f.partner_id,
                out_trade_no=f.out_trade_no, source=f.source, content_hash=f.content_hash,
                amount_fen=f.amount_fen, buyer_id=f.buyer_id, paid_at=f.paid_at,
                member_savings_fen=new.member_savings_fen, membership_id=new.membership_id,
                channels=(f.source,), confirmed_at=new.recorded_at if confirmed else None,
                platform_paid_at=report.paid_at if report and confirmed else None,
                platform_amount_fen=report.amount_fen if report and confirmed else None)
            self.days[pk] = new.business_day
            self.flags[pk] = new.flags
            self.facts[pk] = f
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
            if new.flag and new.flag not in self.flags.get(pk, ()):
                self.flags[pk] = (*self.flags.get(pk, ()), new.flag)
            self._move(p.merchant_id, new.business_day, -new.amount_fen, 0, new.amount_fen, 1)

        tx.then(record)
        if p.membership_id and new.savings_reversed_fen:
            self._savings.contribute(tx, p.membership_id, -new.savings_reversed_fen, new.recorded_at)
        failed = tx.commit()
        return WriteResult(not failed, failed)

    def _keep_report(self, tx: FakeTx, report: PlatformReport) -> None:
        key = (payment_pk(report.merchant_id, report.out_trade_no), report.platform)
        tx.require("platform", lambda: key not in self.reports)
        tx.then(lambda: self.reports.__setitem__(key, report))
        if not report.binding_verified:
            tx.then(lambda: self.pending.__setitem__(key, report.pending_key))

    def _as_read(self, payment: RecordedPayment) -> Callable[[], bool]:
        pk = payment_pk(payment.merchant_id, payment.out_trade_no)

        def holds() -> bool:
            now = self.payments.get(pk)
            return now is not None and (now.channels, now.confirmed) == (payment.channels, payment.confirmed)

        return holds

    def add_platform_report(self, payment: RecordedPayment, report: PlatformReport, at: datetime,
                            log: CallbackRecord | None = None) -> WriteResult:
        pk = payment_pk(payment.merchant_id, payment.out_trade_no)
        tx = FakeTx()
        self._common(tx, None, log)
        self._keep_report(tx, report)
        confirm = report.binding_verified and not payment.confirmed
        joins = report.platform not in channels_of(payment)
        if joins or confirm:
            tx.require("payment", self._as_read(payment))

        def join() -> None:
            p = self.payments[pk]
            if joins:
                p = replace(p, channels=(*channels_of(p), report.platform))
            if confirm:
                p = replace(p, confirmed_at=at, platform_paid_at=report.paid_at, platform_amount_fen=report.amount_fen)
            self.payments[pk] = p

        tx.then(join)
        failed = tx.commit()
        return WriteResult(not failed, failed)

    def add_terminal_report(self, payment: RecordedPayment, facts: PaymentFacts, savings: int,
                            membership_id: str | None, guard: TerminalGuard | None, log: CallbackRecord | None,
                            at: datetime) -> WriteResult:
        pk = payment_pk(payment.merchant_id, payment.out_trade_no)
        reversed_fen = cumulative_reversal(savings, payment.refunded_fen, payment.amount_fen) if savings else 0
        tx = FakeTx()
        self._common(tx, guard, log)
        tx.require("payment", self._as_read(payment))
        tx.require("payment", lambda: TERMINAL not in channels_of(self.payments[pk]))

        def join() -> None:
            p = replace(self.payments[pk], channels=(*channels_of(self.payments[pk]), TERMINAL))
            if savings and membership_id:
                p = replace(p, membership_id=membership_id, member_savings_fen=savings,
                            savings_reversed_fen=reversed_fen)
                self.facts[pk] = replace(self.facts[pk], discount_fen=facts.discount_fen)  # as the adapter SETs it
            self.payments[pk] = p

        tx.then(join)
        if savings and membership_id and savings - reversed_fen:
            self._savings.contribute(tx, membership_id, savings - reversed_fen, at)
        failed = tx.commit()
        return WriteResult(not failed, failed)

    def flag_payment(self, merchant_id: str, out_trade_no: str, flag: str) -> None:
        pk = payment_pk(merchant_id, out_trade_no)
        with LOCK:
            if pk in self.payments and flag not in self.flags.get(pk, ()):
                self.flags[pk] = (*self.flags.get(pk, ()), flag)

    def pending_reports(self, platform: str, platform_id: str, limit: int) -> list[PlatformReport]:
        with LOCK:
            found = [self.reports[k] for k, v in self.pending.items() if v == f"{platform}#{platform_id}"]
        return sorted(found, key=lambda r: r.paid_at)[:limit]

    def confirm_pending(self, report: PlatformReport, at: datetime) -> bool:
        key = (payment_pk(report.merchant_id, report.out_trade_no), report.platform)
        with LOCK:
            if self.pending.get(key) != report.pending_key:
                return False
            del self.pending[key]
            p = self.payments.get(key[0])
            if p is None or p.confirmed or not agrees(p, report.amount_fen, report.buyer_id):
                return False
            self.payments[key[0]] = replace(p, confirmed_at=at, platform_paid_at=report.paid_at,
                                            platform_amount_fen=report.amount_fen)
            return True

    def drop_pending(self, report: PlatformReport) -> None:
        with LOCK:
            self.pending.pop((payment_pk(report.merchant_id, report.out_trade_no), report.platform), None)

    def add_confirm_task(self, platform: str, platform_id: str) -> None:
        with LOCK:
            self.tasks.add((platform, platform_id))

    def confirm_tasks(self) -> list[tuple[str, str]]:
        with LOCK:
            return sorted(self.tasks)

    def done_confirm_task(self, platform: str, platform_id: str) -> None:
        with LOCK:
            self.tasks.discard((platform, platform_id))

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
        keys = set(log_partitions(log_key))
        with LOCK:
            mine = [r for k, r in self.log.items() if k[0] in keys]
        return newest_first(mine, limit)

    def day_series(self, merchant_id: str, days: Sequence[str]) -> list[Aggregate]:
        return [self.day_figures(merchant_id, d) for d in days]

    def callback_page(self, log_keys: Sequence[str], limit: int, before: str | None) -> CallbackPage:
        keys = {p for k in log_keys for p in log_partitions(k)}
        with LOCK:
            mine = [r for k, r in self.log.items() if k[0] in keys]
        return CallbackPage(*newest_page(mine, limit, before))

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
        self.facts: dict[str, PaymentFacts] = repo.facts if repo is not None else {}

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

    def merchant_confirmed_payments(self, merchant_id: str, since: datetime, until: datetime) -> list[PaymentRecord]:
        return [p for p in self._records() if p.merchant_id == merchant_id and p.confirmed
                and p.platform_paid_at is not None and since <= p.platform_paid_at < until]

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

    def membership_payments(self, membership_id: str) -> list[SavingsPayment]:
        with LOCK:
            found = [SavingsPayment(p.payment_id, p.merchant_id, p.out_trade_no, p.paid_at,
                                    self.facts[pk].discount_fen if pk in self.facts else p.member_savings_fen,
                                    p.member_savings_fen - p.savings_reversed_fen, p.confirmed)
                     for pk, p in self.payments.items() if p.membership_id == membership_id]
        return sorted(found, key=lambda s: (s.paid_at, s.out_trade_no))


class FakePaymentReads:
    """`PaymentReadStore` over the fake repository's payments; passes the contract suite of
    tests/integration/test_payment_reads_contract.py with `DynamoPaymentReads`. Ties in `paid_at`
    are ordered by out_trade_no (DynamoDB orders them its own way; both resume after the last)."""

    def __init__(self, repo: InMemoryPaymentsRepository) -> None:
        self.repo = repo

    def _view(self, pk: str) -> PaymentView:
        p, f = self.repo.payments[pk], self.repo.facts[pk]
        return PaymentView(
            payment_id=p.payment_id, merchant_id=p.merchant_id, out_trade_no=p.out_trade_no, trade_no=f.trade_no,
            amount_fen=p.amount_fen, discount_fen=f.discount_fen, buyer_id=p.buyer_id, paid_at=p.paid_at,
            platform_paid_at=p.platform_paid_at, refunded_fen=p.refunded_fen, member_savings_fen=p.member_savings_fen,
            savings_reversed_fen=p.savings_reversed_fen, channels=p.channels or (p.source,),
            confirmed_at=p.confirmed_at, flags=self.repo.flags.get(pk, ()))

    def payment(self, merchant_id: str, out_trade_no: str) -> PaymentView | None:
        pk = payment_pk(merchant_id, out_trade_no)
        with LOCK:
            return self._view(pk) if pk in self.repo.payments else None

    def day_page(self, merchant_id: str, since: datetime, until: datetime, limit: int,
                 after: PagePosition | None) -> PaymentPage:
        with LOCK:
            day = sorted((self._view(pk) for pk, p in self.repo.payments.items()
                          if p.merchant_id == merchant_id and since <= p.paid_at < until),
                         key=lambda v: (v.paid_at, v.out_trade_no), reverse=True)
        if after is not None:
            day = [v for v in day if (v.paid_at, v.out_trade_no) < (after.paid_at, after.out_trade_no)]
        return PaymentPage(tuple(day[:limit]), more=len(day) > limit)

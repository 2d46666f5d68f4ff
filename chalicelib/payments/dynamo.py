"""The payments area's DynamoDB adapters.

`DynamoPaymentsRepository` records every payment or refund as ONE transaction: the payment/refund
item (conditional on its key being new), the ADD updates of the merchant's day and month
counters, the distinct-customer markers and the callback log entry — plus what other areas
contribute through their ports: the terminal's nonce claim and not-revoked check (onboarding) and
the membership's savings (memberships). It commits whole or not at all; a cancelled transaction is
reported as the labels whose condition failed, with the payment as recorded when its key was taken.

`DynamoPaymentHistory` is the read side other areas use (`PaymentHistory`): offers, the contest
and audits never touch the payments table themselves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist

from chalicelib.onboarding.domain import TerminalGuard
from chalicelib.payments.callbacks import log_entry, log_partitions, newest_page
from chalicelib.payments.domain import (
    TERMINAL,
    PaymentFacts,
    PlatformReport,
    RecordedPayment,
    channels_of,
    cumulative_reversal,
)
from chalicelib.payments.models import (
    AGGREGATE_SK,
    CUSTOMER_SK_PREFIX,
    PAYMENT_SK,
    PLATFORM_SK_PREFIX,
    TASKS_PK,
    AggregateModel,
    CallbackLogModel,
    ConfirmTaskModel,
    PaymentModel,
    PlatformReportModel,
    RefundModel,
    buyer_key,
    day_key,
    month_key,
    payment_pk,
)
from chalicelib.payments.ports import (
    Aggregate,
    CallbackPage,
    CallbackRecord,
    MemberSavings,
    NewPayment,
    NewRefund,
    TerminalGuards,
    WriteResult,
)
from chalicelib.storage import Tx, TxResult, run_transaction, update_if, with_retries

TX_ATTEMPTS = 8  # hot aggregate items may see TransactionConflict under load: retry, jittered
_DT = UTCDateTimeAttribute()


def _recorded(m: PaymentModel) -> RecordedPayment:
    return RecordedPayment(
        payment_id=m.payment_id, merchant_id=m.merchant_id, partner_id=m.partner_id,
        out_trade_no=m.out_trade_no, source=m.source, content_hash=m.content_hash,
        amount_fen=int(m.amount_fen), buyer_id=m.buyer_id, paid_at=m.paid_at,
        refunded_fen=int(m.refunded_fen or 0), member_savings_fen=int(m.member_savings_fen or 0),
        savings_reversed_fen=int(m.savings_reversed_fen or 0), membership_id=m.membership_id,
        terminal_refunded_fen=int(m.terminal_refunded_fen or 0),
        channels=tuple(str(c) for c in m.channels or []), confirmed_at=m.confirmed_at,
        platform_paid_at=m.platform_paid_at,
        platform_amount_fen=None if m.platform_amount_fen is None else int(m.platform_amount_fen),
        flags=tuple(str(f) for f in m.flags or ()),
    )


def _write_result(result: TxResult) -> WriteResult:
    raw = result.old.get("payment")
    existing = _recorded(PaymentModel.from_raw_data(raw)) if raw else None  # the payment put's ALL_OLD
    return WriteResult(result.ok, result.failed, existing)


def _strings(*values: str) -> Any:
    """A list of strings for a ListAttribute action (PynamoDB's stubs want attributes there)."""
    return list(values)


def _appended(path: Any, value: str) -> Any:
    """`list_append(if_not_exists(path, []), [value])`: a flag added whether or not any exists."""
    return (path | _strings()).append(_strings(value))


def _as_read(payment: RecordedPayment) -> Any:
    """The condition that a payment's channels and confirmation are still what was read."""
    channels = PaymentModel.channels == list(payment.channels) if payment.channels else (
        PaymentModel.channels.does_not_exist())
    confirmed = PaymentModel.confirmed_at.exists() if payment.confirmed else PaymentModel.confirmed_at.does_not_exist()
    return PaymentModel.pk.exists() & channels & confirmed


def _report_item(report: PlatformReport, at: datetime) -> PlatformReportModel:
    return PlatformReportModel(
        payment_pk(report.merchant_id, report.out_trade_no), PLATFORM_SK_PREFIX + report.platform,
        merchant_id=report.merchant_id, platform=report.platform, platform_id=report.platform_id,
        out_trade_no=report.out_trade_no, trade_no=report.trade_no, amount_fen=report.amount_fen,
        buyer_id=report.buyer_id, platform_paid_at=report.paid_at, received_at=at,
        verified_binding="yes" if report.binding_verified else None,
        pending_key=None if report.binding_verified else report.pending_key)


def _report(m: PlatformReportModel) -> PlatformReport:
    return PlatformReport(m.platform, m.platform_id, m.merchant_id, m.out_trade_no, int(m.amount_fen), m.buyer_id,
                          m.platform_paid_at, m.trade_no, m.verified_binding == "yes")


def log_item(record: CallbackRecord, ttl: timedelta, at: datetime) -> CallbackLogModel:
    return CallbackLogModel(
        record.log_key, record.received,
        source=record.source, path=record.path, status=record.status, code=record.code,
        outcome=record.outcome, merchant_id=record.merchant_id, terminal_id=record.terminal_id,
        out_trade_no=record.out_trade_no, headers=json.dumps(dict(record.headers), sort_keys=True),
        body=record.body, body_bytes=record.body_bytes, expires_at=at + ttl,
        body_sha256=record.body_sha256 if record.bounded else None,
    )


def _logged(i: CallbackLogModel) -> CallbackRecord:
    return CallbackRecord(
        str(i.source), str(i.path), str(i.received), i.body or "", int(i.body_bytes or 0),
        json.loads(i.headers or "{}"), status=int(i.status), code=i.code, outcome=str(i.outcome),
        merchant_id=i.merchant_id, terminal_id=i.terminal_id, out_trade_no=i.out_trade_no,
        body_sha256=i.body_sha256 or "", bounded=i.body_sha256 is not None,
    )


class DynamoPaymentsRepository:
    """Payments, refunds, aggregates and the callback log on DynamoDB."""

    def __init__(self, connection: Connection, guards: TerminalGuards, savings: MemberSavings,
                 log_ttl_days: int = 30) -> None:
        self._conn = connection
        self._guards = guards
        self._savings = savings
        self._log_ttl = timedelta(days=log_ttl_days)

    def _run(self, build: Any, token: str | None) -> WriteResult:
        return _write_result(run_transaction(self._conn, build, token=token, attempts=TX_ATTEMPTS))

    def _common(self, tx: Tx, guard: TerminalGuard | None, log: CallbackRecord | None, at: datetime) -> None:
        if guard is not None:
            self._guards.contribute(tx, guard)
        if log is not None:
            tx.put("log", log_item(log, self._log_ttl, at))

    @staticmethod
    def _aggregate_updates(tx: Tx, merchant_id: str, day: str, gmv: int, payments: int,
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

    def record_payment(self, new: NewPayment, guard: TerminalGuard | None, log: CallbackRecord | None,
                       token: str | None, report: PlatformReport | None = None) -> WriteResult:
        """Record a payment with its aggregates, savings, log entry and nonce — and, for a platform
        notification, its report (confirming the payment when its binding is verified) — or report
        which conditions failed (`payment` taken → the recorded one in `existing`)."""
        f = new.facts
        day = new.business_day
        confirmed = report is not None and report.binding_verified

        def build(tx: Tx) -> None:
            self._common(tx, guard, log, new.recorded_at)
            if report is not None:
                tx.put("platform", _report_item(report, new.recorded_at),
                       condition=PlatformReportModel.pk.does_not_exist())
            tx.put("payment", PaymentModel(
                payment_pk(f.merchant_id, f.out_trade_no), PAYMENT_SK,
                payment_id=new.payment_id, merchant_id=f.merchant_id, partner_id=f.partner_id,
                store_id=f.store_id, terminal_id=f.terminal_id, source=f.source,
                out_trade_no=f.out_trade_no, trade_no=f.trade_no, amount_fen=f.amount_fen,
                discount_fen=f.discount_fen, buyer_id=f.buyer_id, buyer_key=buyer_key(f.merchant_id, f.buyer_id),
                paid_at=f.paid_at, business_day=day, content_hash=f.content_hash, refunded_fen=0,
                membership_id=new.membership_id, member_savings_fen=new.member_savings_fen,
                savings_reversed_fen=0, flags=list(new.flags) or None, recorded_at=new.recorded_at,
                channels=[f.source], confirmed_at=new.recorded_at if confirmed else None,
                platform_paid_at=report.paid_at if report and confirmed else None,
                platform_amount_fen=report.amount_fen if report and confirmed else None,
            ), condition=PaymentModel.pk.does_not_exist(), return_old=True)
            for label, pk in (("customer_day", day_key(f.merchant_id, day)),
                              ("customer_month", month_key(f.merchant_id, day[:7]))):
                tx.put(label, AggregateModel(pk, CUSTOMER_SK_PREFIX + f.buyer_id))
            self._aggregate_updates(tx, f.merchant_id, day, f.amount_fen, 1, 0, 0)
            if new.membership_id and new.member_savings_fen:
                self._savings.contribute(tx, new.membership_id, new.member_savings_fen, new.recorded_at)

        return self._run(build, token)

    def record_refund(self, new: NewRefund, guard: TerminalGuard | None, log: CallbackRecord | None,
                      token: str | None) -> WriteResult:
        """Record a refund if the payment's refunded totals are still what was read (optimistic),
        moving the aggregates of the refund's business day and the membership's savings."""
        p = new.payment
        pk = payment_pk(p.merchant_id, p.out_trade_no)

        def build(tx: Tx) -> None:
            self._common(tx, guard, log, new.recorded_at)
            tx.put("refund", RefundModel(
                pk, new.refund_sk, refund_id=new.refund_id, merchant_id=p.merchant_id, partner_id=p.partner_id,
                out_trade_no=p.out_trade_no, out_request_no=new.out_request_no, source=new.source,
                amount_fen=new.amount_fen, buyer_id=p.buyer_id, paid_at=p.paid_at, recorded_at=new.recorded_at,
                business_day=new.business_day, membership_id=p.membership_id,
                savings_reversed_fen=new.savings_reversed_fen, requested_fen=new.requested_fen,
            ), condition=RefundModel.pk.does_not_exist(), return_old=True)
            actions: list[Any] = [PaymentModel.refunded_fen.add(new.amount_fen)]
            if new.savings_reversed_fen:
                actions.append(PaymentModel.savings_reversed_fen.add(new.savings_reversed_fen))
            if new.terminal_fen:
                actions.append(PaymentModel.terminal_refunded_fen.add(new.terminal_fen))
            if new.flag and new.flag not in p.flags:
                actions.append(PaymentModel.flags.set(_appended(PaymentModel.flags, new.flag)))
            terminal_total = PaymentModel.terminal_refunded_fen == p.terminal_refunded_fen
            if p.terminal_refunded_fen == 0:
                terminal_total = terminal_total | PaymentModel.terminal_refunded_fen.does_not_exist()
            tx.update("payment", PaymentModel(pk, PAYMENT_SK), actions,
                      condition=(PaymentModel.refunded_fen == p.refunded_fen) & terminal_total)
            self._aggregate_updates(tx, p.merchant_id, new.business_day, -new.amount_fen, 0, new.amount_fen, 1)
            if p.membership_id and new.savings_reversed_fen:
                self._savings.contribute(tx, p.membership_id, -new.savings_reversed_fen, new.recorded_at)

        return self._run(build, token)

    def add_platform_report(self, payment: RecordedPayment, report: PlatformReport, at: datetime,
                            log: CallbackRecord | None = None) -> WriteResult:
        """A platform's report of a payment already recorded (agreeing on amount and buyer): the
        report is kept once, the platform joins the payment's channels, and — through a verified
        binding — the payment is confirmed at the platform's time and amount, all in one write."""
        pk = payment_pk(payment.merchant_id, payment.out_trade_no)
        confirm = report.binding_verified and not payment.confirmed

        def build(tx: Tx) -> None:
            self._common(tx, None, log, at)
            tx.put("platform", _report_item(report, at), condition=PlatformReportModel.pk.does_not_exist())
            actions: list[Any] = []
            if report.platform not in channels_of(payment):
                actions.append(PaymentModel.channels.set(_strings(*channels_of(payment), report.platform)))
            if confirm:
                actions += [PaymentModel.confirmed_at.set(at), PaymentModel.platform_paid_at.set(report.paid_at),
                            PaymentModel.platform_amount_fen.set(report.amount_fen)]
            if actions:
                tx.update("payment", PaymentModel(pk, PAYMENT_SK), actions, condition=_as_read(payment))

        return self._run(build, None)

    def add_terminal_report(self, payment: RecordedPayment, facts: PaymentFacts, savings: int,
                            membership_id: str | None, guard: TerminalGuard | None, log: CallbackRecord | None,
                            at: datetime) -> WriteResult:
        """The terminal's report of a payment a platform recorded first: the terminal joins the
        channels and its member discount counts now (net of what refunds already reversed), with
        the nonce and the log record, in one write."""
        pk = payment_pk(payment.merchant_id, payment.out_trade_no)
        reversed_fen = cumulative_reversal(savings, payment.refunded_fen, payment.amount_fen) if savings else 0

        def build(tx: Tx) -> None:
            self._common(tx, guard, log, at)
            actions: list[Any] = [PaymentModel.channels.set(_strings(*channels_of(payment), TERMINAL))]
            if facts.terminal_id and facts.store_id:
                actions += [PaymentModel.terminal_id.set(facts.terminal_id), PaymentModel.store_id.set(facts.store_id)]
            if savings and membership_id:
                actions += [PaymentModel.membership_id.set(membership_id),
                            PaymentModel.member_savings_fen.set(savings),
                            PaymentModel.savings_reversed_fen.set(reversed_fen),
                            PaymentModel.discount_fen.set(facts.discount_fen)]
            # once: a terminal that reported the payment already is a duplicate
            tx.update("payment", PaymentModel(pk, PAYMENT_SK), actions,
                      condition=_as_read(payment) & ~PaymentModel.channels.contains(TERMINAL))
            if savings and membership_id and savings - reversed_fen:
                self._savings.contribute(tx, membership_id, savings - reversed_fen, at)

        return self._run(build, uuid.uuid4().hex)

    def flag_payment(self, merchant_id: str, out_trade_no: str, flag: str) -> None:
        """Add a flag to a recorded payment (once)."""
        item = PaymentModel(payment_pk(merchant_id, out_trade_no), PAYMENT_SK)
        update_if(item, [PaymentModel.flags.set(PaymentModel.flags.append(_strings(flag)))],
                  PaymentModel.flags.exists() & ~PaymentModel.flags.contains(flag))
        update_if(item, [PaymentModel.flags.set(_strings(flag))],
                  PaymentModel.pk.exists() & PaymentModel.flags.does_not_exist())

    def pending_reports(self, platform: str, platform_id: str, limit: int) -> list[PlatformReport]:
        """Reports that came through this binding before it was verified (oldest first)."""
        key = f"{platform}#{platform_id}"
        items = with_retries(lambda: list(PlatformReportModel.pending_index.query(key, limit=limit)))
        return [_report(i) for i in items]

    def confirm_pending(self, report: PlatformReport, at: datetime) -> bool:
        """Confirm the payment a pending report names (if it still agrees and is unconfirmed), and
        take the report off the pending index, in one write; False if the payment disagreed."""
        pk = payment_pk(report.merchant_id, report.out_trade_no)
        sk = PLATFORM_SK_PREFIX + report.platform

        def build(tx: Tx) -> None:
            tx.update("report", PlatformReportModel(pk, sk), [PlatformReportModel.pending_key.remove(),
                                                             PlatformReportModel.verified_binding.set("yes")],
                      condition=PlatformReportModel.pending_key == report.pending_key)
            tx.update("payment", PaymentModel(pk, PAYMENT_SK),
                      [PaymentModel.confirmed_at.set(at), PaymentModel.platform_paid_at.set(report.paid_at),
                       PaymentModel.platform_amount_fen.set(report.amount_fen)],
                      condition=PaymentModel.confirmed_at.does_not_exist()
                      & (PaymentModel.amount_fen == report.amount_fen) & (PaymentModel.buyer_id == report.buyer_id))

        result = self._run(build, None)
        if result.ok or "report" in result.failed:
            return result.ok
        # confirmed already, or it disagrees: the report leaves the pending index either way
        update_if(PlatformReportModel(pk, sk), [PlatformReportModel.pending_key.remove()],
                  PlatformReportModel.pending_key == report.pending_key)
        return False

    def drop_pending(self, report: PlatformReport) -> None:
        """Take a report off the pending index without confirming (it came through another holder)."""
        pk, sk = payment_pk(report.merchant_id, report.out_trade_no), PLATFORM_SK_PREFIX + report.platform
        update_if(PlatformReportModel(pk, sk), [PlatformReportModel.pending_key.remove()],
                  PlatformReportModel.pending_key == report.pending_key)

    def add_confirm_task(self, platform: str, platform_id: str) -> None:
        item = ConfirmTaskModel(TASKS_PK, f"{platform}#{platform_id}", platform=platform, platform_id=platform_id)
        with_retries(item.save)

    def confirm_tasks(self) -> list[tuple[str, str]]:
        return [(t.platform, t.platform_id) for t in with_retries(lambda: list(ConfirmTaskModel.query(TASKS_PK)))]

    def done_confirm_task(self, platform: str, platform_id: str) -> None:
        with_retries(ConfirmTaskModel(TASKS_PK, f"{platform}#{platform_id}").delete)

    def claim_guard(self, guard: TerminalGuard, log: CallbackRecord | None) -> WriteResult:
        """Claim the nonce for a request that records nothing else, with its log entry if given."""
        return self._run(lambda tx: self._common(tx, guard, log, guard.at), None)

    def log_callback(self, record: CallbackRecord) -> None:
        item = log_item(record, self._log_ttl, self._received_at(record))
        with_retries(item.save)

    @staticmethod
    def _received_at(record: CallbackRecord) -> datetime:
        return datetime.fromisoformat(record.received.split("#", 1)[0])

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

    def aggregate(self, pk: str) -> Aggregate:
        """A day's or month's figures (consistent reads) with its distinct customers."""
        try:
            item = with_retries(lambda: AggregateModel.get(pk, AGGREGATE_SK, consistent_read=True))
            figures = (int(item.gmv_fen or 0), int(item.payments or 0), int(item.refunds_fen or 0))
        except DoesNotExist:
            figures = (0, 0, 0)
        return Aggregate(*figures, customers=self._customers(pk))

    @staticmethod
    def _customers(pk: str) -> int:
        """The distinct customers of a day or month: its `C#<buyer>` markers, counted (consistent)."""
        return with_retries(lambda: AggregateModel.count(
            pk, AggregateModel.sk.startswith(CUSTOMER_SK_PREFIX), consistent_read=True))

    def day_figures(self, merchant_id: str, day: str) -> Aggregate:
        return self.aggregate(day_key(merchant_id, day))

    def month_figures(self, merchant_id: str, month: str) -> Aggregate:
        return self.aggregate(month_key(merchant_id, month))

    def day_series(self, merchant_id: str, days: Sequence[str]) -> list[Aggregate]:
        """Each day's figures: ONE BatchGetItem of the `AGG` items (PynamoDB pages it by 100 keys
        and re-asks for unprocessed keys), consistent like the dashboard's GetItem; then the
        distinct customers, counted as the dashboard counts them (Query `Select=COUNT`), only for
        the days with payments — a customer marker is written only with a payment."""
        keys = [(day_key(merchant_id, d), AGGREGATE_SK) for d in days]
        found = with_retries(lambda: {str(m.pk): m for m in AggregateModel.batch_get(keys, consistent_read=True)})
        out: list[Aggregate] = []
        for pk, _ in keys:
            item = found.get(pk)
            if item is None:
                out.append(Aggregate())
                continue
            payments = int(item.payments or 0)
            customers = self._customers(pk) if payments else 0
            out.append(Aggregate(int(item.gmv_fen or 0), payments, int(item.refunds_fen or 0), customers))
        return out

    def callbacks(self, log_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest callbacks of a merchant (or `unknown#<source>`, its shards merged), newest
        first: at most `limit` items read per partition."""
        return [log_entry(r) for r in self.callback_page([log_key], limit, None).records]

    def callback_page(self, log_keys: Sequence[str], limit: int, before: str | None) -> CallbackPage:
        """One Query per partition (a merchant: 1; `unknown#<source>`: its 16 shards and the old
        unsharded partition), newest first, `received < before`, at most `limit + 1` items each;
        merged by `received`, the newest `limit` kept (one more says another page follows)."""
        def latest(key: str) -> list[CallbackRecord]:
            condition = None if before is None else CallbackLogModel.received < before
            return with_retries(lambda: [_logged(i) for i in CallbackLogModel.query(
                key, condition, scan_index_forward=False, limit=limit + 1, page_size=limit + 1)])

        return CallbackPage(*newest_page([r for lk in log_keys for key in log_partitions(lk) for r in latest(key)],
                                         limit, before))

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

"""`DynamoPaymentHistory`: the payments table's read side for other areas (`PaymentHistory`):
offers, the contest and audits read recorded payments through it, never the table itself."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pynamodb.attributes import UTCDateTimeAttribute

from chalicelib.payments.models import PAYMENT_SK, REFUND_SK_PREFIX, PaymentModel, buyer_key
from chalicelib.payments.ports import PaymentRecord, SavingsPayment
from chalicelib.storage import with_retries

_DT = UTCDateTimeAttribute()


def _record(item: Any, refunded: int) -> PaymentRecord:
    platform_amount = getattr(item, "platform_amount_fen", None)
    return PaymentRecord(str(item.merchant_id), str(item.partner_id), str(item.out_trade_no), str(item.buyer_id),
                         int(item.amount_fen or 0), item.paid_at, refunded,
                         confirmed=getattr(item, "confirmed_at", None) is not None,
                         platform_paid_at=getattr(item, "platform_paid_at", None),
                         platform_amount_fen=None if platform_amount is None else int(platform_amount))


def _with_refunds(items: Iterable[Any]) -> list[PaymentRecord]:
    """Payments with their refunds: the sum of the refund items read alongside, or the payment's
    own `refunded_fen` total when that is larger (a refund may not be in the same page yet)."""
    payments: dict[str, Any] = {}
    refunds: dict[str, int] = defaultdict(int)
    for item in items:
        if item.sk == PAYMENT_SK:
            payments[item.pk] = item
        elif (item.sk or "").startswith(REFUND_SK_PREFIX):
            refunds[item.pk] += int(item.amount_fen or 0)
    return [_record(p, max(refunds.get(pk, 0), int(p.refunded_fen or 0))) for pk, p in payments.items()]


class DynamoPaymentHistory:
    """Implements `PaymentHistory` over the payments table and its indexes."""

    def merchant_payments(self, merchant_id: str, since: datetime, until: datetime) -> list[PaymentRecord]:
        rows = with_retries(lambda: list(PaymentModel.merchant_paid_index.query(
            merchant_id, PaymentModel.paid_at.between(since, until))))
        return _with_refunds(r for r in rows if r.paid_at < until)

    def merchant_confirmed_payments(self, merchant_id: str, since: datetime, until: datetime) -> list[PaymentRecord]:
        rows = with_retries(lambda: list(PaymentModel.merchant_confirmed_index.query(
            merchant_id, PaymentModel.platform_paid_at.between(since, until),
            filter_condition=PaymentModel.sk == PAYMENT_SK)))
        return [_record(r, int(r.refunded_fen or 0)) for r in rows
                if r.platform_paid_at is not None and r.platform_paid_at < until]

    def earliest_qualifying(self, merchant_id: str, min_fen: int,
                            before: datetime | None = None) -> PaymentRecord | None:
        cond = PaymentModel.paid_at < before if before is not None else None
        best: PaymentRecord | None = None
        qualifying = (PaymentModel.sk == PAYMENT_SK) & (PaymentModel.amount_fen >= min_fen)
        for r in PaymentModel.merchant_paid_index.query(merchant_id, cond, filter_condition=qualifying):
            record = _record(r, 0)
            if best is not None and record.paid_at > best.paid_at:
                break
            if best is None or (record.paid_at, record.out_trade_no) < (best.paid_at, best.out_trade_no):
                best = record
        return best

    def buyer_payments(self, merchant_id: str, buyer_id: str, since: datetime,
                       until: datetime) -> list[PaymentRecord]:
        return [_record(p, int(p.refunded_fen or 0)) for p in PaymentModel.buyer_index.query(
            buyer_key(merchant_id, buyer_id), PaymentModel.paid_at.between(since, until))]

    def payments_between(self, since: datetime, until: datetime) -> list[PaymentRecord]:
        rows = with_retries(lambda: list(PaymentModel.scan(PaymentModel.paid_at.between(since, until))))
        return [p for p in _with_refunds(rows) if p.paid_at < until]

    def all_payments(self) -> list[PaymentRecord]:
        return _with_refunds(with_retries(lambda: list(PaymentModel.scan())))

    def savings_by_membership(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for m in PaymentModel.scan(PaymentModel.membership_id.exists() & (PaymentModel.sk == PAYMENT_SK)):
            out[str(m.membership_id)] += int(m.member_savings_fen or 0) - int(m.savings_reversed_fen or 0)
        return dict(out)

    def from_stream_image(self, image: dict[str, Any]) -> PaymentRecord | None:
        if image.get("sk") != PAYMENT_SK:
            return None
        platform_paid_at = image.get("platform_paid_at")
        platform_amount = image.get("platform_amount_fen")
        return PaymentRecord(str(image["merchant_id"]), str(image["partner_id"]), str(image["out_trade_no"]),
                             str(image["buyer_id"]), int(image["amount_fen"]), _DT.deserialize(str(image["paid_at"])),
                             int(image.get("refunded_fen", 0) or 0), confirmed=image.get("confirmed_at") is not None,
                             platform_paid_at=_DT.deserialize(str(platform_paid_at)) if platform_paid_at else None,
                             platform_amount_fen=None if platform_amount is None else int(platform_amount))

    def membership_payments(self, membership_id: str) -> list[SavingsPayment]:
        """The sparse `membership_index` (payments carry `membership_id` only when savings counted;
        their refund items carry it too and are filtered out)."""
        rows = with_retries(lambda: list(PaymentModel.membership_index.query(
            membership_id, filter_condition=PaymentModel.sk == PAYMENT_SK)))
        found = [SavingsPayment(str(p.payment_id), str(p.merchant_id), str(p.out_trade_no), p.paid_at,
                                int(p.discount_fen or 0),
                                int(p.member_savings_fen or 0) - int(p.savings_reversed_fen or 0),
                                confirmed=p.confirmed_at is not None) for p in rows]
        return sorted(found, key=lambda s: (s.paid_at, s.out_trade_no))

"""`DynamoPaymentReads`: the payments table read for people (`PaymentReadStore`).

- one payment: GetItem on its key (`merchant_id#out_trade_no`, `PAY`), consistent (a payment
  just reported is there);
- a merchant's business day: Query of the `merchant_paid_index` GSI (`merchant_id`, `paid_at`
  between the day's bounds), newest first. Refund items share that index (they carry their
  payment's `paid_at`), so they are filtered out; DynamoDB applies `Limit` before the filter, so
  the query reads on, page after page, until it has one payment more than asked (which says
  whether another page follows) or the day is exhausted. A page resumes from the last payment
  returned: its index key and table key, exactly what DynamoDB's own LastEvaluatedKey would be.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist

from chalicelib.payments.models import PAYMENT_SK, PaymentModel, payment_pk
from chalicelib.payments.ports import PagePosition, PaymentPage, PaymentView
from chalicelib.storage import with_retries

_DT = UTCDateTimeAttribute()
_TICK = timedelta(microseconds=1)  # paid_at is stored to the microsecond: `< until` is `≤ until - 1µs`


def payment_view(m: PaymentModel) -> PaymentView:
    """The read model of a stored payment item."""
    return PaymentView(
        payment_id=m.payment_id, merchant_id=m.merchant_id, out_trade_no=m.out_trade_no, trade_no=m.trade_no,
        amount_fen=int(m.amount_fen), discount_fen=int(m.discount_fen or 0), buyer_id=m.buyer_id,
        paid_at=m.paid_at, platform_paid_at=m.platform_paid_at, refunded_fen=int(m.refunded_fen or 0),
        member_savings_fen=int(m.member_savings_fen or 0), savings_reversed_fen=int(m.savings_reversed_fen or 0),
        channels=tuple(str(c) for c in m.channels) if m.channels else (m.source,),
        confirmed_at=m.confirmed_at, flags=tuple(str(f) for f in m.flags or ()),
    )


def _start_key(merchant_id: str, after: PagePosition) -> dict[str, dict[str, Any]]:
    return {
        "merchant_id": {"S": merchant_id},
        "paid_at": {"S": _DT.serialize(after.paid_at)},
        "pk": {"S": payment_pk(merchant_id, after.out_trade_no)},
        "sk": {"S": PAYMENT_SK},
    }


class DynamoPaymentReads:
    """Implements `PaymentReadStore` over the payments table and its `merchant_paid_index`."""

    def payment(self, merchant_id: str, out_trade_no: str) -> PaymentView | None:
        try:
            item = with_retries(lambda: PaymentModel.get(payment_pk(merchant_id, out_trade_no), PAYMENT_SK,
                                                          consistent_read=True))
        except DoesNotExist:
            return None
        return payment_view(item)

    def day_page(self, merchant_id: str, since: datetime, until: datetime, limit: int,
                 after: PagePosition | None) -> PaymentPage:
        def query() -> list[PaymentModel]:
            return list(PaymentModel.merchant_paid_index.query(
                merchant_id, PaymentModel.paid_at.between(since, until - _TICK),
                filter_condition=PaymentModel.sk == PAYMENT_SK, scan_index_forward=False,
                limit=limit + 1, page_size=limit + 1,
                last_evaluated_key=_start_key(merchant_id, after) if after is not None else None))

        rows = with_retries(query)
        return PaymentPage(tuple(payment_view(r) for r in rows[:limit]), more=len(rows) > limit)

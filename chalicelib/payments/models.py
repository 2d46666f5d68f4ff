"""PynamoDB models of the payments table: payments and their refunds, one item collection
per payment (`pk` = merchant_id#out_trade_no), so a payment and its refunds sit together.

The table's stream (NEW_AND_OLD_IMAGES) feeds derived state such as contest metrics.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.storage import BaseModel

PAYMENT_SK = "PAY"
REFUND_SK_PREFIX = "REF#"


def payment_pk(merchant_id: str, out_trade_no: str) -> str:
    return f"{merchant_id}#{out_trade_no}"


def buyer_key(merchant_id: str, buyer_id: str) -> str:
    return f"{merchant_id}#{buyer_id}"


class PaymentsByBuyer(GlobalSecondaryIndex["PaymentModel"]):
    """A buyer's payments at one merchant by time (membership offers, savings estimates)."""

    class Meta:
        index_name = "buyer_index"
        projection = AllProjection()

    buyer_key = UnicodeAttribute(hash_key=True)
    paid_at = UTCDateTimeAttribute(range_key=True)


class PaymentsByMerchant(GlobalSecondaryIndex["PaymentModel"]):
    """A merchant's payments and refunds by the payment's time (contest settlement and audit;
    refund items carry their payment's `paid_at`, so both kinds are indexed)."""

    class Meta:
        index_name = "merchant_paid_index"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    paid_at = UTCDateTimeAttribute(range_key=True)


class PaymentsByMembership(GlobalSecondaryIndex["PaymentModel"]):
    """Sparse: the payments that counted savings for a membership, by time (savings statement)."""

    class Meta:
        index_name = "membership_index"
        projection = AllProjection()

    membership_id = UnicodeAttribute(hash_key=True)
    paid_at = UTCDateTimeAttribute(range_key=True)


class ConfirmedByMerchant(GlobalSecondaryIndex[Any]):
    """Sparse: a merchant's confirmed payments by the platform's time (confirmed-only contests
    settle a round from it; platform report items share the attributes and are filtered out)."""

    class Meta:
        index_name = "merchant_confirmed_index"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    platform_paid_at = UTCDateTimeAttribute(range_key=True)


class PendingConfirmation(GlobalSecondaryIndex[Any]):
    """Sparse: platform reports that came through a binding not verified yet (`pending_key` =
    `<platform>#<platform id>`), by the platform's time — what verifying the binding confirms."""

    class Meta:
        index_name = "pending_index"
        projection = AllProjection()

    pending_key = UnicodeAttribute(hash_key=True)
    platform_paid_at = UTCDateTimeAttribute(range_key=True)


class PaymentModel(BaseModel):
    TABLE = "payments"

    class Meta(BaseModel.Meta):
        stream_view_type = "NEW_AND_OLD_IMAGES"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=PAYMENT_SK)
    kind = UnicodeAttribute(default="payment")
    payment_id = UnicodeAttribute()
    merchant_id = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    store_id = UnicodeAttribute(null=True)
    terminal_id = UnicodeAttribute(null=True)
    source = UnicodeAttribute()  # "terminal" | "alipay"
    out_trade_no = UnicodeAttribute()
    trade_no = UnicodeAttribute(null=True)
    amount_fen = NumberAttribute()  # what the buyer paid
    discount_fen = NumberAttribute(default=0)  # member discount applied on top
    buyer_id = UnicodeAttribute()
    buyer_key = UnicodeAttribute()
    paid_at = UTCDateTimeAttribute()
    business_day = UnicodeAttribute()  # YYYY-MM-DD of paid_at in YUNDIAN_TZ
    content_hash = UnicodeAttribute()  # what a duplicate must match
    refunded_fen = NumberAttribute(default=0)
    membership_id = UnicodeAttribute(null=True)
    member_savings_fen = NumberAttribute(default=0)  # counted savings at record time
    savings_reversed_fen = NumberAttribute(default=0)
    flags = ListAttribute(of=UnicodeAttribute, null=True)
    terminal_refunded_fen = NumberAttribute(default=0)  # Σ terminal refund requests (see terminal_refund_adds)
    requested_fen = NumberAttribute(null=True)  # on refund rows read through this model: see RefundModel
    recorded_at = UTCDateTimeAttribute()
    # Which channels reported this payment (terminal, alipay, wechatpay); absent on items recorded
    # before revision 2, which were reported by `source` alone.
    channels = ListAttribute(of=UnicodeAttribute, null=True)
    # The platform's verified word, once a notification of this payment came through a verified
    # binding: when it was recorded, and the platform's own time and amount (what contests count).
    confirmed_at = UTCDateTimeAttribute(null=True)
    platform_paid_at = UTCDateTimeAttribute(null=True)
    platform_amount_fen = NumberAttribute(null=True)

    buyer_index = PaymentsByBuyer()
    merchant_paid_index = PaymentsByMerchant()
    membership_index = PaymentsByMembership()
    pending_index = PendingConfirmation()
    merchant_confirmed_index = ConfirmedByMerchant()
    pending_key = UnicodeAttribute(null=True)  # only on platform report items (PlatformReportModel)


class RefundModel(BaseModel):
    """A refund item in the payments table (`sk` = REF#<source>#<refund key>)."""

    TABLE = "payments"
    OWNS_TABLE = False

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute(default="refund")
    refund_id = UnicodeAttribute()
    merchant_id = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    out_trade_no = UnicodeAttribute()
    out_request_no = UnicodeAttribute()
    source = UnicodeAttribute()
    amount_fen = NumberAttribute()
    buyer_id = UnicodeAttribute()
    paid_at = UTCDateTimeAttribute()  # of the refunded payment (contest rounds attribute by it)
    recorded_at = UTCDateTimeAttribute()
    business_day = UnicodeAttribute()  # YYYY-MM-DD of recorded_at in YUNDIAN_TZ
    membership_id = UnicodeAttribute(null=True)
    savings_reversed_fen = NumberAttribute(default=0)
    # What the terminal asked to refund (idempotency compares it); `amount_fen` is what it added
    # to the refunded total, 0 when the platform had already reported that money.
    requested_fen = NumberAttribute(null=True)


PLATFORM_SK_PREFIX = "PLAT#"


class PlatformReportModel(BaseModel):
    """A payment platform's verified notification of a payment, kept in the payment's item
    collection (`sk` = PLAT#<platform>): put once (redeliveries change nothing), it is the record
    from which verifying a binding later confirms the payment."""

    TABLE = "payments"
    OWNS_TABLE = False

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute(default="platform")
    merchant_id = UnicodeAttribute()
    platform = UnicodeAttribute()
    platform_id = UnicodeAttribute()  # the merchant's id on the platform it came through
    out_trade_no = UnicodeAttribute()
    trade_no = UnicodeAttribute(null=True)
    amount_fen = NumberAttribute()
    buyer_id = UnicodeAttribute()
    platform_paid_at = UTCDateTimeAttribute()
    received_at = UTCDateTimeAttribute()
    verified_binding = UnicodeAttribute(null=True)  # "yes" when the binding was verified on arrival
    pending_key = UnicodeAttribute(null=True)  # while it waits for its binding's verification

    pending_index = PendingConfirmation()


class ConfirmTaskModel(BaseModel):
    """A binding whose pending confirmations are more than one request confirms (pk `TASKS`,
    sk `<platform>#<platform id>`): the `confirm_bindings` job works them off and deletes them."""

    TABLE = "payments"
    OWNS_TABLE = False

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute(default="task")
    platform = UnicodeAttribute()
    platform_id = UnicodeAttribute()


TASKS_PK = "TASKS"
AGGREGATE_SK = "AGG"
CUSTOMER_SK_PREFIX = "C#"


def day_key(merchant_id: str, day: str) -> str:
    return f"{merchant_id}#D#{day}"


def month_key(merchant_id: str, month: str) -> str:
    return f"{merchant_id}#M#{month}"


class AggregateModel(BaseModel):
    """A merchant's day (`<merchant>#D#YYYY-MM-DD`) or month (`<merchant>#M#YYYY-MM`) figures.

    `sk` = AGG holds the counters, moved only by ADD in the same transaction as the payment or
    refund; `sk` = C#<buyer_id> marks a distinct customer (idempotent puts, counted with
    Select=COUNT).
    """

    TABLE = "aggregates"

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    merchant_id = UnicodeAttribute(null=True)
    period = UnicodeAttribute(null=True)
    gmv_fen = NumberAttribute(default=0)
    payments = NumberAttribute(default=0)
    refunds_fen = NumberAttribute(default=0)
    refunds = NumberAttribute(default=0)


class CallbackLogModel(BaseModel):
    """Every callback as it arrived (body and non-secret headers) with its outcome, kept ~30 days.

    `log_key` is the merchant when known, else one of the shards `unknown#<source>#<0..15>`
    (`payments.callbacks.log_partitions`); `received` sorts by time.
    """

    TABLE = "callbacks"

    class Meta(BaseModel.Meta):
        pass

    log_key = UnicodeAttribute(hash_key=True)
    received = UnicodeAttribute(range_key=True)  # <UTC ISO time>#<random>
    source = UnicodeAttribute()  # terminal | alipay
    path = UnicodeAttribute()
    status = NumberAttribute()
    code = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute()
    merchant_id = UnicodeAttribute(null=True)
    terminal_id = UnicodeAttribute(null=True)
    out_trade_no = UnicodeAttribute(null=True)
    headers = UnicodeAttribute(null=True)  # JSON, secrets removed or truncated
    body = UnicodeAttribute(null=True)  # the raw body (truncated beyond 16 KiB)
    body_bytes = NumberAttribute(default=0)
    body_sha256 = UnicodeAttribute(null=True)  # of the whole body, where only a prefix is kept (unauthenticated)
    expires_at = TTLAttribute(null=True)


MODELS: list[type[BaseModel]] = [PaymentModel, RefundModel, PlatformReportModel, ConfirmTaskModel, AggregateModel,
                                 CallbackLogModel]

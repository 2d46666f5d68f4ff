"""PynamoDB models of the contest area.

- `contests`: contest definitions (pk `CONTESTS`, sk contest id), ranking snapshots and settled
  results (a head item per round plus pages), the registry of partners with counters in a
  round, and the append-only admin audit trail.
- `contest_state`: stream-derived working state with optimistic versions: per (contest,
  merchant, buyer, day) buckets of the earliest counted payments, per (contest, merchant) first
  counted payment, per (contest, round, merchant) counted-payment counts, membership guards.
- `contest_counters`: write-sharded metric counters per (contest, round, partner, shard),
  updated with ADD deltas.
- `PaymentRow`: a read view of the payments table (payments and refunds) through the
  `merchant_paid_index` GSI that settlement queries.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.storage import BaseModel


class ContestModel(BaseModel):
    TABLE = "contests"

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = UnicodeAttribute(null=True)  # JSON document
    as_of = UnicodeAttribute(null=True)  # snapshot heads: ISO time of the ranking
    version = UnicodeAttribute(null=True)  # board heads: which pages are current
    pages = NumberAttribute(null=True)


class ContestStateModel(BaseModel):
    TABLE = "contest_state"

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(default=0)
    data = UnicodeAttribute(null=True)  # JSON document


class ContestCounterModel(BaseModel):
    TABLE = "contest_counters"

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # contest#round#partner#shard
    contest_id = UnicodeAttribute(null=True)
    round = NumberAttribute(null=True)
    partner_id = UnicodeAttribute(null=True)
    shard = NumberAttribute(null=True)
    merchants_onboarded = NumberAttribute(default=0)
    active_merchants = NumberAttribute(default=0)
    gmv_fen = NumberAttribute(default=0)
    new_members = NumberAttribute(default=0)
    counted_payments = NumberAttribute(default=0)


class PaymentRowsByMerchant(GlobalSecondaryIndex["PaymentRow"]):
    class Meta:
        index_name = "merchant_paid_index"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    paid_at = UTCDateTimeAttribute(range_key=True)


class PaymentRow(BaseModel):
    """Read-only view of a payments-table item (payment or refund) for settlement and audit."""

    TABLE = "payments"
    OWNS_TABLE = False

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute(null=True)
    merchant_id = UnicodeAttribute(null=True)
    partner_id = UnicodeAttribute(null=True)
    out_trade_no = UnicodeAttribute(null=True)
    buyer_id = UnicodeAttribute(null=True)
    amount_fen = NumberAttribute(null=True)
    refunded_fen = NumberAttribute(null=True)
    paid_at = UTCDateTimeAttribute(null=True)

    merchant_paid_index = PaymentRowsByMerchant()


MODELS: list[type[BaseModel]] = [ContestModel, ContestStateModel, ContestCounterModel, PaymentRow]

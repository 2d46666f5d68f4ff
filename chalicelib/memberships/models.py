"""PynamoDB models of plans and memberships."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.storage import BaseModel


def member_key(merchant_id: str, customer_id: str) -> str:
    return f"{merchant_id}#{customer_id}"


class PlansByMerchant(GlobalSecondaryIndex["PlanModel"]):
    class Meta:
        index_name = "merchant_index"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    plan_id = UnicodeAttribute(range_key=True)


class PlanModel(BaseModel):
    TABLE = "plans"

    class Meta(BaseModel.Meta):
        pass

    plan_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    fee_fen = NumberAttribute()
    period_days = NumberAttribute()
    discount_percent = NumberAttribute()
    max_discount_per_order_fen = NumberAttribute(null=True)
    refund_window_days = NumberAttribute()
    created_at = UTCDateTimeAttribute()

    merchant_index = PlansByMerchant()


class MembershipsByMember(GlobalSecondaryIndex["MembershipModel"]):
    """A customer's memberships at one merchant by start (savings lookup on each payment)."""

    class Meta:
        index_name = "member_index"
        projection = AllProjection()

    member_key = UnicodeAttribute(hash_key=True)
    starts_at = UTCDateTimeAttribute(range_key=True)


class MembershipsByCustomer(GlobalSecondaryIndex["MembershipModel"]):
    class Meta:
        index_name = "customer_index"
        projection = AllProjection()

    customer_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class MembershipsByPartner(GlobalSecondaryIndex["MembershipModel"]):
    """Memberships locked at a partner's merchants by time (contest `new_members`)."""

    class Meta:
        index_name = "partner_created_index"
        projection = AllProjection()

    partner_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class MembershipModel(BaseModel):
    TABLE = "memberships"

    class Meta(BaseModel.Meta):
        stream_view_type = "NEW_AND_OLD_IMAGES"  # feeds the contest counters (new_members)

    membership_id = UnicodeAttribute(hash_key=True)
    merchant_id = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    member_key = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    plan_name = UnicodeAttribute()
    status = UnicodeAttribute()  # active | expired | refunded | settled
    fee_fen = NumberAttribute()
    discount_percent = NumberAttribute()
    max_discount_per_order_fen = NumberAttribute(null=True)
    savings_fen = NumberAttribute(default=0)  # counted discounts net of reversals
    starts_at = UTCDateTimeAttribute()
    ends_at = UTCDateTimeAttribute()
    refund_deadline = UTCDateTimeAttribute()
    created_at = UTCDateTimeAttribute()
    refund_fen = NumberAttribute(null=True)
    refunded_at = UTCDateTimeAttribute(null=True)
    settled_at = UTCDateTimeAttribute(null=True)

    member_index = MembershipsByMember()
    customer_index = MembershipsByCustomer()
    partner_index = MembershipsByPartner()


MODELS: list[type[BaseModel]] = [PlanModel, MembershipModel]

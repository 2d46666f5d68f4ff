"""PynamoDB models of plans, memberships, their fee ledger and idempotency claims, and their keys."""

from __future__ import annotations

import hashlib

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.storage import BaseModel

DUE_SHARDS = 4  # hash keys of the sparse due_index: spreads the lifecycle job's reads


def member_key(merchant_id: str, customer_id: str) -> str:
    return f"{merchant_id}#{customer_id}"


def active_guard_key(merchant_id: str, customer_id: str) -> str:
    """The guard item (shared guards table) that exists exactly while the customer's membership
    there is `active`."""
    return f"active_member#{merchant_id}#{customer_id}"


def due_shard(membership_id: str) -> str:
    return f"due#{int(hashlib.sha256(membership_id.encode()).hexdigest(), 16) % DUE_SHARDS}"


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


class MembershipsDue(GlobalSecondaryIndex["MembershipModel"]):
    """Sparse index of memberships with a lifecycle step ahead: `due_at` is `ends_at` while
    active, `refund_deadline` while expired, or the time a pending provider call is retried.
    Final memberships leave it (both attributes removed), so the job never scans."""

    class Meta:
        index_name = "due_index"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class MembershipsByMerchant(GlobalSecondaryIndex["MembershipModel"]):
    """A merchant's memberships (dashboard member figures)."""

    class Meta:
        index_name = "merchant_index"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    starts_at = UTCDateTimeAttribute(range_key=True)


class MembershipsByCreation(GlobalSecondaryIndex["MembershipModel"]):
    """A merchant's memberships, newest first (its members list)."""

    class Meta:
        index_name = "merchant_created_index"
        projection = AllProjection()

    merchant_id = UnicodeAttribute(hash_key=True)
    list_order = UnicodeAttribute(range_key=True)


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
    list_order = UnicodeAttribute(null=True)  # `onboarding.domain.list_order(created_at, membership_id)`
    refund_fen = NumberAttribute(null=True)
    refunded_at = UTCDateTimeAttribute(null=True)
    settled_at = UTCDateTimeAttribute(null=True)
    # lifecycle (memberships area)
    due_shard = UnicodeAttribute(null=True)
    due_at = UTCDateTimeAttribute(null=True)
    provider_pending = UnicodeAttribute(null=True)  # "capture" | "refund" until the provider confirms
    provider_ref = UnicodeAttribute(null=True)  # the provider's reference of the fee freeze
    refund_key = UnicodeAttribute(null=True)  # the Idempotency-Key of the refund that happened

    member_index = MembershipsByMember()
    customer_index = MembershipsByCustomer()
    due_index = MembershipsDue()
    merchant_index = MembershipsByMerchant()
    merchant_created_index = MembershipsByCreation()
    partner_index = MembershipsByPartner()


class LedgerLine(MapAttribute):
    account = UnicodeAttribute()
    amount_fen = NumberAttribute()


class MembershipLedgerModel(BaseModel):
    """Double-entry fee movements of memberships; one entry per (membership, kind), written in
    the same transaction as the status change it records."""

    TABLE = "membership_ledger"

    class Meta(BaseModel.Meta):
        pass

    membership_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(range_key=True)  # LOCK | CAPTURE | REFUND
    merchant_id = UnicodeAttribute()
    lines = ListAttribute(of=LedgerLine)
    at = UTCDateTimeAttribute()


class IdempotencyRecordModel(BaseModel):
    """An `Idempotency-Key` claim, stored in the shared guards table (same key schema and TTL)."""

    TABLE = "guards"
    OWNS_TABLE = False

    class Meta(BaseModel.Meta):
        pass

    key = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    state = UnicodeAttribute(null=True)  # in_progress | done
    request_hash = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    response_status = NumberAttribute(null=True)
    response_body = UnicodeAttribute(null=True)


MODELS: list[type[BaseModel]] = [PlanModel, MembershipModel, MembershipLedgerModel, IdempotencyRecordModel]

"""What the membership routes answer on success, as the OpenAPI document declares it (the services
build these bodies as dicts; tests/document_check.py holds every answer the tests see to these
schemas). Extra fields may be added later: clients must tolerate them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, RootModel

MembershipStatus = Literal["active", "expired", "refunded", "settled"]  # chalicelib.memberships.domain.STATUSES
NextCursor = Annotated[str | None, Field(description="pass as `cursor` for the next page; null on the last")]
FeeFen = Annotated[int, Field(ge=100, le=100_000, description="the fee the customer locks in")]
DiscountPercent = Annotated[int, Field(ge=1, le=50)]
MaxDiscount = Annotated[int | None, Field(ge=1, description="the cap of one order's discount; null: none")]
Savings = Annotated[int, Field(ge=0)]


# ---------------------------------------------------------------- plans


class Plan(BaseModel):
    """A merchant's membership plan."""

    plan_id: str
    merchant_id: str
    name: str
    fee_fen: FeeFen
    period_days: int = Field(ge=7, le=366)
    discount_percent: DiscountPercent
    max_discount_per_order_fen: MaxDiscount
    refund_window_days: int = Field(ge=1, le=30, description="days after the period to ask for the shortfall")
    created_at: dt.datetime


class PlanList(BaseModel):
    """A merchant's plans, oldest first."""

    plans: list[Plan]


# ---------------------------------------------------------------- memberships


class Membership(BaseModel):
    """A customer's membership at a merchant, with its status as the business clock says it is."""

    membership_id: str
    merchant_id: str
    plan_id: str
    plan_name: str
    customer_id: str = Field(description="the platform's user id of the member")
    status: MembershipStatus
    fee_fen: FeeFen
    discount_percent: DiscountPercent
    max_discount_per_order_fen: MaxDiscount
    savings_fen: Savings = Field(description="member discounts counted so far (net of payments' refunds)")
    starts_at: dt.datetime
    ends_at: dt.datetime
    refund_deadline: dt.datetime = Field(description="the end of the refund window (`ends_at` + the plan's window)")
    refundable_fen: int = Field(ge=0, le=100_000, description="what a refund would return now; 0 when refused")
    refund_fen: int | None = Field(ge=0, le=100_000, description="what the refund returned; null until refunded")


class MembershipPage(BaseModel):
    """One page of a merchant's memberships, newest first."""

    memberships: list[Membership]
    next_cursor: NextCursor


class MyMemberships(BaseModel):
    """The calling customer's memberships, newest first."""

    memberships: list[Membership]


class MembershipRefund(BaseModel):
    """A refund of a membership's shortfall (`fee_fen − savings_fen`)."""

    membership_id: str
    status: Literal["refunded"]
    refund_fen: int = Field(ge=0, le=100_000)


# ---------------------------------------------------------------- savings statement


class SavingsEntry(BaseModel):
    """A payment that counted savings for the membership."""

    payment_id: str
    out_trade_no: str
    paid_at: dt.datetime
    discount_fen: int = Field(ge=0, description="the discount the payment carried")
    savings_fen: Savings = Field(description="what it counts now, net of what its refunds reversed")
    confirmed: bool = Field(description="whether a payment platform confirmed the payment")


class SavingsStatement(BaseModel):
    """Every payment that counted savings for a membership, oldest first; `savings_fen` is their sum."""

    membership_id: str
    savings_fen: Savings
    entries: list[SavingsEntry]


# ---------------------------------------------------------------- the terminal's offer


class MembershipOffer(BaseModel):
    """The plan to offer a non-member: the one that would have saved them most lately."""

    plan_id: str
    name: str
    fee_fen: FeeFen
    discount_percent: DiscountPercent
    estimated_savings_fen: Savings = Field(
        description="what the buyer's payments of the plan's last `period_days` would have saved")
    period_days: int = Field(ge=7, le=366)
    max_discount_per_order_fen: MaxDiscount


class MemberPrice(BaseModel):
    """The buyer is a member: the price after the member discount."""

    member: Literal[True]
    membership_id: str
    discount_fen: int = Field(ge=0)
    payable_fen: int = Field(ge=0, description="`amount_fen` − `discount_fen`")
    membership_offer: None


class NonMemberPrice(BaseModel):
    """The buyer is not a member: the full price, and a plan to offer if the merchant has any."""

    member: Literal[False]
    membership_id: None
    discount_fen: Literal[0]
    payable_fen: int = Field(ge=1, description="`amount_fen`, undiscounted")
    membership_offer: MembershipOffer | None = Field(description="null when the merchant has no plan")


class Offer(RootModel[MemberPrice | NonMemberPrice]):
    """What the big screen shows before the buyer pays: a member's discount, or a plan to offer."""

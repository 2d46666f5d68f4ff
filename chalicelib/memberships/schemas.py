"""Request bodies of the membership endpoints."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chalicelib.schemas import Body, Id, Name


class CreatePlan(Body):
    name: Name
    fee_fen: Annotated[int, Field(ge=100, le=100_000)]
    period_days: Annotated[int, Field(ge=7, le=366)] = 30
    discount_percent: Annotated[int, Field(ge=1, le=50)]
    max_discount_per_order_fen: Annotated[int, Field(ge=1, le=10**9)] | None = None
    refund_window_days: Annotated[int, Field(ge=1, le=30)] = 7


class LockIn(Body):
    plan_id: Id


class RefundRequest(Body):
    """Empty: the amount is the shortfall at the moment of the refund."""


class OfferRequest(Body):
    buyer_id: Annotated[str, Field(min_length=1, max_length=128)]
    amount_fen: Annotated[int, Field(ge=1, le=10**9)]

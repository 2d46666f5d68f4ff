"""What the payments routes answer on success, as the OpenAPI document declares it (the services
build these bodies as dicts; tests/document_check.py holds every answer the tests see to these
schemas). Extra fields may be added later: clients must tolerate them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from chalicelib.payments.limits import MAX_AMOUNT_FEN

NonNegative = Annotated[int, Field(ge=0)]
AmountFen = Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)]
Channel = Literal["terminal", "alipay", "wechatpay"]
# chalicelib.payments.domain's FLAG_* (tests/unit/test_openapi_responses_payments.py keeps them equal)
Flag = Literal["discount_not_entitled", "discount_over_allowance", "membership_closed", "platform_conflict",
               "platform_refund_exceeds_terminals"]


def _absent_by_default(schema: dict[str, Any]) -> None:
    """A field that is absent, not empty, when it does not apply: no `default` in its schema."""
    schema.pop("default", None)


# ---------------------------------------------------------------- terminal callbacks


class PaymentRecorded(BaseModel):
    """A terminal's payment report, recorded (or recognised as already recorded)."""

    payment_id: str
    duplicate: bool = Field(description="the same out_trade_no with the same content was already recorded; "
                                        "nothing changed")
    member_savings_fen: NonNegative = Field(description="what this payment's discount counted as member savings")


class RefundRecorded(BaseModel):
    """A terminal's refund report, recorded (or recognised as already recorded by its out_request_no)."""

    refund_id: str
    duplicate: bool = Field(description="this out_request_no was already recorded with this amount")
    refunded_total_fen: NonNegative = Field(description="the payment's refunded total, this refund included")


# ---------------------------------------------------------------- dashboard


class Figures(BaseModel):
    """A merchant's aggregates over a business day or month."""

    gmv_fen: int = Field(description="payments minus the refunds recorded in the period (may be negative)")
    payments: NonNegative
    refunds_fen: NonNegative
    customers: NonNegative = Field(description="distinct buyers")


class MembersSummary(BaseModel):
    """The merchant's memberships active now."""

    active: NonNegative
    locked_fees_fen: NonNegative
    savings_fen: NonNegative


class Dashboard(BaseModel):
    """A merchant's figures for a business day and its month, and its active memberships."""

    date: dt.date = Field(description="the business day shown (today on the business clock by default)")
    day: Figures
    month: Figures = Field(description="the calendar month of `date`, up to now")
    members: MembersSummary


class SeriesDay(Figures):
    """One business day of a series: the dashboard's `day` figures of that date."""

    date: dt.date


class DashboardSeries(BaseModel):
    """Every business day from `from` to `to`, ascending, zeros included."""

    days: list[SeriesDay] = Field(min_length=1, max_length=92)


# ---------------------------------------------------------------- callback log


class CallbackEntry(BaseModel):
    """One callback as received (body and non-secret headers, bounded) and what became of it."""

    received: str = Field(description="the log's sort key: `<received_at>#<random>`")
    received_at: dt.datetime
    channel: Channel
    source: Channel = Field(description="the same as `channel` (older name)")
    merchant_id: str | None = Field(description="null when nothing tied the callback to a merchant")
    path: str
    status: int = Field(ge=100, le=599, description="the HTTP status it was answered with")
    code: str | None = Field(description="the error code it was answered with; null when accepted")
    outcome: Literal["recorded", "duplicate", "ignored", "rejected", "failed"]
    terminal_id: str | None
    out_trade_no: str | None
    headers: dict[str, str] = Field(description="the non-secret headers kept (signatures cut to 8 characters)")
    body: str = Field(description="the body as received, up to 16 KiB (512 bytes when unauthenticated)")
    body_bytes: NonNegative = Field(description="the size of the whole body")
    body_sha256: str = Field(default="", pattern="^[0-9a-f]{64}$", json_schema_extra=_absent_by_default,
                             description="SHA-256 of the whole body; only present where just a prefix is kept")


class CallbackPage(BaseModel):
    """A page of the callback log, newest first."""

    callbacks: list[CallbackEntry]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


# ---------------------------------------------------------------- payments


class Payment(BaseModel):
    """A recorded payment as its merchant, partner or an admin reads it."""

    payment_id: str
    out_trade_no: str = Field(pattern="^[A-Za-z0-9_-]{1,64}$")
    trade_no: str | None = Field(description="the platform's trade number, where a channel gave one")
    amount_fen: AmountFen = Field(description="what the buyer paid")
    discount_fen: NonNegative = Field(description="the member discount the terminal applied")
    buyer_id: str
    paid_at: dt.datetime = Field(description="as first recorded; the business day counts by it")
    platform_paid_at: dt.datetime | None = Field(description="the platform's payment time; null until confirmed")
    refunded_fen: NonNegative
    member_savings_fen: NonNegative = Field(description="what the discount counted as member savings when recorded")
    savings_reversed_fen: NonNegative = Field(description="of `member_savings_fen`, what refunds took back since")
    channels: list[Channel] = Field(min_length=1, description="who reported this payment")
    confirmed: bool = Field(description="a payment platform confirmed it (through a verified binding)")
    confirmed_at: dt.datetime | None
    flags: list[Flag] = Field(description="what is doubtful about it (recorded, counted as the rules say)")


class PaymentPage(BaseModel):
    """A page of a merchant's payments of one business day, latest `paid_at` first."""

    payments: list[Payment]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")

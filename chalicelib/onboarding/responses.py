"""What the onboarding routes answer on success, as the OpenAPI document declares it (the services
build these bodies as dicts; tests/document_check.py holds every answer the tests see to these
schemas). Extra fields may be added later: clients must tolerate them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from chalicelib.onboarding.domain import Category, TerminalKind
from chalicelib.onboarding.platforms import ANY_PLATFORM_ID_PATTERN, PLATFORM_ID_FORMATS

Platform = Literal["alipay", "wechatpay"]  # chalicelib.onboarding.platforms.PLATFORMS
NextCursor = Annotated[str | None, Field(description="pass as `cursor` for the next page; null on the last")]


# ---------------------------------------------------------------- partners


class Partner(BaseModel):
    """A partner (payment service provider) that onboards merchants."""

    partner_id: str
    name: str
    created_at: dt.datetime


class PartnerPage(BaseModel):
    """One page of partners, newest first."""

    partners: list[Partner]
    next_cursor: NextCursor


# ---------------------------------------------------------------- merchants and stores


class Store(BaseModel):
    """A store of a merchant."""

    store_id: str
    name: str
    address: str | None


class Binding(BaseModel):
    """A merchant's id on a payment platform: a claim (`verified: false`, typed into the merchant's
    body) or verified (by an admin, or the merchant's own authorization on the platform)."""

    platform: Platform
    id: str = Field(pattern=ANY_PLATFORM_ID_PATTERN,
                    description=f"the merchant's id on `platform` ({PLATFORM_ID_FORMATS})")
    verified: bool
    verified_at: dt.datetime | None = Field(description="when first verified; null for a claim")


class Merchant(BaseModel):
    """A merchant with its stores and the platform bindings it holds (claimed or verified)."""

    merchant_id: str
    partner_id: str
    name: str
    category: Category
    city: str | None
    created_at: dt.datetime
    stores: list[Store]
    bindings: list[Binding] = Field(description="at most one per platform, alipay first")


class MerchantPage(BaseModel):
    """One page of a partner's merchants, newest first."""

    merchants: list[Merchant]
    next_cursor: NextCursor


class MerchantCreated(BaseModel):
    """A merchant just onboarded, with its stores; the platform ids of its body are claims."""

    merchant_id: str
    partner_id: str
    name: str
    category: Category
    city: str | None
    alipay_seller_id: str | None = Field(description="claimed, as sent; null when not sent")
    wechat_sub_mchid: str | None = Field(description="claimed, as sent; null when not sent")
    created_at: dt.datetime
    stores: list[Store] = Field(min_length=1, description="in the order sent")


# ---------------------------------------------------------------- terminals


class Terminal(BaseModel):
    """A terminal as its merchant's list shows it (never its secret)."""

    terminal_id: str
    store_id: str
    kind: TerminalKind
    revoked: bool
    created_at: dt.datetime


class TerminalList(BaseModel):
    """A merchant's terminals, revoked ones included, newest first."""

    terminals: list[Terminal]


class TerminalRegistered(BaseModel):
    """A terminal just registered, with the secret it signs its requests with."""

    terminal_id: str
    store_id: str
    kind: TerminalKind
    secret: str = Field(min_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                        description="the HMAC key of the terminal's signatures; shown only here")


class TerminalIdentity(BaseModel):
    """Who a signed terminal request came from."""

    terminal_id: str
    store_id: str
    merchant_id: str


# ---------------------------------------------------------------- the public store page


class StoreMerchant(BaseModel):
    """The merchant a public store page belongs to."""

    merchant_id: str
    name: str
    category: Category


class PublicPlan(BaseModel):
    """A membership plan as the public store page offers it."""

    plan_id: str
    merchant_id: str
    name: str
    fee_fen: int = Field(ge=100, le=100_000, description="the fee the customer locks in")
    period_days: int = Field(ge=7, le=366)
    discount_percent: int = Field(ge=1, le=50)
    max_discount_per_order_fen: int | None = Field(ge=1, description="the cap of one order's discount; null: none")
    refund_window_days: int = Field(ge=1, le=30, description="days after the period to ask for the shortfall")


class StorePage(BaseModel):
    """The public cloud-store page: the store, its merchant and the merchant's plans."""

    store_id: str
    name: str
    address: str | None
    merchant: StoreMerchant
    plans: list[PublicPlan]

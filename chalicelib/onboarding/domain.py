"""Partners, merchants, stores and terminals: plain data, no AWS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from chalicelib.cursors import list_order  # noqa: F401 - this area's lists use it (re-exported)
from chalicelib.errors import Conflict
from chalicelib.onboarding.platforms import ALIPAY, PLATFORM_ID_PATTERNS, PLATFORMS, WECHATPAY  # noqa: F401

Category = Literal["retail", "restaurant", "services", "other"]

TerminalKind = Literal["qr", "face", "pos"]


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Store:
    store_id: str
    merchant_id: str
    name: str
    address: str | None = None


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    partner_id: str
    name: str
    category: str
    created_at: datetime
    city: str | None = None
    alipay_seller_id: str | None = None
    wechat_sub_mchid: str | None = None

    def platform_id(self, platform: str) -> str | None:
        """The id this merchant holds (claimed or verified) on a payment platform."""
        return self.alipay_seller_id if platform == ALIPAY else self.wechat_sub_mchid


@dataclass(frozen=True)
class Terminal:
    terminal_id: str
    merchant_id: str
    partner_id: str
    store_id: str
    kind: str
    secret: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class TerminalInfo:
    """A terminal as its merchant's list shows it: never its secret (the list's index does not
    even project it)."""

    terminal_id: str
    merchant_id: str
    store_id: str
    kind: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class ListPosition:
    """Where a page ends: the last item's `list_order` and id (its table key)."""

    order: str
    item_id: str


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and whether more follow."""

    items: tuple[T, ...]
    more: bool


@dataclass(frozen=True)
class TerminalIdentity:
    """An authenticated terminal request: which terminal, store, merchant and partner."""

    terminal_id: str
    store_id: str
    merchant_id: str
    partner_id: str
    nonce: str


@dataclass(frozen=True)
class TerminalGuard:
    """A terminal request's nonce, to be claimed with the request's effects (wall clock `at`)."""

    terminal_id: str
    nonce: str
    at: datetime


def nonce_free(expires_at: datetime | None, now: datetime) -> bool:
    """A nonce may be claimed when never seen or its claim expired (TTL deletion is lazy, so an
    expired claim may still be stored; the DynamoDB conditions say the same)."""
    return expires_at is None or expires_at < now


@dataclass(frozen=True)
class Binding:
    """A merchant's id on a payment platform: a claim (typed in by a partner) until an admin or the
    platform's own authorization verifies it. Notifications route by it, claimed or verified;
    only a verified one makes the platform's word confirm payments."""

    platform: str
    platform_id: str
    merchant_id: str
    partner_id: str
    claimed_at: datetime
    verified_at: datetime | None = None

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


def may_hold(current: Binding | None, merchant_id: str, *, verifying: bool) -> bool:
    """The binding rules in one place (contract, "Binding rules in one place"): an id nobody holds
    may be claimed or verified; the holder may claim or verify its own id again; a verified id
    stays with its merchant; verifying an id another merchant only claims moves it."""
    if current is None or current.merchant_id == merchant_id:
        return True
    return verifying and not current.verified


@dataclass(frozen=True)
class BindingChange:
    """What verifying a binding does: the binding afterwards, the merchant it is taken from (a claim
    moved) and the merchant's previous id on the platform that is released."""

    binding: Binding
    moved_from: str | None = None
    released: str | None = None


def verification(current: Binding | None, merchant: Merchant, platform: str, platform_id: str,
                 at: datetime) -> BindingChange:
    """Verifying `platform_id` for `merchant`, given who holds it now (`current`) and the id the
    merchant holds on that platform: `Conflict(platform_id_taken)` when another merchant holds it
    verified. Verifying again keeps the first verification time."""
    if not may_hold(current, merchant.merchant_id, verifying=True):
        raise Conflict(f"{platform} id {platform_id} is verified for another merchant", code="platform_id_taken")
    moved_from = current.merchant_id if current and current.merchant_id != merchant.merchant_id else None
    kept = current if current and not moved_from else None
    binding = Binding(platform, platform_id, merchant.merchant_id, merchant.partner_id,
                      kept.claimed_at if kept else at, kept.verified_at if kept and kept.verified else at)
    held = merchant.platform_id(platform)
    return BindingChange(binding, moved_from, held if held not in (None, platform_id) else None)

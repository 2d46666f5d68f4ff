"""Partners, merchants, stores and terminals: plain data, no AWS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

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

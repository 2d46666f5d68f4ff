"""The onboarding area's ports: its repository, and what it offers other areas. No AWS here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from chalicelib.onboarding.domain import (
    Binding,
    BindingChange,
    ListPosition,
    Merchant,
    Page,
    Partner,
    Store,
    Terminal,
    TerminalInfo,
)


class PartnerDirectory(Protocol):
    """Who the partners are and which merchants they onboarded (the contest reads this)."""

    def partner_names(self, partner_ids: Iterable[str]) -> dict[str, str]: ...
    def all_partner_ids(self) -> list[str]: ...
    def merchants_of(self, partner_ids: Iterable[str]) -> list[str]: ...


class OnboardingRepository(PartnerDirectory, Protocol):
    """Storage of the onboarding area (its adapter also serves the `PartnerDirectory`)."""

    def add_partner(self, partner: Partner) -> None: ...
    def get_partner(self, partner_id: str) -> Partner | None: ...
    def list_partners(self) -> list[Partner]: ...
    def partners_page(self, limit: int, after: ListPosition | None) -> Page[Partner]:
        """Up to `limit` partners, newest first (`domain.list_order` descending), after `after`."""
    def add_merchant(self, merchant: Merchant, stores: Sequence[Store], at: datetime) -> None:
        """Atomically, with the platform ids of the merchant as claims: `Conflict(seller_id_taken)`
        when its Alipay seller id, `Conflict(platform_id_taken)` when its WeChat Pay id is held."""
    def get_merchant(self, merchant_id: str) -> Merchant | None: ...
    def merchant_by_seller(self, seller_id: str) -> Merchant | None:
        """The merchant holding this Alipay seller id (claimed or verified)."""
    def get_binding(self, platform: str, platform_id: str) -> Binding | None:
        """Who holds this platform id (read consistently)."""
    def verify_binding(self, merchant: Merchant, platform: str, platform_id: str, at: datetime) -> BindingChange:
        """Make `platform_id` the merchant's verified id on `platform` (replacing its previous one,
        taking it from a merchant that only claims it), atomically; `Conflict(platform_id_taken)`
        when another merchant holds it verified."""
    def delete_binding(self, merchant: Merchant, platform: str) -> Binding | None:
        """Release the merchant's id on `platform`; the binding released, if any."""
    def list_merchants(self, partner_id: str) -> list[Merchant]: ...
    def merchants_page(self, partner_id: str, limit: int, after: ListPosition | None) -> Page[Merchant]:
        """Up to `limit` of the partner's merchants, newest first, after `after`."""
    def get_store(self, store_id: str) -> Store | None: ...
    def list_stores(self, merchant_id: str) -> list[Store]: ...
    def stores_of(self, merchant_ids: Iterable[str]) -> dict[str, list[Store]]:
        """Each merchant's stores (in `list_stores` order); every merchant asked for is a key."""
    def bindings_of(self, keys: Iterable[tuple[str, str]]) -> list[Binding]:
        """The bindings of these (platform, platform id) pairs that exist (read eventually
        consistently: for display, never for routing)."""
    def add_terminal(self, terminal: Terminal) -> None: ...
    def get_terminal(self, terminal_id: str) -> Terminal | None: ...
    def terminals_of(self, merchant_id: str) -> list[TerminalInfo]:
        """The merchant's terminals, revoked ones included, newest first; never their secrets."""
    def revoke_terminal(self, terminal_id: str, at: datetime) -> None: ...
    def claim_nonce(self, terminal_id: str, nonce: str, now: datetime, ttl_seconds: int) -> bool:
        """True if this nonce was not seen from this terminal within the TTL (and claim it)."""


def nonce_key(terminal_id: str, nonce: str) -> str:
    return f"nonce#{terminal_id}#{nonce}"


def binding_key(platform: str, platform_id: str) -> str:
    return f"{platform}#{platform_id}"

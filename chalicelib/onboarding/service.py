"""Use cases of onboarding: partners, merchants with their stores, terminals, and the
authentication of terminal requests."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.admin_trail.ports import AdminTrail
from chalicelib.auth import NONCE_TTL_SECONDS, Principal, SignedRequest, verify_signature
from chalicelib.clock import Clock, iso
from chalicelib.errors import Invalid, NotFound, Unauthorized
from chalicelib.ids import new_id, new_secret
from chalicelib.onboarding.domain import (
    PLATFORM_ID_PATTERNS,
    PLATFORMS,
    Binding,
    Merchant,
    Partner,
    Store,
    Terminal,
    TerminalIdentity,
)
from chalicelib.onboarding.ports import BindingChange, OnboardingRepository
from chalicelib.onboarding.schemas import CreateMerchant, CreatePartner, CreateTerminal, PutBinding
from chalicelib.schemas import parse_body

PlanLister = Callable[[str], list[dict[str, Any]]]


class OnboardingService:
    def __init__(self, repo: OnboardingRepository, clock: Clock, plans: PlanLister | None = None,
                 trail: AdminTrail | None = None) -> None:
        self.repo = repo
        self.clock = clock
        self.trail = trail
        self._plans = plans or (lambda merchant_id: [])

    # -- partners
    def create_partner(self, who: Principal, raw: bytes) -> dict[str, Any]:
        name = parse_body(CreatePartner, raw).name
        who.require_role("admin")
        partner = Partner(new_id("ptn"), name, self.clock.now())
        self.repo.add_partner(partner)
        return {"partner_id": partner.partner_id, "name": partner.name, "created_at": iso(partner.created_at)}

    def partner(self, partner_id: str) -> Partner:
        partner = self.repo.get_partner(partner_id)
        if partner is None:
            raise NotFound(f"no partner {partner_id}", code="partner_not_found")
        return partner

    # -- merchants
    def create_merchant(self, who: Principal, partner_id: str, raw: bytes) -> dict[str, Any]:
        body = parse_body(CreateMerchant, raw)
        who.require_role("admin", "partner")
        who.require_partner(partner_id)
        self.partner(partner_id)
        merchant = Merchant(
            merchant_id=new_id("mch"), partner_id=partner_id, name=body.name, category=body.category,
            created_at=self.clock.now(), city=body.city, alipay_seller_id=body.alipay_seller_id,
            wechat_sub_mchid=body.wechat_sub_mchid,
        )
        stores = [Store(new_id("sto"), merchant.merchant_id, s.name, s.address) for s in body.stores]
        self.repo.add_merchant(merchant, stores, merchant.created_at)
        return {
            "merchant_id": merchant.merchant_id,
            "partner_id": partner_id,
            "name": merchant.name,
            "category": merchant.category,
            "city": merchant.city,
            "alipay_seller_id": merchant.alipay_seller_id,
            "wechat_sub_mchid": merchant.wechat_sub_mchid,
            "created_at": iso(merchant.created_at),
            "stores": [{"store_id": s.store_id, "name": s.name, "address": s.address} for s in stores],
        }

    def merchant(self, merchant_id: str) -> Merchant:
        merchant = self.repo.get_merchant(merchant_id)
        if merchant is None:
            raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
        return merchant

    def merchant_by_seller(self, seller_id: str) -> Merchant | None:
        """The merchant an Alipay seller id belongs to, if any."""
        return self.repo.merchant_by_seller(seller_id)

    # -- platform bindings
    def binding(self, platform: str, platform_id: str) -> Binding | None:
        """Who holds a platform id, claimed or verified (notifications route by it)."""
        return self.repo.get_binding(platform, platform_id)

    @staticmethod
    def _platform(platform: str) -> str:
        if platform not in PLATFORMS:
            raise NotFound(f"no platform {platform!r} (alipay, wechatpay)", code="not_found")
        return platform

    def verify_binding(self, who: Principal, merchant_id: str, platform: str, raw: bytes) -> BindingChange:
        """An admin verifies a merchant's platform id (taking it from a mere claim elsewhere)."""
        body = parse_body(PutBinding, raw)
        who.require_role("admin")
        return self._verify(who, merchant_id, platform, body.id, "merchant.binding_verify")

    def verify_by_platform(self, who: Principal, merchant_id: str, platform: str, platform_id: str) -> BindingChange:
        """The platform proved `platform_id` is the merchant's (its owner authorized our app there,
        and the platform named the id): verified like an admin's verification, by `who` — the
        partner or admin that asked, or the shop owner's redirect — and in the trail as such."""
        return self._verify(who, merchant_id, platform, platform_id, "merchant.binding_authorize")

    def _verify(self, who: Principal, merchant_id: str, platform: str, platform_id: str, action: str) -> BindingChange:
        platform = self._platform(platform)
        if not re.fullmatch(PLATFORM_ID_PATTERNS[platform], platform_id):
            raise Invalid(f"not a {platform} merchant id", code="invalid_value")
        merchant = self.merchant(merchant_id)
        change = self.repo.verify_binding(merchant, platform, platform_id, self.clock.now())
        what = {"platform": platform, "id": platform_id, "moved_from": change.moved_from, "released": change.released}
        self._trail(who, action, merchant_id, what)
        if change.moved_from is not None:
            self._trail(who, "merchant.binding_move", merchant_id, {**what, "from_merchant_id": change.moved_from})
        return change

    def delete_binding(self, who: Principal, merchant_id: str, platform: str) -> None:
        """An admin releases a merchant's platform id (confirmations already recorded stay)."""
        who.require_role("admin")
        platform = self._platform(platform)
        released = self.repo.delete_binding(self.merchant(merchant_id), platform)
        if released is not None:
            self._trail(who, "merchant.binding_delete", merchant_id, {"platform": platform, "id": released.platform_id,
                                                             "was_verified": released.verified})

    def _trail(self, who: Principal, action: str, merchant_id: str, what: dict[str, Any]) -> None:
        if self.trail is not None:
            self.trail.append(self.clock.now(), who.sub, who.role, action, merchant_id, what)

    def merchant_for(self, who: Principal, merchant_id: str) -> Merchant:
        """The merchant, if `who` may act on it (404 when missing, 403 for another tenant)."""
        merchant = self.merchant(merchant_id)
        who.require_merchant(merchant.merchant_id, merchant.partner_id)
        return merchant

    # -- terminals
    def create_terminal(self, who: Principal, merchant_id: str, raw: bytes) -> dict[str, Any]:
        body = parse_body(CreateTerminal, raw)
        merchant = self.merchant_for(who, merchant_id)
        store = self.repo.get_store(body.store_id)
        if store is None or store.merchant_id != merchant.merchant_id:
            raise NotFound(f"no store {body.store_id} at this merchant", code="store_not_found")
        terminal = Terminal(
            terminal_id=new_id("tml"), merchant_id=merchant.merchant_id, partner_id=merchant.partner_id,
            store_id=store.store_id, kind=body.kind, secret=new_secret(), created_at=self.clock.now(),
        )
        self.repo.add_terminal(terminal)
        return {"terminal_id": terminal.terminal_id, "store_id": store.store_id, "kind": terminal.kind,
                "secret": terminal.secret}

    def revoke_terminal(self, who: Principal, terminal_id: str) -> None:
        terminal = self.repo.get_terminal(terminal_id)
        if terminal is None:
            raise NotFound(f"no terminal {terminal_id}", code="terminal_not_found")
        who.require_merchant(terminal.merchant_id, terminal.partner_id)
        self.repo.revoke_terminal(terminal_id, self.clock.now())

    # -- the public cloud-store page
    def store_page(self, store_id: str) -> dict[str, Any]:
        store = self.repo.get_store(store_id)
        if store is None:
            raise NotFound(f"no store {store_id}", code="store_not_found")
        merchant = self.merchant(store.merchant_id)
        return {
            "store_id": store.store_id,
            "name": store.name,
            "address": store.address,
            "merchant": {"merchant_id": merchant.merchant_id, "name": merchant.name,
                         "category": merchant.category},
            "plans": self._plans(merchant.merchant_id),
        }


class TerminalAuthenticator:
    """Checks a terminal request: known, signature valid, not revoked, nonce fresh."""

    def __init__(self, repo: OnboardingRepository) -> None:
        self.repo = repo

    def authenticate(self, signed: SignedRequest, method: str, path: str, body: bytes) -> TerminalIdentity:
        terminal = self.repo.get_terminal(signed.terminal_id)
        if terminal is None:
            raise Unauthorized("unknown terminal", code="unknown_terminal")
        verify_signature(signed, terminal.secret, method, path, body)
        if terminal.revoked:
            raise Unauthorized("terminal revoked", code="terminal_revoked")
        # Replay protection is about real time, like the timestamp window: the wall clock.
        if not self.repo.claim_nonce(terminal.terminal_id, signed.nonce, datetime.now(UTC), NONCE_TTL_SECONDS):
            raise Unauthorized("nonce already used", code="replayed_nonce")
        return TerminalIdentity(terminal.terminal_id, terminal.store_id, terminal.merchant_id,
                                terminal.partner_id, signed.nonce)

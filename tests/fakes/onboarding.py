"""In-memory fakes of the onboarding adapters (see tests/integration/test_onboarding_repository.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from chalicelib.auth import NONCE_TTL_SECONDS
from chalicelib.errors import Conflict
from chalicelib.onboarding.domain import (
    ALIPAY,
    PLATFORMS,
    Binding,
    BindingChange,
    ListPosition,
    Merchant,
    Page,
    Partner,
    Store,
    Terminal,
    TerminalGuard,
    TerminalInfo,
    list_order,
    nonce_free,
    verification,
)
from chalicelib.onboarding.ports import binding_key, nonce_key
from tests.fakes.tx import FakeTx

T = TypeVar("T")


def _page(items: Iterable[T], order: Callable[[T], str], limit: int, after: ListPosition | None) -> Page[T]:
    """Newest first by `list_order`, after `after`, `limit` at a time (as the index queries do)."""
    ranked = sorted(items, key=order, reverse=True)
    if after is not None:
        ranked = [i for i in ranked if order(i) < after.order]
    return Page(tuple(ranked[:limit]), more=len(ranked) > limit)


class InMemoryOnboardingRepository:
    def __init__(self) -> None:
        self.partners: dict[str, Partner] = {}
        self.merchants: dict[str, Merchant] = {}
        self.stores: dict[str, Store] = {}
        self.terminals: dict[str, Terminal] = {}
        self.guards: dict[str, datetime | None] = {}
        self.bindings: dict[str, Binding] = {}
        self._lock = threading.Lock()

    def add_partner(self, partner: Partner) -> None:
        with self._lock:
            if partner.partner_id in self.partners:
                raise Conflict("partner exists", code="partner_exists")
            self.partners[partner.partner_id] = partner

    def get_partner(self, partner_id: str) -> Partner | None:
        return self.partners.get(partner_id)

    def list_partners(self) -> list[Partner]:
        return list(self.partners.values())

    def partners_page(self, limit: int, after: ListPosition | None) -> Page[Partner]:
        with self._lock:
            held = list(self.partners.values())
        return _page(held, lambda p: list_order(p.created_at, p.partner_id), limit, after)

    def add_merchant(self, merchant: Merchant, stores: Sequence[Store], at: datetime) -> None:
        with self._lock:
            claims = [(p, merchant.platform_id(p)) for p in PLATFORMS if merchant.platform_id(p)]
            for platform, pid in claims:
                if binding_key(platform, str(pid)) in self.bindings:
                    if platform == ALIPAY:
                        raise Conflict("alipay_seller_id is already registered", code="seller_id_taken")
                    raise Conflict("wechat_sub_mchid is already registered", code="platform_id_taken")
            for platform, pid in claims:
                self.bindings[binding_key(platform, str(pid))] = Binding(
                    platform, str(pid), merchant.merchant_id, merchant.partner_id, at)
            self.merchants[merchant.merchant_id] = merchant
            for s in stores:
                self.stores[s.store_id] = s

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        return self.merchants.get(merchant_id)

    def merchant_by_seller(self, seller_id: str) -> Merchant | None:
        binding = self.get_binding(ALIPAY, seller_id)
        return self.merchants.get(binding.merchant_id) if binding else None

    def get_binding(self, platform: str, platform_id: str) -> Binding | None:
        return self.bindings.get(binding_key(platform, platform_id))

    def verify_binding(self, merchant: Merchant, platform: str, platform_id: str, at: datetime) -> BindingChange:
        with self._lock:
            holder = self.merchants[merchant.merchant_id]
            change = verification(self.get_binding(platform, platform_id), holder, platform, platform_id, at)
            old, moved_from, binding = holder.platform_id(platform), change.moved_from, change.binding
            if old is not None and old != platform_id:
                self.bindings.pop(binding_key(platform, old), None)
            self.bindings[binding_key(platform, platform_id)] = binding
            self.merchants[merchant.merchant_id] = _holding(holder, platform, platform_id)
            if moved_from is not None:
                self.merchants[moved_from] = _holding(self.merchants[moved_from], platform, None)
            return change

    def delete_binding(self, merchant: Merchant, platform: str) -> Binding | None:
        with self._lock:
            holder = self.merchants[merchant.merchant_id]
            held = holder.platform_id(platform)
            if held is None:
                return None
            current = self.bindings.get(binding_key(platform, held))
            mine = current is not None and current.merchant_id == merchant.merchant_id
            if mine:
                del self.bindings[binding_key(platform, held)]
            self.merchants[merchant.merchant_id] = _holding(holder, platform, None)
            return current if mine else None

    def merchants_page(self, partner_id: str, limit: int, after: ListPosition | None) -> Page[Merchant]:
        with self._lock:
            held = [m for m in self.merchants.values() if m.partner_id == partner_id]
        return _page(held, lambda m: list_order(m.created_at, m.merchant_id), limit, after)

    def list_merchants(self, partner_id: str) -> list[Merchant]:
        return sorted((m for m in self.merchants.values() if m.partner_id == partner_id),
                      key=lambda m: m.merchant_id)

    def get_store(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)

    def list_stores(self, merchant_id: str) -> list[Store]:
        return sorted((s for s in self.stores.values() if s.merchant_id == merchant_id), key=lambda s: s.store_id)

    def stores_of(self, merchant_ids: Iterable[str]) -> dict[str, list[Store]]:
        return {mid: self.list_stores(mid) for mid in set(merchant_ids)}

    def bindings_of(self, keys: Iterable[tuple[str, str]]) -> list[Binding]:
        with self._lock:
            return [b for b in (self.bindings.get(binding_key(p, pid)) for p, pid in set(keys)) if b is not None]

    def add_terminal(self, terminal: Terminal) -> None:
        with self._lock:
            if terminal.terminal_id in self.terminals:
                raise Conflict("terminal exists", code="terminal_exists")
            self.terminals[terminal.terminal_id] = terminal

    def get_terminal(self, terminal_id: str) -> Terminal | None:
        return self.terminals.get(terminal_id)

    def terminals_of(self, merchant_id: str) -> list[TerminalInfo]:
        with self._lock:
            held = [t for t in self.terminals.values() if t.merchant_id == merchant_id]
        ranked = sorted(held, key=lambda t: list_order(t.created_at, t.terminal_id), reverse=True)
        return [TerminalInfo(t.terminal_id, t.merchant_id, t.store_id, t.kind, t.created_at, t.revoked_at)
                for t in ranked]

    def revoke_terminal(self, terminal_id: str, at: datetime) -> None:
        with self._lock:
            t = self.terminals.get(terminal_id)
            if t is not None and t.revoked_at is None:
                self.terminals[terminal_id] = replace(t, revoked_at=at)

    def claim_nonce(self, terminal_id: str, nonce: str, now: datetime, ttl_seconds: int) -> bool:
        key = nonce_key(terminal_id, nonce)
        with self._lock:
            if not nonce_free(self.guards.get(key), _seconds(now)):
                return False
            self.guards[key] = _seconds(now + timedelta(seconds=ttl_seconds))
            return True

    # -- the PartnerDirectory port
    def partner_names(self, partner_ids: Iterable[str]) -> dict[str, str]:
        return {p: self.partners[p].name for p in set(partner_ids) if p in self.partners}

    def all_partner_ids(self) -> list[str]:
        return list(self.partners)

    def merchants_of(self, partner_ids: Iterable[str]) -> list[str]:
        wanted = set(partner_ids)
        return [m.merchant_id for m in self.merchants.values() if m.partner_id in wanted]


def _holding(merchant: Merchant, platform: str, platform_id: str | None) -> Merchant:
    return replace(merchant, **{"alipay_seller_id" if platform == ALIPAY else "wechat_sub_mchid": platform_id})


def _seconds(at: datetime) -> datetime:
    """Like the TTLAttribute of the real table: whole seconds."""
    return at.replace(microsecond=0)


class FakeTerminalGuards:
    """The in-memory `TerminalGuards`: the nonce claim and revocation check in a `FakeTx`."""

    def __init__(self, repo: InMemoryOnboardingRepository) -> None:
        self.repo = repo

    def contribute(self, tx: FakeTx, guard: TerminalGuard) -> None:
        key = nonce_key(guard.terminal_id, guard.nonce)
        repo = self.repo
        tx.require("nonce", lambda: nonce_free(repo.guards.get(key), _seconds(guard.at)))
        tx.require("terminal", lambda: (t := repo.terminals.get(guard.terminal_id)) is not None and not t.revoked)

        def claim() -> None:
            repo.guards[key] = _seconds(guard.at + timedelta(seconds=NONCE_TTL_SECONDS))

        tx.then(claim)



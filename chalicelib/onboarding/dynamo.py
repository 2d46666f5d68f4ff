"""The onboarding area's DynamoDB adapters: partners, merchants, stores and terminals
(`DynamoOnboardingRepository`, which also serves the `PartnerDirectory` the contest reads), and
`DynamoTerminalGuards`, the nonce claim and revocation check the onboarding area contributes to
the payments area's recording transaction."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist

from chalicelib.auth import NONCE_TTL_SECONDS
from chalicelib.errors import Conflict, StorageUnavailable
from chalicelib.onboarding.domain import (
    ALIPAY,
    PLATFORMS,
    WECHATPAY,
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
    verification,
)
from chalicelib.onboarding.models import (
    PARTNER_KIND,
    PLATFORM_ATTRS,
    BindingModel,
    MerchantModel,
    PartnerModel,
    StoreModel,
    TerminalModel,
)
from chalicelib.onboarding.ports import binding_key, nonce_key
from chalicelib.storage import GuardModel, Tx, run_transaction, save_if, update_if, with_retries


def _partner(m: PartnerModel) -> Partner:
    return Partner(m.partner_id, m.name, m.created_at)


def _merchant(m: MerchantModel) -> Merchant:
    return Merchant(m.merchant_id, m.partner_id, m.name, m.category, m.created_at, m.city, m.alipay_seller_id,
                    m.wechat_sub_mchid)


def _binding(m: BindingModel) -> Binding:
    return Binding(m.platform, m.platform_id, m.merchant_id, m.partner_id, m.claimed_at, m.verified_at)


def _binding_item(b: Binding) -> BindingModel:
    return BindingModel(binding_key(b.platform, b.platform_id), platform=b.platform, platform_id=b.platform_id,
                        merchant_id=b.merchant_id, partner_id=b.partner_id, claimed_at=b.claimed_at,
                        verified_at=b.verified_at)


def _held_as_read(current: Binding | None) -> Any:
    """The condition that a binding is still what was read (absent, or same holder and state)."""
    if current is None:
        return BindingModel.key.does_not_exist()
    state = BindingModel.verified_at.exists() if current.verified else BindingModel.verified_at.does_not_exist()
    return (BindingModel.merchant_id == current.merchant_id) & state


def _merchant_holds(platform: str, platform_id: str | None) -> Any:
    attr = PLATFORM_ATTRS[platform]
    return attr.does_not_exist() if platform_id is None else attr == platform_id


def _store(m: StoreModel) -> Store:
    return Store(m.store_id, m.merchant_id, m.name, m.address)


def _terminal(m: TerminalModel) -> Terminal:
    return Terminal(m.terminal_id, m.merchant_id, m.partner_id, m.store_id, m.kind, m.secret,
                    m.created_at, m.revoked_at)


def _terminal_info(m: TerminalModel) -> TerminalInfo:
    return TerminalInfo(m.terminal_id, m.merchant_id, m.store_id, m.kind, m.created_at, m.revoked_at)


def _start_key(table_key: str, hash_name: str, hash_value: str, after: ListPosition | None) -> dict[str, Any] | None:
    """Where a page resumes: the last item's index key and table key, as DynamoDB's own
    LastEvaluatedKey would be."""
    if after is None:
        return None
    return {hash_name: {"S": hash_value}, "list_order": {"S": after.order}, table_key: {"S": after.item_id}}


def _nonce_claim(terminal_id: str, nonce: str, now: datetime, ttl_seconds: int) -> tuple[GuardModel, Any]:
    """The guard item of a nonce and the condition that it is free (`domain.nonce_free`: never
    seen, or its claim expired — TTL deletion is lazy, so an expired claim may still be stored)."""
    item = GuardModel(nonce_key(terminal_id, nonce), owner=terminal_id, expires_at=now + timedelta(seconds=ttl_seconds))
    return item, GuardModel.key.does_not_exist() | (GuardModel.expires_at < now)


BINDING_ATTEMPTS = 4


def _missing_list_order(model: Any) -> list[Any]:
    return list(model.scan(model.list_order.does_not_exist()))


class DynamoOnboardingRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def backfill_list_order(self) -> dict[str, int]:
        """A one-off migration (job `backfill_list_order`): partners, merchants and terminals
        written before the lists existed get their `list_order` (and partners their `kind`), so
        the sparse list indexes show them. A scan, on condition the attribute is still missing:
        safe to run again, and concurrent with traffic."""
        done: dict[str, int] = {}
        models: tuple[tuple[Any, str], ...] = ((PartnerModel, "partner_id"), (MerchantModel, "merchant_id"),
                                               (TerminalModel, "terminal_id"))
        for model, ident in models:
            missing: list[Any] = with_retries(functools.partial(_missing_list_order, model))
            written = 0
            for item in missing:
                actions = [model.list_order.set(list_order(item.created_at, getattr(item, ident)))]
                if model is PartnerModel:
                    actions.append(PartnerModel.kind.set(PARTNER_KIND))
                written += update_if(item, actions, model.list_order.does_not_exist())
            done[model.TABLE] = written
        return done

    def add_partner(self, partner: Partner) -> None:
        item = PartnerModel(partner.partner_id, kind=PARTNER_KIND, name=partner.name, created_at=partner.created_at,
                            list_order=list_order(partner.created_at, partner.partner_id))
        if not save_if(item, PartnerModel.partner_id.does_not_exist()):
            raise Conflict("partner exists", code="partner_exists")

    def get_partner(self, partner_id: str) -> Partner | None:
        try:
            return _partner(with_retries(lambda: PartnerModel.get(partner_id)))
        except DoesNotExist:
            return None

    def list_partners(self) -> list[Partner]:
        return [_partner(m) for m in PartnerModel.scan()]

    def partners_page(self, limit: int, after: ListPosition | None) -> Page[Partner]:
        start = _start_key("partner_id", "kind", PARTNER_KIND, after)
        rows = with_retries(lambda: list(PartnerModel.all_index.query(
            PARTNER_KIND, scan_index_forward=False, limit=limit + 1, page_size=limit + 1, last_evaluated_key=start)))
        return Page(tuple(_partner(r) for r in rows[:limit]), more=len(rows) > limit)

    def add_merchant(self, merchant: Merchant, stores: Sequence[Store], at: datetime) -> None:
        def build(tx: Tx) -> None:
            for platform in PLATFORMS:  # the merchant body's ids are claims
                pid = merchant.platform_id(platform)
                if pid:
                    claim = Binding(platform, pid, merchant.merchant_id, merchant.partner_id, at)
                    tx.put(platform, _binding_item(claim), condition=BindingModel.key.does_not_exist())
            tx.put("merchant", MerchantModel(
                merchant.merchant_id, partner_id=merchant.partner_id, name=merchant.name,
                category=merchant.category, city=merchant.city, alipay_seller_id=merchant.alipay_seller_id,
                wechat_sub_mchid=merchant.wechat_sub_mchid, created_at=merchant.created_at,
                list_order=list_order(merchant.created_at, merchant.merchant_id),
            ), condition=MerchantModel.merchant_id.does_not_exist())
            for s in stores:
                tx.put("store", StoreModel(s.store_id, merchant_id=s.merchant_id, name=s.name, address=s.address),
                       condition=StoreModel.store_id.does_not_exist())

        result = run_transaction(self._conn, build)
        if ALIPAY in result.failed:
            raise Conflict("alipay_seller_id is already registered", code="seller_id_taken")
        if WECHATPAY in result.failed:
            raise Conflict("wechat_sub_mchid is already registered", code="platform_id_taken")
        if not result.ok:
            raise Conflict("merchant or store id collision", code="conflict")

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        try:
            return _merchant(with_retries(lambda: MerchantModel.get(merchant_id)))
        except DoesNotExist:
            return None

    def merchant_by_seller(self, seller_id: str) -> Merchant | None:
        binding = self.get_binding(ALIPAY, seller_id)
        return self.get_merchant(binding.merchant_id) if binding else None

    # -- platform bindings
    def get_binding(self, platform: str, platform_id: str) -> Binding | None:
        try:
            return _binding(with_retries(lambda: BindingModel.get(binding_key(platform, platform_id),
                                                                  consistent_read=True)))
        except DoesNotExist:
            return None

    def _merchant_consistent(self, merchant_id: str) -> Merchant | None:
        try:
            return _merchant(with_retries(lambda: MerchantModel.get(merchant_id, consistent_read=True)))
        except DoesNotExist:
            return None

    def verify_binding(self, merchant: Merchant, platform: str, platform_id: str, at: datetime) -> BindingChange:
        for _ in range(BINDING_ATTEMPTS):
            change = self._verify_once(merchant, platform, platform_id, at)
            if change is not None:
                return change
        raise StorageUnavailable("the binding kept changing; retry")

    def _verify_once(self, merchant: Merchant, platform: str, platform_id: str, at: datetime) -> BindingChange | None:
        """One optimistic attempt: every item is written on condition that it is still as read."""
        current = self.get_binding(platform, platform_id)
        holder = self._merchant_consistent(merchant.merchant_id)
        if holder is None:
            raise Conflict("the merchant is gone", code="merchant_not_found")
        change = verification(current, holder, platform, platform_id, at)
        old, moved_from, binding = holder.platform_id(platform), change.moved_from, change.binding
        attr = PLATFORM_ATTRS[platform]

        def build(tx: Tx) -> None:
            tx.put("binding", _binding_item(binding), condition=_held_as_read(current))
            if old is not None and old != platform_id:  # the merchant's previous id is released
                tx.delete("released", BindingModel(binding_key(platform, old)),
                          condition=BindingModel.merchant_id == merchant.merchant_id)
            tx.update("merchant", MerchantModel(merchant.merchant_id), [attr.set(platform_id)],
                      condition=_merchant_holds(platform, old))
            if moved_from is not None:  # the claim is dropped where it was
                tx.update("moved_from", MerchantModel(moved_from), [attr.remove()],
                          condition=_merchant_holds(platform, platform_id))

        return change if run_transaction(self._conn, build).ok else None

    def delete_binding(self, merchant: Merchant, platform: str) -> Binding | None:
        for _ in range(BINDING_ATTEMPTS):
            done, released = self._delete_once(merchant, platform)
            if done:
                return released
        raise StorageUnavailable("the binding kept changing; retry")

    def _delete_once(self, merchant: Merchant, platform: str) -> tuple[bool, Binding | None]:
        holder = self._merchant_consistent(merchant.merchant_id)
        held = holder.platform_id(platform) if holder else None
        if held is None:
            return True, None
        current = self.get_binding(platform, held)
        mine = current is not None and current.merchant_id == merchant.merchant_id
        attr = PLATFORM_ATTRS[platform]

        def build(tx: Tx) -> None:
            if mine:
                tx.delete("binding", BindingModel(binding_key(platform, held)),
                          condition=BindingModel.merchant_id == merchant.merchant_id)
            tx.update("merchant", MerchantModel(merchant.merchant_id), [attr.remove()],
                      condition=_merchant_holds(platform, held))

        return run_transaction(self._conn, build).ok, current if mine else None

    def list_merchants(self, partner_id: str) -> list[Merchant]:
        return [_merchant(m) for m in MerchantModel.partner_index.query(partner_id)]

    def merchants_page(self, partner_id: str, limit: int, after: ListPosition | None) -> Page[Merchant]:
        start = _start_key("merchant_id", "partner_id", partner_id, after)
        rows = with_retries(lambda: list(MerchantModel.partner_created_index.query(
            partner_id, scan_index_forward=False, limit=limit + 1, page_size=limit + 1, last_evaluated_key=start)))
        return Page(tuple(_merchant(r) for r in rows[:limit]), more=len(rows) > limit)

    def get_store(self, store_id: str) -> Store | None:
        try:
            return _store(with_retries(lambda: StoreModel.get(store_id)))
        except DoesNotExist:
            return None

    def list_stores(self, merchant_id: str) -> list[Store]:
        return [_store(m) for m in StoreModel.merchant_index.query(merchant_id)]

    def stores_of(self, merchant_ids: Iterable[str]) -> dict[str, list[Store]]:
        ids = sorted(set(merchant_ids))

        def one(merchant_id: str) -> list[Store]:
            return with_retries(lambda: self.list_stores(merchant_id))

        if len(ids) <= 1:
            return {mid: one(mid) for mid in ids}
        with ThreadPoolExecutor(max_workers=min(8, len(ids))) as pool:  # one Query per merchant, 8 at a time
            return dict(zip(ids, pool.map(one, ids), strict=True))

    def bindings_of(self, keys: Iterable[tuple[str, str]]) -> list[Binding]:
        wanted = sorted({binding_key(platform, pid) for platform, pid in keys})
        if not wanted:
            return []
        # BatchGetItem, 100 keys a request (PynamoDB splits and retries unprocessed keys)
        return [_binding(m) for m in with_retries(lambda: list(BindingModel.batch_get(wanted)))]

    def add_terminal(self, terminal: Terminal) -> None:
        item = TerminalModel(
            terminal.terminal_id, merchant_id=terminal.merchant_id, partner_id=terminal.partner_id,
            store_id=terminal.store_id, kind=terminal.kind, secret=terminal.secret,
            created_at=terminal.created_at, list_order=list_order(terminal.created_at, terminal.terminal_id),
        )
        if not save_if(item, TerminalModel.terminal_id.does_not_exist()):
            raise Conflict("terminal exists", code="terminal_exists")

    def get_terminal(self, terminal_id: str) -> Terminal | None:
        try:
            return _terminal(with_retries(lambda: TerminalModel.get(terminal_id, consistent_read=True)))
        except DoesNotExist:
            return None

    def terminals_of(self, merchant_id: str) -> list[TerminalInfo]:
        return [_terminal_info(m) for m in with_retries(lambda: list(
            TerminalModel.merchant_index.query(merchant_id, scan_index_forward=False)))]

    def revoke_terminal(self, terminal_id: str, at: datetime) -> None:
        # already revoked (or gone) fails the condition: revocation is idempotent
        update_if(TerminalModel(terminal_id), [TerminalModel.revoked_at.set(at)],
                  TerminalModel.terminal_id.exists() & TerminalModel.revoked_at.does_not_exist())

    def claim_nonce(self, terminal_id: str, nonce: str, now: datetime, ttl_seconds: int) -> bool:
        return save_if(*_nonce_claim(terminal_id, nonce, now, ttl_seconds))

    # -- the PartnerDirectory port (contest)
    def partner_names(self, partner_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(partner_ids))
        if not ids:
            return {}
        return {m.partner_id: m.name for m in with_retries(lambda: list(PartnerModel.batch_get(ids)))}

    def all_partner_ids(self) -> list[str]:
        return [m.partner_id for m in PartnerModel.scan(attributes_to_get=["partner_id"])]

    def merchants_of(self, partner_ids: Iterable[str]) -> list[str]:
        def one(pid: str) -> list[str]:
            return [m.merchant_id for m in MerchantModel.partner_index.query(pid)]

        with ThreadPoolExecutor(max_workers=8) as pool:
            return [mid for chunk in pool.map(one, sorted(set(partner_ids))) for mid in chunk]


class DynamoTerminalGuards:
    """Implements `chalicelib.payments.ports.TerminalGuards` over the onboarding area's tables."""

    def contribute(self, tx: Tx, guard: TerminalGuard) -> None:
        tx.put("nonce", *_nonce_claim(guard.terminal_id, guard.nonce, guard.at, NONCE_TTL_SECONDS))
        tx.check("terminal", TerminalModel, guard.terminal_id,
                 TerminalModel.terminal_id.exists() & TerminalModel.revoked_at.does_not_exist())

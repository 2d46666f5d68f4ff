"""The onboarding area's DynamoDB adapters: partners, merchants, stores and terminals
(`DynamoOnboardingRepository`, which also serves the `PartnerDirectory` the contest reads), and
`DynamoTerminalGuards`, the nonce claim and revocation check the onboarding area contributes to
the payments area's recording transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist

from chalicelib.auth import NONCE_TTL_SECONDS
from chalicelib.errors import Conflict
from chalicelib.onboarding.domain import Merchant, Partner, Store, Terminal, TerminalGuard
from chalicelib.onboarding.models import MerchantModel, PartnerModel, StoreModel, TerminalModel
from chalicelib.onboarding.ports import nonce_key, seller_key
from chalicelib.storage import GuardModel, Tx, run_transaction, save_if, update_if, with_retries


def _partner(m: PartnerModel) -> Partner:
    return Partner(m.partner_id, m.name, m.created_at)


def _merchant(m: MerchantModel) -> Merchant:
    return Merchant(m.merchant_id, m.partner_id, m.name, m.category, m.created_at, m.city, m.alipay_seller_id)


def _store(m: StoreModel) -> Store:
    return Store(m.store_id, m.merchant_id, m.name, m.address)


def _terminal(m: TerminalModel) -> Terminal:
    return Terminal(m.terminal_id, m.merchant_id, m.partner_id, m.store_id, m.kind, m.secret,
                    m.created_at, m.revoked_at)


def _nonce_claim(terminal_id: str, nonce: str, now: datetime, ttl_seconds: int) -> tuple[GuardModel, Any]:
    """The guard item of a nonce and the condition that it is free (`domain.nonce_free`: never
    seen, or its claim expired — TTL deletion is lazy, so an expired claim may still be stored)."""
    item = GuardModel(nonce_key(terminal_id, nonce), owner=terminal_id, expires_at=now + timedelta(seconds=ttl_seconds))
    return item, GuardModel.key.does_not_exist() | (GuardModel.expires_at < now)


class DynamoOnboardingRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add_partner(self, partner: Partner) -> None:
        item = PartnerModel(partner.partner_id, name=partner.name, created_at=partner.created_at)
        if not save_if(item, PartnerModel.partner_id.does_not_exist()):
            raise Conflict("partner exists", code="partner_exists")

    def get_partner(self, partner_id: str) -> Partner | None:
        try:
            return _partner(with_retries(lambda: PartnerModel.get(partner_id)))
        except DoesNotExist:
            return None

    def list_partners(self) -> list[Partner]:
        return [_partner(m) for m in PartnerModel.scan()]

    def add_merchant(self, merchant: Merchant, stores: Sequence[Store]) -> None:
        def build(tx: Tx) -> None:
            if merchant.alipay_seller_id:
                tx.put("seller", GuardModel(seller_key(merchant.alipay_seller_id), owner=merchant.merchant_id),
                       condition=GuardModel.key.does_not_exist())
            tx.put("merchant", MerchantModel(
                merchant.merchant_id, partner_id=merchant.partner_id, name=merchant.name,
                category=merchant.category, city=merchant.city,
                alipay_seller_id=merchant.alipay_seller_id, created_at=merchant.created_at,
            ), condition=MerchantModel.merchant_id.does_not_exist())
            for s in stores:
                tx.put("store", StoreModel(s.store_id, merchant_id=s.merchant_id, name=s.name, address=s.address),
                       condition=StoreModel.store_id.does_not_exist())

        result = run_transaction(self._conn, build)
        if "seller" in result.failed:
            raise Conflict("alipay_seller_id is already registered", code="seller_id_taken")
        if not result.ok:
            raise Conflict("merchant or store id collision", code="conflict")

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        try:
            return _merchant(with_retries(lambda: MerchantModel.get(merchant_id)))
        except DoesNotExist:
            return None

    def merchant_by_seller(self, seller_id: str) -> Merchant | None:
        for m in MerchantModel.seller_index.query(seller_id, limit=1):
            return _merchant(m)
        return None

    def list_merchants(self, partner_id: str) -> list[Merchant]:
        return [_merchant(m) for m in MerchantModel.partner_index.query(partner_id)]

    def get_store(self, store_id: str) -> Store | None:
        try:
            return _store(with_retries(lambda: StoreModel.get(store_id)))
        except DoesNotExist:
            return None

    def list_stores(self, merchant_id: str) -> list[Store]:
        return [_store(m) for m in StoreModel.merchant_index.query(merchant_id)]

    def add_terminal(self, terminal: Terminal) -> None:
        item = TerminalModel(
            terminal.terminal_id, merchant_id=terminal.merchant_id, partner_id=terminal.partner_id,
            store_id=terminal.store_id, kind=terminal.kind, secret=terminal.secret,
            created_at=terminal.created_at,
        )
        if not save_if(item, TerminalModel.terminal_id.does_not_exist()):
            raise Conflict("terminal exists", code="terminal_exists")

    def get_terminal(self, terminal_id: str) -> Terminal | None:
        try:
            return _terminal(with_retries(lambda: TerminalModel.get(terminal_id, consistent_read=True)))
        except DoesNotExist:
            return None

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

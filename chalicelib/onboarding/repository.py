"""Storage of partners, merchants, stores and terminals, and the terminal nonce guard.

`OnboardingRepository` is the port; `DynamoOnboardingRepository` the PynamoDB adapter and
`InMemoryOnboardingRepository` the fake the unit tests use. Both pass the same contract tests.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.errors import Conflict
from chalicelib.onboarding.domain import Merchant, Partner, Store, Terminal
from chalicelib.onboarding.models import MerchantModel, PartnerModel, StoreModel, TerminalModel
from chalicelib.storage import GuardModel, cancellation_codes, error_code, with_retries


class OnboardingRepository(Protocol):
    def add_partner(self, partner: Partner) -> None: ...
    def get_partner(self, partner_id: str) -> Partner | None: ...
    def list_partners(self) -> list[Partner]: ...
    def add_merchant(self, merchant: Merchant, stores: Sequence[Store]) -> None:
        """Atomically; `Conflict(seller_id_taken)` when the Alipay seller id is already used."""
    def get_merchant(self, merchant_id: str) -> Merchant | None: ...
    def merchant_by_seller(self, seller_id: str) -> Merchant | None: ...
    def list_merchants(self, partner_id: str) -> list[Merchant]: ...
    def get_store(self, store_id: str) -> Store | None: ...
    def list_stores(self, merchant_id: str) -> list[Store]: ...
    def add_terminal(self, terminal: Terminal) -> None: ...
    def get_terminal(self, terminal_id: str) -> Terminal | None: ...
    def revoke_terminal(self, terminal_id: str, at: datetime) -> None: ...
    def claim_nonce(self, terminal_id: str, nonce: str, now: datetime, ttl_seconds: int) -> bool:
        """True if this nonce was not seen from this terminal within the TTL (and claim it)."""


def nonce_key(terminal_id: str, nonce: str) -> str:
    return f"nonce#{terminal_id}#{nonce}"


def seller_key(seller_id: str) -> str:
    return f"seller#{seller_id}"


# ---------------------------------------------------------------- PynamoDB adapter


def _partner(m: PartnerModel) -> Partner:
    return Partner(m.partner_id, m.name, m.created_at)


def _merchant(m: MerchantModel) -> Merchant:
    return Merchant(m.merchant_id, m.partner_id, m.name, m.category, m.created_at, m.city, m.alipay_seller_id)


def _store(m: StoreModel) -> Store:
    return Store(m.store_id, m.merchant_id, m.name, m.address)


def _terminal(m: TerminalModel) -> Terminal:
    return Terminal(m.terminal_id, m.merchant_id, m.partner_id, m.store_id, m.kind, m.secret,
                    m.created_at, m.revoked_at)


class DynamoOnboardingRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add_partner(self, partner: Partner) -> None:
        item = PartnerModel(partner.partner_id, name=partner.name, created_at=partner.created_at)
        try:
            with_retries(lambda: item.save(condition=PartnerModel.partner_id.does_not_exist()))
        except PutError as e:
            if error_code(e) == "ConditionalCheckFailedException":
                raise Conflict("partner exists", code="partner_exists") from e
            raise

    def get_partner(self, partner_id: str) -> Partner | None:
        try:
            return _partner(with_retries(lambda: PartnerModel.get(partner_id)))
        except DoesNotExist:
            return None

    def list_partners(self) -> list[Partner]:
        return [_partner(m) for m in PartnerModel.scan()]

    def add_merchant(self, merchant: Merchant, stores: Sequence[Store]) -> None:
        def write() -> None:
            with TransactWrite(connection=self._conn) as tx:
                if merchant.alipay_seller_id:
                    tx.save(
                        GuardModel(seller_key(merchant.alipay_seller_id), owner=merchant.merchant_id),
                        condition=GuardModel.key.does_not_exist(),
                    )
                tx.save(
                    MerchantModel(
                        merchant.merchant_id, partner_id=merchant.partner_id, name=merchant.name,
                        category=merchant.category, city=merchant.city,
                        alipay_seller_id=merchant.alipay_seller_id, created_at=merchant.created_at,
                    ),
                    condition=MerchantModel.merchant_id.does_not_exist(),
                )
                for s in stores:
                    tx.save(StoreModel(s.store_id, merchant_id=s.merchant_id, name=s.name, address=s.address),
                            condition=StoreModel.store_id.does_not_exist())

        try:
            with_retries(write)
        except TransactWriteError as e:
            if merchant.alipay_seller_id and cancellation_codes(e)[:1] == ["ConditionalCheckFailed"]:
                raise Conflict("alipay_seller_id is already registered", code="seller_id_taken") from e
            raise

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
        try:
            with_retries(lambda: item.save(condition=TerminalModel.terminal_id.does_not_exist()))
        except PutError as e:
            if error_code(e) == "ConditionalCheckFailedException":
                raise Conflict("terminal exists", code="terminal_exists") from e
            raise

    def get_terminal(self, terminal_id: str) -> Terminal | None:
        try:
            return _terminal(with_retries(lambda: TerminalModel.get(terminal_id, consistent_read=True)))
        except DoesNotExist:
            return None

    def revoke_terminal(self, terminal_id: str, at: datetime) -> None:
        item = TerminalModel(terminal_id)
        try:
            with_retries(lambda: item.update(
                actions=[TerminalModel.revoked_at.set(at)],
                condition=TerminalModel.terminal_id.exists() & TerminalModel.revoked_at.does_not_exist(),
            ))
        except UpdateError as e:
            if error_code(e) != "ConditionalCheckFailedException":
                raise
            # already revoked (or gone): revocation is idempotent

    def claim_nonce(self, terminal_id: str, nonce: str, now: datetime, ttl_seconds: int) -> bool:
        item = GuardModel(nonce_key(terminal_id, nonce), owner=terminal_id,
                          expires_at=now + timedelta(seconds=ttl_seconds))
        # TTL deletion is lazy: an expired guard may still be there, so the condition checks it.
        cond = GuardModel.key.does_not_exist() | (GuardModel.expires_at < now)
        try:
            with_retries(lambda: item.save(condition=cond))
            return True
        except PutError as e:
            if error_code(e) == "ConditionalCheckFailedException":
                return False
            raise


# ---------------------------------------------------------------- in-memory fake


class InMemoryOnboardingRepository:
    def __init__(self) -> None:
        self.partners: dict[str, Partner] = {}
        self.merchants: dict[str, Merchant] = {}
        self.stores: dict[str, Store] = {}
        self.terminals: dict[str, Terminal] = {}
        self.guards: dict[str, datetime | None] = {}
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

    def add_merchant(self, merchant: Merchant, stores: Sequence[Store]) -> None:
        with self._lock:
            if merchant.alipay_seller_id and seller_key(merchant.alipay_seller_id) in self.guards:
                raise Conflict("alipay_seller_id is already registered", code="seller_id_taken")
            if merchant.alipay_seller_id:
                self.guards[seller_key(merchant.alipay_seller_id)] = None
            self.merchants[merchant.merchant_id] = merchant
            for s in stores:
                self.stores[s.store_id] = s

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        return self.merchants.get(merchant_id)

    def merchant_by_seller(self, seller_id: str) -> Merchant | None:
        return next((m for m in self.merchants.values() if m.alipay_seller_id == seller_id), None)

    def list_merchants(self, partner_id: str) -> list[Merchant]:
        return sorted((m for m in self.merchants.values() if m.partner_id == partner_id),
                      key=lambda m: m.merchant_id)

    def get_store(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)

    def list_stores(self, merchant_id: str) -> list[Store]:
        return sorted((s for s in self.stores.values() if s.merchant_id == merchant_id), key=lambda s: s.store_id)

    def add_terminal(self, terminal: Terminal) -> None:
        with self._lock:
            if terminal.terminal_id in self.terminals:
                raise Conflict("terminal exists", code="terminal_exists")
            self.terminals[terminal.terminal_id] = terminal

    def get_terminal(self, terminal_id: str) -> Terminal | None:
        return self.terminals.get(terminal_id)

    def revoke_terminal(self, terminal_id: str, at: datetime) -> None:
        t = self.terminals.get(terminal_id)
        if t is not None and t.revoked_at is None:
            from dataclasses import replace

            self.terminals[terminal_id] = replace(t, revoked_at=at)

    def claim_nonce(self, terminal_id: str, nonce: str, now: datetime, ttl_seconds: int) -> bool:
        key = nonce_key(terminal_id, nonce)
        # Like the TTLAttribute of the real table: whole seconds.
        now = now.replace(microsecond=0)
        with self._lock:
            exp = self.guards.get(key)
            if key in self.guards and exp is not None and exp >= now:
                return False
            self.guards[key] = now + timedelta(seconds=ttl_seconds)
            return True



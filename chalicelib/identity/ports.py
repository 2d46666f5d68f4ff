"""The identity area's ports: its repositories, and what it needs of onboarding. No AWS here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from chalicelib.identity.domain import ApiKey, KeyPage, KeyPosition, KeyScope, StoredKey
from chalicelib.onboarding.domain import Merchant, Partner


class ApiKeyRepository(Protocol):
    """Storage of API keys (with the keyed hash of each secret, never the secret)."""

    def add(self, stored: StoredKey) -> None:
        """Store a new key; `Conflict(key_exists)` when its id is taken."""
    def get(self, key_id: str) -> StoredKey | None:
        """The key as stored now (read consistently: a revocation is seen at once)."""
    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark the key revoked at `at` (a key revoked before keeps its first time); the key
        afterwards, or None when there is no such key."""
    def page(self, scope: KeyScope, limit: int, after: KeyPosition | None) -> KeyPage:
        """Up to `limit` keys of `scope`, newest first (`domain.list_order` descending), after
        `after`; `more` says whether another key follows."""


class AuthCodes(Protocol):
    """The memory of platform authorization codes (a platform code works once; a request retried
    after a lost answer must get the first answer again). Entries are kept 24 h; each is keyed by
    a hash of the code."""

    def remember(self, code: str, merchant_id: str, result: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Remember that `code` was used for `merchant_id` with this (JSON) `result`, until
        `now` + 24 h, unless it already is: the first writer wins. Returns the result stored for
        the code — this one, or the first writer's for the same merchant;
        `Conflict(auth_code_used)` when the code is remembered for another merchant."""
    def recall(self, code: str, now: datetime) -> tuple[str, dict[str, Any]] | None:
        """`(merchant_id, result)` remembered for `code` and not expired at `now`, or None."""


class Tenants(Protocol):
    """The partners and merchants keys are for (the onboarding service offers them): each
    lookup is `404 partner_not_found` / `merchant_not_found` when there is no such tenant."""

    def partner(self, partner_id: str) -> Partner: ...
    def merchant(self, merchant_id: str) -> Merchant: ...

"""In-memory fakes of the identity adapters (same contract suite as `DynamoApiKeyRepository` and
`DynamoAuthCodes`: tests/integration/test_identity_contract.py)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.errors import Conflict
from chalicelib.identity.domain import (
    AUTH_CODE_SECONDS,
    ApiKey,
    KeyPage,
    KeyPosition,
    KeyScope,
    RememberedCode,
    StoredKey,
    auth_code_key,
    code_free,
    list_order,
    result_for,
)


class InMemoryApiKeyRepository:
    def __init__(self) -> None:
        self.keys: dict[str, StoredKey] = {}
        self.reads = 0  # GetItem-like reads, for the tests that count round trips
        self._lock = threading.Lock()

    def add(self, stored: StoredKey) -> None:
        with self._lock:
            if stored.key.key_id in self.keys:
                raise Conflict("key id exists", code="key_exists")
            self.keys[stored.key.key_id] = stored

    def get(self, key_id: str) -> StoredKey | None:
        with self._lock:
            self.reads += 1
            return self.keys.get(key_id)

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        with self._lock:
            stored = self.keys.get(key_id)
            if stored is None:
                return None
            if stored.key.revoked_at is None:
                stored = self.keys[key_id] = replace(stored, key=replace(stored.key, revoked_at=at))
            return stored.key

    def page(self, scope: KeyScope, limit: int, after: KeyPosition | None) -> KeyPage:
        with self._lock:
            held = sorted((s.key for s in self.keys.values() if scope.holds(s.key)),
                          key=lambda k: list_order(k.created_at, k.key_id), reverse=True)
        if after is not None:
            held = [k for k in held if list_order(k.created_at, k.key_id) < after.order]
        return KeyPage(tuple(held[:limit]), more=len(held) > limit)


class InMemoryAuthCodes:
    def __init__(self) -> None:
        self.entries: dict[str, RememberedCode] = {}
        self._lock = threading.Lock()

    def remember(self, code: str, merchant_id: str, result: dict[str, Any], now: datetime) -> dict[str, Any]:
        key = auth_code_key(code)
        stored = json.loads(json.dumps(result))  # as storage keeps it (JSON)
        with self._lock:
            entry = self.entries.get(key)
            if entry is None or code_free(entry.expires_at, now):
                expires = (now + timedelta(seconds=AUTH_CODE_SECONDS)).replace(microsecond=0)  # a TTL attribute
                self.entries[key] = RememberedCode(merchant_id, stored, expires)
                return json.loads(json.dumps(stored))
            return json.loads(json.dumps(result_for(entry, merchant_id)))

    def recall(self, code: str, now: datetime) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            entry = self.entries.get(auth_code_key(code))
        if entry is None or code_free(entry.expires_at, now):
            return None
        return entry.merchant_id, json.loads(json.dumps(entry.result))

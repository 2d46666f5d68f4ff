"""The identity area's DynamoDB adapters: API keys (`DynamoApiKeyRepository`, table `api_keys`)
and remembered authorization codes (`DynamoAuthCodes`, the guards table)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import Index

from chalicelib.errors import Conflict, StorageUnavailable
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
from chalicelib.identity.models import KEY_KIND, ApiKeyModel, AuthCodeModel
from chalicelib.storage import save_if, update_if, with_retries


def _key(m: ApiKeyModel) -> ApiKey:
    return ApiKey(m.key_id, m.name, m.role, m.partner_id, m.merchant_id, m.created_at,
                  m.created_by, m.revoked_at)


class DynamoApiKeyRepository:
    """Implements `ApiKeyRepository`: GetItem (consistent) by `key_id`, conditional put and update,
    and each list as one Query of its index, newest first."""

    def add(self, stored: StoredKey) -> None:
        k = stored.key
        item = ApiKeyModel(k.key_id, kind=KEY_KIND, list_order=list_order(k.created_at, k.key_id), name=k.name,
                           role=k.role, partner_id=k.partner_id, merchant_id=k.merchant_id,
                           secret_hash=stored.secret_hash, created_at=k.created_at, created_by=k.created_by,
                           revoked_at=k.revoked_at)
        if not save_if(item, ApiKeyModel.key_id.does_not_exist()):
            raise Conflict("key id exists", code="key_exists")

    def get(self, key_id: str) -> StoredKey | None:
        try:
            m = with_retries(lambda: ApiKeyModel.get(key_id, consistent_read=True))
        except DoesNotExist:
            return None
        return StoredKey(_key(m), m.secret_hash)

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        item = ApiKeyModel(key_id)
        if update_if(item, [ApiKeyModel.revoked_at.set(at)],
                     ApiKeyModel.key_id.exists() & ApiKeyModel.revoked_at.does_not_exist()):
            return _key(item)  # UpdateItem answers the whole item (ALL_NEW)
        stored = self.get(key_id)  # absent, or revoked before (its first time stays)
        return stored.key if stored else None

    def page(self, scope: KeyScope, limit: int, after: KeyPosition | None) -> KeyPage:
        index: Index[ApiKeyModel]
        if scope.index == "partner":
            index, hash_name, hash_value = ApiKeyModel.partner_index, "partner_id", str(scope.tenant)
        elif scope.index == "merchant":
            index, hash_name, hash_value = ApiKeyModel.merchant_index, "merchant_id", str(scope.tenant)
        else:
            index, hash_name, hash_value = ApiKeyModel.all_index, "kind", KEY_KIND
        # a page resumes after its last key: that key's index key and table key, as DynamoDB's own
        # LastEvaluatedKey would be
        start: dict[str, dict[str, Any]] | None = None if after is None else {
            hash_name: {"S": hash_value}, "list_order": {"S": after.order}, "key_id": {"S": after.key_id}}

        def query() -> list[ApiKeyModel]:
            return list(index.query(hash_value, scan_index_forward=False, limit=limit + 1, page_size=limit + 1,
                                    last_evaluated_key=start))

        rows = with_retries(query)
        return KeyPage(tuple(_key(r) for r in rows[:limit]), more=len(rows) > limit)


REMEMBER_ATTEMPTS = 3


class DynamoAuthCodes:
    """Implements `AuthCodes` in the guards table: a put on condition that the code's key is free
    (`domain.code_free`: absent, or its memory expired), else a consistent read of who holds it."""

    def remember(self, code: str, merchant_id: str, result: dict[str, Any], now: datetime) -> dict[str, Any]:
        key = auth_code_key(code)
        text = json.dumps(result, separators=(",", ":"), sort_keys=True)
        item = AuthCodeModel(key, owner=merchant_id, result=text,
                             expires_at=now + timedelta(seconds=AUTH_CODE_SECONDS))
        for _ in range(REMEMBER_ATTEMPTS):
            if save_if(item, AuthCodeModel.key.does_not_exist() | (AuthCodeModel.expires_at < now)):
                return json.loads(text)  # what is stored: the same JSON a later recall returns
            entry = self._entry(key, now)
            if entry is not None:
                return result_for(entry, merchant_id)
            # expired or released between the put and the read: try the put again
        raise StorageUnavailable("the authorization code kept changing; retry")

    def recall(self, code: str, now: datetime) -> tuple[str, dict[str, Any]] | None:
        entry = self._entry(auth_code_key(code), now)
        return None if entry is None else (entry.merchant_id, entry.result)

    @staticmethod
    def _entry(key: str, now: datetime) -> RememberedCode | None:
        try:
            m = with_retries(lambda: AuthCodeModel.get(key, consistent_read=True))
        except DoesNotExist:
            return None
        if code_free(m.expires_at, now) or m.owner is None or m.result is None:
            return None
        return RememberedCode(m.owner, json.loads(m.result), m.expires_at)

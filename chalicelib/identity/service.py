"""Use cases of identity: API keys (create, list, revoke), tokens issued from them (`POST
/v1/auth/token` with HTTP Basic, `POST /v1/auth/refresh`), the revocation check of every request
carrying such a token, customer tokens, the rate limit of `/v1/auth/*` and the memory of platform
authorization codes.

Token lifetimes, the revocation window and the rate limit run on the wall clock (`wall`, unix
seconds), like signature freshness; creation and revocation times on the business clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib.admin_trail.ports import AdminTrail
from chalicelib.auth import Principal, parse_basic, sign_claims
from chalicelib.clock import Clock, iso, wall_clock
from chalicelib.cursors import CursorSigner, invalid_cursor
from chalicelib.errors import Invalid, NotFound, TooManyRequests, Unauthorized
from chalicelib.identity.domain import (
    KEY_CHECK_SECONDS,
    KEY_TOKEN_SECONDS,
    ApiKey,
    KeyPosition,
    SecretHasher,
    StoredKey,
    customer_token_claims,
    key_document,
    key_token_claims,
    list_order,
    require_may_manage,
    require_may_manage_role,
    scope_of,
    token_fits_key,
)
from chalicelib.identity.key_cache import KeyCache
from chalicelib.identity.ports import ApiKeyRepository, AuthCodes, Tenants
from chalicelib.identity.rate_limit import RateLimit, RateLimiter
from chalicelib.identity.schemas import CreateApiKey
from chalicelib.ids import new_id, new_secret
from chalicelib.observability import metrics
from chalicelib.parsing import is_id, parse_int
from chalicelib.schemas import parse_body

SCOPE = "api_keys"  # the list cursors of this module are made for
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
WallClock = Callable[[], float]


def _bad_credentials() -> Unauthorized:
    return Unauthorized("unknown key or wrong secret", code="bad_credentials")


def _key_revoked() -> Unauthorized:
    return Unauthorized("the API key of this token has been revoked", code="key_revoked")


class IdentityService:
    """API keys and tokens. Holds this container's key cache and rate limiter (built once, by
    `chalicelib.bootstrap`)."""

    def __init__(self, keys: ApiKeyRepository, codes: AuthCodes, tenants: Tenants, clock: Clock, *,
                 jwt_secret: str, cursors: CursorSigner, rate: RateLimit, wall: WallClock = wall_clock,
                 trail: AdminTrail | None = None, key_token_seconds: int = KEY_TOKEN_SECONDS) -> None:
        self.keys = keys
        self.codes = codes
        self.tenants = tenants
        self.clock = clock
        self.cursors = cursors
        self.trail = trail
        self._jwt_secret = jwt_secret
        self._hasher = SecretHasher(jwt_secret)
        self._wall = wall
        self._key_token_seconds = key_token_seconds
        self.cache = KeyCache(KEY_CHECK_SECONDS, wall)
        self.limiter = RateLimiter(rate, wall)

    # -- API keys
    def create_key(self, who: Principal, raw: bytes) -> dict[str, Any]:
        """A new key for the role and tenant the body names (the caller's own tenant by default),
        if `who` may create it; its secret is in this answer only."""
        body = parse_body(CreateApiKey, raw)
        who.require_role("admin", "partner", "merchant")
        partner_id, merchant_id = self._tenant_of(who, body)
        key = ApiKey(new_id("key"), body.name, body.role, partner_id, merchant_id, self.clock.now(), who.sub)
        secret = new_secret()
        self.keys.add(StoredKey(key, self._hasher.digest(key.key_id, secret)))
        self._trail(who, "api_key.create", key, {"name": key.name, "role": key.role, "partner_id": partner_id,
                                                 "merchant_id": merchant_id})
        metrics.add_metric(name="ApiKeyCreated", unit="Count", value=1)
        doc = key_document(key)
        del doc["revoked"]
        return {**doc, "secret": secret}

    def _tenant_of(self, who: Principal, body: CreateApiKey) -> tuple[str | None, str | None]:
        """`(partner_id, merchant_id)` of the key to create, checked: 422 for a body that names
        the wrong ids for its role, 403 for a key `who` may not create, 404 for an unknown tenant."""
        require_may_manage_role(who, body.role)
        if body.role == "admin":
            if body.partner_id is not None or body.merchant_id is not None:
                raise Invalid("an admin key names no partner_id or merchant_id", code="invalid_value")
            return None, None
        if body.role == "partner":
            if body.merchant_id is not None:
                raise Invalid("a partner key names no merchant_id", code="invalid_value")
            partner_id = body.partner_id or (who.partner_id if who.role == "partner" else None)
            if partner_id is None:
                raise Invalid("partner_id: required for a partner key", code="missing_field")
            require_may_manage(who, "partner", partner_id, None)
            return self.tenants.partner(partner_id).partner_id, None
        merchant_id = body.merchant_id or (who.merchant_id if who.role == "merchant" else None)
        if merchant_id is None:
            raise Invalid("merchant_id: required for a merchant key", code="missing_field")
        merchant = self.tenants.merchant(merchant_id)
        require_may_manage(who, "merchant", merchant.partner_id, merchant.merchant_id)
        if body.partner_id is not None and body.partner_id != merchant.partner_id:
            raise Invalid("partner_id is not this merchant's partner", code="invalid_value")
        return merchant.partner_id, merchant.merchant_id

    def list_keys(self, who: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """`{"api_keys", "next_cursor"}`: the keys `who` could create, whoever created them, newest
        first, `limit` (1..200, default 50) at a time, after `cursor`."""
        scope = scope_of(who)
        text = query.get("limit")
        limit = DEFAULT_LIMIT if text is None else parse_int(text, "limit", lo=1, hi=MAX_LIMIT)
        bound = {"scope": scope.index, "tenant": scope.tenant or ""}
        cursor = query.get("cursor")
        after = None if cursor is None else self._position(self.cursors.open(cursor, SCOPE, who, bound))
        page = self.keys.page(scope, limit, after)
        next_cursor = None
        if page.more and page.keys:
            last = page.keys[-1]
            next_cursor = self.cursors.issue(SCOPE, who, bound, {"order": list_order(last.created_at, last.key_id),
                                                                 "key_id": last.key_id})
        return {"api_keys": [key_document(k) for k in page.keys], "next_cursor": next_cursor}

    @staticmethod
    def _position(raw: dict[str, Any]) -> KeyPosition:
        order, key_id = raw.get("order"), raw.get("key_id")
        if not isinstance(order, str) or not isinstance(key_id, str):  # pragma: no cover - we signed it
            raise invalid_cursor()
        return KeyPosition(order, key_id)

    def revoke_key(self, who: Principal, key_id: str) -> None:
        """Revoke a key `who` could create (idempotent): no new token from it at once, and its
        tokens refused within `KEY_CHECK_SECONDS` everywhere (at once in this container). Keys
        created with its tokens stay valid: keys are independent."""
        who.require_role("admin", "partner", "merchant")
        stored = self.keys.get(key_id)
        if stored is None:
            raise NotFound(f"no API key {key_id}", code="key_not_found")
        key = stored.key
        require_may_manage(who, key.role, key.partner_id, key.merchant_id)
        read_at = self._wall()
        if key.revoked:  # revoked before: nothing to write
            self.cache.put(key_id, key, read_at)
            return
        revoked = self.keys.revoke(key_id, self.clock.now())
        if revoked is None:
            raise NotFound(f"no API key {key_id}", code="key_not_found")
        self.cache.put(key_id, revoked, read_at)
        self._trail(who, "api_key.revoke", revoked, {"role": key.role, "partner_id": key.partner_id,
                                                     "merchant_id": key.merchant_id})
        metrics.add_metric(name="ApiKeyRevoked", unit="Count", value=1)

    def _trail(self, who: Principal, action: str, key: ApiKey, what: dict[str, Any]) -> None:
        if self.trail is not None:
            self.trail.append(self.clock.now(), who.sub, who.role, action, key.key_id, what)

    # -- tokens
    def token(self, authorization: str | None) -> dict[str, Any]:
        """A token of the key an `Authorization: Basic base64(key_id:secret)` header names:
        `401 bad_credentials` for a malformed header, an unknown key or a wrong secret (alike, and
        after the same work), `401 key_revoked` for a revoked key (only to who holds its secret)."""
        key_id, secret = parse_basic(authorization)
        read_at = self._wall()
        stored = self.keys.get(key_id) if is_id(key_id) else None
        if not self._hasher.matches(key_id, secret, stored.secret_hash if stored else None) or stored is None:
            metrics.add_metric(name="BadCredentials", unit="Count", value=1)
            raise _bad_credentials()
        self.cache.put(key_id, stored.key, read_at)
        if stored.key.revoked:
            raise _key_revoked()
        return self._key_token(stored.key)

    def refresh(self, who: Principal) -> dict[str, Any]:
        """A fresh token of the key `who`'s (still valid) token was issued from; the key is read
        now, so a revoked key issues nothing more at once (`401 key_revoked`)."""
        if who.key_id is None:
            raise Unauthorized("only a token issued from an API key can be refreshed", code="invalid_token")
        read_at = self._wall()
        stored = self.keys.get(who.key_id)
        self.cache.put(who.key_id, stored.key if stored else None, read_at)
        self._require_fits(who, stored.key if stored else None)
        assert stored is not None
        return self._key_token(stored.key)

    def check_key(self, who: Principal) -> None:
        """The revocation check of a request with `who`'s token (every bearer request,
        `chalicelib.api.routing`): nothing for a token without `key_id`; else its key as this
        container last read it — at most `KEY_CHECK_SECONDS` ago, else read again (one GetItem)."""
        if who.key_id is None:
            return
        hit, key = self.cache.get(who.key_id)
        if not hit:
            read_at = self._wall()
            stored = self.keys.get(who.key_id)
            key = stored.key if stored else None
            self.cache.put(who.key_id, key, read_at)
        self._require_fits(who, key)

    @staticmethod
    def _require_fits(who: Principal, key: ApiKey | None) -> None:
        if key is None or not token_fits_key(who, key):
            raise Unauthorized("the token's API key does not exist or does not match it", code="invalid_token")
        if key.revoked:
            raise _key_revoked()

    def _key_token(self, key: ApiKey) -> dict[str, Any]:
        claims = key_token_claims(key, int(self._wall()), self._key_token_seconds)
        metrics.add_metric(name="TokenIssued", unit="Count", value=1)
        return self._answer(claims)

    def customer_token(self, customer_id: str) -> dict[str, Any]:
        """`{"token", "token_type", "expires_at", "customer_id"}`: a customer's token (role
        customer, `sub` = the platform's user id), valid 24 h. A user id that cannot be a token's
        `sub` (not 1–128 printable ASCII) is the platform's refusal, `401 auth_code_rejected`."""
        if not is_id(customer_id):
            raise Unauthorized("the platform answered no usable user id", code="auth_code_rejected")
        claims = customer_token_claims(customer_id, int(self._wall()))
        metrics.add_metric(name="CustomerTokenIssued", unit="Count", value=1)
        return {**self._answer(claims), "customer_id": customer_id}

    def _answer(self, claims: dict[str, Any]) -> dict[str, Any]:
        return {"token": sign_claims(self._jwt_secret, claims), "token_type": "Bearer",
                "expires_at": iso(datetime.fromtimestamp(claims["exp"], UTC))}

    # -- the rate limit of /v1/auth/*
    def admit(self, client: str) -> None:
        """Count one `/v1/auth/*` call of `client` (its source IP): `429 rate_limited` with
        `Retry-After` beyond this container's limit."""
        wait = self.limiter.admit(client)
        if wait is not None:
            metrics.add_metric(name="AuthRateLimited", unit="Count", value=1)
            raise TooManyRequests("too many authentication calls; retry later", retry_after=math.ceil(wait))

    # -- platform authorization codes
    def remember_auth_code(self, code: str, merchant_id: str, result: dict[str, Any]) -> dict[str, Any]:
        """`AuthCodes.remember` on the wall clock (a platform code's life is real time)."""
        return self.codes.remember(code, merchant_id, result, self._now())

    def recall_auth_code(self, code: str) -> tuple[str, dict[str, Any]] | None:
        """`AuthCodes.recall` on the wall clock."""
        return self.codes.recall(code, self._now())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

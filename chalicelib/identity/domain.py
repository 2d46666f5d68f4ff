"""API keys, the tokens issued from them and remembered authorization codes: plain data and
rules, no AWS."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from chalicelib.auth import Principal
from chalicelib.clock import iso
from chalicelib.cursors import list_order  # noqa: F401 - this area's lists use it (re-exported)
from chalicelib.errors import Conflict, Forbidden

KEY_ROLES = ("admin", "partner", "merchant")
TOKEN_ISSUER = "yundian"
KEY_TOKEN_SECONDS = 3600  # a token issued from an API key (wall clock)
CUSTOMER_TOKEN_SECONDS = 24 * 3600
AUTH_CODE_SECONDS = 24 * 3600  # how long a platform authorization code is remembered
KEY_CHECK_SECONDS = 60  # a key's state is trusted this long per container (revocation window)

# The key that hashes API key secrets is derived from the deployment's secret with this label
# (as cursors derive theirs with another), so a hash is useless without that secret.
SECRET_HASH_LABEL = b"yundian-api-key-secret-v1"
AUTH_CODE_PREFIX = "authcode#"  # guard-table keys of remembered authorization codes


@dataclass(frozen=True)
class ApiKey:
    """An API key as anyone may see it: never its secret, nor the secret's hash. A merchant key
    carries its merchant's partner (`partner_id`), which lists it among that partner's keys."""

    key_id: str
    name: str
    role: str
    partner_id: str | None
    merchant_id: str | None
    created_at: datetime
    created_by: str  # the `sub` of whoever created it (informational: keys are independent)
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class StoredKey:
    """An API key with the keyed hash of its secret, as the repository keeps it."""

    key: ApiKey
    secret_hash: str


def key_document(key: ApiKey) -> dict[str, Any]:
    """The contract's key document (lists; creation adds the secret and omits `revoked`)."""
    return {"key_id": key.key_id, "name": key.name, "role": key.role, "partner_id": key.partner_id,
            "merchant_id": key.merchant_id, "created_at": iso(key.created_at), "revoked": key.revoked}


class SecretHasher:
    """HMAC-SHA256 of `key_id "\\n" secret` under a key derived from the deployment's secret:
    a leaked table yields neither a usable secret nor a plain hash to crack offline, and a hash
    copied onto another key id does not match there."""

    _DECOY = "0" * 64  # compared against when the key is unknown, so both answers cost the same

    def __init__(self, deployment_secret: str) -> None:
        self._key = hmac.new(deployment_secret.encode("utf-8"), SECRET_HASH_LABEL, hashlib.sha256).digest()

    def digest(self, key_id: str, secret: str) -> str:
        message = f"{key_id}\n{secret}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def matches(self, key_id: str, secret: str, stored_hash: str | None) -> bool:
        """Whether `secret` is the one hashed into `stored_hash` (None: an unknown key, which never
        matches — after the same work, compared in constant time)."""
        same = hmac.compare_digest(self.digest(key_id, secret), stored_hash or self._DECOY)
        return same and stored_hash is not None


# which roles' keys each role may manage (admins: every role's)
MANAGED_ROLES = {"admin": KEY_ROLES, "partner": ("partner", "merchant"), "merchant": ("merchant",)}


def require_may_manage_role(who: Principal, role: str) -> None:
    """`403 forbidden_role` unless `who`'s role may hold keys of `role` at all."""
    if role not in MANAGED_ROLES.get(who.role, ()):
        raise Forbidden(f"role {who.role!r} may not manage {role} keys", code="forbidden_role")


def require_may_manage(who: Principal, role: str, partner_id: str | None, merchant_id: str | None) -> None:
    """Who may create, list and revoke which key (contract): an admin any; a partner partner keys of
    itself and merchant keys of its merchants (`partner_id` of a merchant key is its merchant's
    partner); a merchant merchant keys of itself. A role that may not manage such a key at all is
    `403 forbidden_role`; another tenant's key `403 forbidden_tenant`."""
    require_may_manage_role(who, role)
    if who.role == "partner" and partner_id != who.partner_id:
        raise Forbidden("not allowed to manage keys of another partner or its merchants", code="forbidden_tenant")
    if who.role == "merchant" and merchant_id != who.merchant_id:
        raise Forbidden("not allowed to manage keys of another merchant", code="forbidden_tenant")


ScopeIndex = Literal["all", "partner", "merchant"]


@dataclass(frozen=True)
class KeyScope:
    """The keys a caller lists: every key (admins), a partner's (its own and its merchants'), or a
    merchant's."""

    index: ScopeIndex
    tenant: str | None = None

    def holds(self, key: ApiKey) -> bool:
        if self.index == "partner":
            return key.partner_id == self.tenant
        if self.index == "merchant":
            return key.merchant_id == self.tenant
        return True


def scope_of(who: Principal) -> KeyScope:
    """What `who` may list: exactly the keys it could create (`require_may_manage`)."""
    if who.is_admin:
        return KeyScope("all")
    if who.role == "partner" and who.partner_id:
        return KeyScope("partner", who.partner_id)
    if who.role == "merchant" and who.merchant_id:
        return KeyScope("merchant", who.merchant_id)
    raise Forbidden(f"role {who.role!r} has no API keys", code="forbidden_role")


@dataclass(frozen=True)
class KeyPosition:
    """Where a page of keys ends: the last key's `list_order` and id."""

    order: str
    key_id: str


@dataclass(frozen=True)
class KeyPage:
    keys: tuple[ApiKey, ...]
    more: bool


def key_token_claims(key: ApiKey, now: int, lifetime: int = KEY_TOKEN_SECONDS) -> dict[str, Any]:
    """The claims of a token issued from `key` at unix time `now`: revision 1's (`sub`, `role`,
    `exp`, `partner_id` of a partner, `merchant_id` of a merchant) plus `iss`, `iat` and `key_id`;
    `lifetime` seconds long (an hour; shorter only where the local stage says so).
    `sub` is the key id: the principal is whoever holds that key (the admin trail names it)."""
    claims: dict[str, Any] = {"iss": TOKEN_ISSUER, "sub": key.key_id, "role": key.role, "iat": now,
                              "exp": now + lifetime, "key_id": key.key_id}
    if key.role == "partner":
        claims["partner_id"] = key.partner_id
    elif key.role == "merchant":
        claims["merchant_id"] = key.merchant_id
    return claims


def customer_token_claims(customer_id: str, now: int) -> dict[str, Any]:
    """A customer's token: `sub` is the platform's user id, valid 24 h."""
    return {"iss": TOKEN_ISSUER, "sub": customer_id, "role": "customer", "iat": now,
            "exp": now + CUSTOMER_TOKEN_SECONDS}


def token_fits_key(who: Principal, key: ApiKey) -> bool:
    """A token names its key's role and tenant (anything else was not issued from it)."""
    if who.role != key.role:
        return False
    if key.role == "partner":
        return who.partner_id == key.partner_id
    if key.role == "merchant":
        return who.merchant_id == key.merchant_id
    return True


# ------------------------------------------------------------------ authorization codes


def auth_code_key(code: str) -> str:
    """Where a platform authorization code is remembered: a hash of it, never the code."""
    return AUTH_CODE_PREFIX + hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RememberedCode:
    merchant_id: str
    result: dict[str, Any]
    expires_at: datetime


def code_free(expires_at: datetime | None, now: datetime) -> bool:
    """A code may be remembered when it is not, or its memory expired (TTL deletion is lazy, so an
    expired entry may still be stored; the DynamoDB condition says the same)."""
    return expires_at is None or expires_at < now


def result_for(entry: RememberedCode, merchant_id: str) -> dict[str, Any]:
    """What a remembered code answers `merchant_id`: the stored result when it was remembered for
    that merchant; `409 auth_code_used` when for another."""
    if entry.merchant_id != merchant_id:
        raise Conflict("this authorization code was already used for another merchant", code="auth_code_used")
    return entry.result

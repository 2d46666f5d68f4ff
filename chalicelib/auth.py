"""Who is calling: bearer JWTs (people and their tools) and terminal request signatures.

Pure functions and dataclasses; the terminal lookup and nonce claim live in the onboarding
repository. Everything here is checked in one place: `chalicelib.api.routing`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from chalicelib.errors import Forbidden, Unauthorized
from chalicelib.parsing import check_id, is_id, parse_int

ROLES = ("admin", "partner", "merchant", "customer")
SIGNATURE_WINDOW_SECONDS = 300
NONCE_TTL_SECONDS = 600
MAX_TOKEN_LIFETIME_SECONDS = 400 * 86400  # a token whose exp lies further ahead is refused (wall clock)
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    partner_id: str | None = None
    merchant_id: str | None = None
    key_id: str | None = None  # the API key a token was issued from (its revocation ends the token)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this", code="forbidden_role")

    def can_act_for_partner(self, partner_id: str) -> bool:
        return self.is_admin or (self.role == "partner" and self.partner_id == partner_id)

    def can_act_for_merchant(self, merchant_id: str, merchant_partner_id: str) -> bool:
        if self.is_admin:
            return True
        if self.role == "partner":
            return self.partner_id == merchant_partner_id
        if self.role == "merchant":
            return self.merchant_id == merchant_id
        return False

    def require_partner(self, partner_id: str) -> None:
        if not self.can_act_for_partner(partner_id):
            raise Forbidden("not allowed to act for this partner", code="forbidden_tenant")

    def require_merchant(self, merchant_id: str, merchant_partner_id: str) -> None:
        if not self.can_act_for_merchant(merchant_id, merchant_partner_id):
            raise Forbidden("not allowed to act for this merchant", code="forbidden_tenant")


def decode_bearer(authorization: str | None, secret: str, now: float) -> Principal:
    """Verify an `Authorization: Bearer <HS256 JWT>` header against the wall clock `now`."""
    if not authorization:
        raise Unauthorized("missing bearer token", code="missing_token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization must be 'Bearer <token>'", code="invalid_token")
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            # `iat` is informational (`exp` decides): a check would refuse a token issued a moment
            # ago by a container whose clock runs a few ms ahead (iat is whole seconds)
            options={"require": ["exp", "sub"], "verify_aud": False, "verify_iat": False},
            leeway=0,
        )
    except jwt.ExpiredSignatureError as e:
        raise Unauthorized("token expired", code="token_expired") from e
    except jwt.PyJWTError as e:
        raise Unauthorized("invalid token", code="invalid_token") from e
    # PyJWT checks exp against time.time(); `now` (the same wall clock) bounds how far ahead it may lie.
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp - now > MAX_TOKEN_LIFETIME_SECONDS:
        raise Unauthorized("token exp lies more than 400 days ahead", code="invalid_token")
    sub, role = claims.get("sub"), claims.get("role")
    if not isinstance(sub, str) or not is_id(sub) or role not in ROLES:
        raise Unauthorized("token lacks a valid sub or role", code="invalid_token")
    partner_id = claims.get("partner_id")
    merchant_id = claims.get("merchant_id")
    if any(isinstance(v, str) and v and not is_id(v) for v in (partner_id, merchant_id)):
        raise Unauthorized("token's partner_id or merchant_id is not an id", code="invalid_token")
    key_id = claims.get("key_id")
    if "key_id" in claims and not is_id(key_id):
        raise Unauthorized("token's key_id is not an id", code="invalid_token")
    if role == "partner" and not (isinstance(partner_id, str) and partner_id):
        raise Unauthorized("partner token without partner_id", code="invalid_token")
    if role == "merchant" and not (isinstance(merchant_id, str) and merchant_id):
        raise Unauthorized("merchant token without merchant_id", code="invalid_token")
    return Principal(
        sub=sub,
        role=role,
        partner_id=partner_id if isinstance(partner_id, str) else None,
        merchant_id=merchant_id if isinstance(merchant_id, str) else None,
        key_id=key_id if isinstance(key_id, str) else None,
    )


def issue_token(secret: str, *, sub: str, role: str, exp: float, **claims: str | int) -> str:
    """Mint a token (demo data, tests, operators' tooling)."""
    return sign_claims(secret, {"sub": sub, "role": role, "exp": int(exp), **claims})


def sign_claims(secret: str, claims: Mapping[str, object]) -> str:
    """An HS256 token of exactly these claims (the tokens yundian issues: `chalicelib.identity`)."""
    return jwt.encode(dict(claims), secret, algorithm="HS256")


MAX_BASIC_CHARS = 1024  # far above `key_… : 43-char secret`; a longer header is no credential of ours


def parse_basic(authorization: str | None) -> tuple[str, str]:
    """`(user, password)` of an `Authorization: Basic base64(user:password)` header (RFC 7617,
    UTF-8); anything else is `401 bad_credentials`."""
    def bad() -> Unauthorized:
        return Unauthorized("authorization must be 'Basic base64(key_id:secret)'", code="bad_credentials")

    if not authorization or len(authorization) > MAX_BASIC_CHARS:
        raise bad()
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise bad()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as e:
        raise bad() from e
    user, colon, password = decoded.partition(":")
    if not colon or not user or not password:
        raise bad()
    return user, password


@dataclass(frozen=True)
class SignedRequest:
    """The terminal headers of a request, syntactically checked."""

    terminal_id: str
    timestamp: str
    nonce: str
    signature: str


def parse_terminal_headers(headers: Mapping[str, str], now: float) -> SignedRequest:
    """Check presence, shape and freshness (real wall clock) of the terminal headers."""
    terminal_id = headers.get("x-yundian-terminal")
    if not terminal_id:
        raise Unauthorized("missing X-Yundian-Terminal", code="unknown_terminal")
    check_id(terminal_id, "X-Yundian-Terminal", error=Unauthorized, code="unknown_terminal")
    ts, nonce, sig = (
        headers.get("x-yundian-timestamp"),
        headers.get("x-yundian-nonce"),
        headers.get("x-yundian-signature"),
    )
    if not ts or not nonce or not sig:
        raise Unauthorized("missing signature headers", code="bad_signature")
    unix = parse_int(ts, "X-Yundian-Timestamp (unix seconds)", max_digits=12, error=Unauthorized,
                     code="stale_timestamp")
    if abs(now - unix) > SIGNATURE_WINDOW_SECONDS:
        raise Unauthorized("timestamp outside the 300 s window", code="stale_timestamp")
    if not NONCE_RE.match(nonce):
        raise Unauthorized("nonce must be 16-64 chars of [A-Za-z0-9_-]", code="bad_signature")
    if not HEX64_RE.match(sig):
        raise Unauthorized("signature must be lowercase hex HMAC-SHA256", code="bad_signature")
    return SignedRequest(terminal_id, ts, nonce, sig)


def terminal_signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signature(signed: SignedRequest, secret: str, method: str, path: str, body: bytes) -> None:
    expected = terminal_signature(secret, method, path, signed.timestamp, signed.nonce, body)
    if not hmac.compare_digest(expected, signed.signature):
        raise Unauthorized("signature does not match", code="bad_signature")

"""Alipay's OpenAPI gateway, the `AlipayOAuth` port's adapter (the error mapping is in
`platform_ports`).

The protocol (public-key mode, RSA2): one form-encoded POST to the gateway with the common
parameters `app_id, method, format=JSON, charset=utf-8, sign_type=RSA2, timestamp` (Beijing time,
`yyyy-MM-dd HH:mm:ss`), `version=1.0`, the method's own (`grant_type` and `code` for
`alipay.system.oauth.token`; a `biz_content` JSON object of them for `alipay.open.auth.token.app`)
and `sign`: the base64 SHA256withRSA signature, with the app's private key, of every non-empty
parameter but `sign`, sorted by name, joined `k=v&k=v` (raw values, UTF-8).

The answer is `{"<method, dots as underscores>_response": {...}, "sign": "..."}` (or
`error_response` for some refusals); `sign` covers the exact text of the response object as it
stands in the body — extracted, never re-serialised — verified with Alipay's public key. An
answer without a valid signature is never trusted (503), refusals included.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import platform_crypto
from chalicelib.config import DEFAULT_ALIPAY_GATEWAY_URL, Config
from chalicelib.errors import AppError
from chalicelib.identity.platform_http import HttpPolicy, PlatformHttp, form_headers
from chalicelib.identity.platform_ports import (
    AlipayIdentity,
    AppAuthorization,
    code_rejected,
    platform_unavailable,
)
from chalicelib.observability import logger

PLATFORM = "alipay"
OAUTH_TOKEN = "alipay.system.oauth.token"
APP_AUTH_TOKEN = "alipay.open.auth.token.app"
BEIJING = ZoneInfo("Asia/Shanghai")
SUCCESS = "10000"
CODE_REJECTING_SUB_CODES = frozenset({"isv.code-invalid", "isv.unmatched-app-id"})
SERVICE_UNAVAILABLE = "20000"
_ID = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, as the buyer ids of notifications
_WS = " \t\n\r"


class UntrustedAnswer(ValueError):
    """An answer that is not JSON of the gateway's shape, is unsigned, or whose signature fails."""


def signing_content(params: Mapping[str, str]) -> str:
    """What a request's `sign` covers: every non-empty parameter but `sign`, sorted, `k=v&k=v`."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def top_level_members(text: str) -> dict[str, str]:
    """A JSON object's members → the exact source text of each value (json's own scanner finds
    where each value ends). ValueError when `text` is not one JSON object or repeats a name."""
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in _WS:
            i += 1
        return i

    i = skip(0)
    if text[i:i + 1] != "{":
        raise ValueError("not a JSON object")
    i = skip(i + 1)
    members: dict[str, str] = {}
    if text[i:i + 1] == "}":
        i += 1
    else:
        while True:
            if text[i:i + 1] != '"':
                raise ValueError("expected a member name")
            name, i = decoder.raw_decode(text, i)
            i = skip(i)
            if text[i:i + 1] != ":":
                raise ValueError("expected ':'")
            start = skip(i + 1)
            _, i = decoder.raw_decode(text, start)
            if name in members:
                raise ValueError(f"member {name!r} repeated")
            members[name] = text[start:i]
            i = skip(i)
            if text[i:i + 1] == ",":
                i = skip(i + 1)
                continue
            if text[i:i + 1] != "}":
                raise ValueError("expected ',' or '}'")
            i += 1
            break
    if skip(i) != len(text):
        raise ValueError("text after the object")
    return members


def verified_response(body: bytes, method: str, public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The response object of a gateway answer whose signature verifies; UntrustedAnswer otherwise."""
    try:
        text = body.decode("utf-8")
        members = top_level_members(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UntrustedAnswer(f"not a gateway answer ({type(exc).__name__})") from None
    raw = members.get(response_key(method))
    if raw is None:
        raw = members.get("error_response")
    if raw is None:
        raise UntrustedAnswer("no response object")
    try:
        sign = json.loads(members["sign"]) if "sign" in members else None
    except ValueError:
        sign = None
    if not isinstance(sign, str) or not sign:
        raise UntrustedAnswer("unsigned answer")
    if not platform_crypto.verify_sha256_rsa(raw.encode("utf-8"), sign, public_key):
        raise UntrustedAnswer("the answer's signature does not verify")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise UntrustedAnswer("the response is not JSON") from None
    if not isinstance(payload, dict):
        raise UntrustedAnswer("the response is not an object")
    return payload


def refusal(method: str, payload: Mapping[str, Any]) -> AppError | None:
    """None for a success; else the error the platform's `code`/`sub_code` map to."""
    code, sub_code = str(payload.get("code") or ""), str(payload.get("sub_code") or "")
    if code in ("", SUCCESS) and not sub_code:
        return None
    fields = {"platform": PLATFORM, "method": method, "code": code, "sub_code": sub_code}
    if sub_code in CODE_REJECTING_SUB_CODES:
        logger.info("platform refused the code", extra=fields)
        return code_rejected(PLATFORM)
    if code == SERVICE_UNAVAILABLE or sub_code.startswith(("isp.", "aop.unknow")):
        logger.warning("platform unavailable", extra=fields)
    else:  # our request, our app's configuration or permissions: an operator must act
        logger.error("platform refused our request", extra=fields)
    return platform_unavailable(PLATFORM)


def _identifier(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise UntrustedAnswer("a malformed id")


class AlipayOpenApiClient:
    """`AlipayOAuth` over the OpenAPI gateway. Keys are parsed on first use (building the client
    never fails on configuration); a missing or unusable key answers 503 and logs which."""

    def __init__(self, *, app_id: str, app_private_key: str, alipay_public_key: str,
                 gateway_url: str = DEFAULT_ALIPAY_GATEWAY_URL, policy: HttpPolicy | None = None,
                 http: PlatformHttp | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        self.app_id = app_id
        self.gateway_url = gateway_url
        self._app_private_key = app_private_key
        self._alipay_public_key = alipay_public_key
        self._http = http or PlatformHttp(PLATFORM, policy)
        self._wall_clock = wall_clock

    @classmethod
    def from_config(cls, config: Config, policy: HttpPolicy | None = None) -> AlipayOpenApiClient:
        return cls(app_id=config.alipay_app_id, app_private_key=config.alipay_app_private_key,
                   alipay_public_key=config.alipay_public_key, gateway_url=config.alipay_gateway_url,
                   policy=policy)

    def user_id_for(self, auth_code: str) -> AlipayIdentity:
        if not auth_code:
            raise code_rejected(PLATFORM)
        payload = self._call(OAUTH_TOKEN, {"grant_type": "authorization_code", "code": auth_code})
        try:
            user_id, open_id = _identifier(payload.get("user_id")), _identifier(payload.get("open_id"))
            if not (user_id or open_id):
                raise UntrustedAnswer("the answer names no user")
        except UntrustedAnswer as exc:
            raise self._untrusted(OAUTH_TOKEN, exc) from None
        return AlipayIdentity(user_id=user_id, open_id=open_id)

    def authorize_app(self, app_auth_code: str) -> AppAuthorization:
        if not app_auth_code:
            raise code_rejected(PLATFORM)
        biz = json.dumps({"grant_type": "authorization_code", "code": app_auth_code}, separators=(",", ":"))
        payload = self._call(APP_AUTH_TOKEN, {"biz_content": biz})
        try:
            return _authorization(payload)
        except UntrustedAnswer as exc:
            raise self._untrusted(APP_AUTH_TOKEN, exc) from None

    # ------------------------------------------------------------------ the gateway

    def _call(self, method: str, own: Mapping[str, str]) -> dict[str, Any]:
        app_key, platform_key = self._keys
        params = {
            "app_id": self.app_id, "method": method, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
            "timestamp": datetime.fromtimestamp(self._wall_clock(), BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0", **own,
        }
        params["sign"] = platform_crypto.sign_sha256_rsa(signing_content(params).encode("utf-8"), app_key)
        body = self._http.send("POST", self.gateway_url, data=params, headers=form_headers())
        try:
            payload = verified_response(body, method, platform_key)
        except UntrustedAnswer as exc:
            raise self._untrusted(method, exc) from None
        err = refusal(method, payload)
        if err is not None:
            raise err
        return payload

    @cached_property
    def _keys(self) -> tuple[rsa.RSAPrivateKey, rsa.RSAPublicKey]:
        missing = [name for name, value in (("ALIPAY_APP_ID", self.app_id),
                                            ("ALIPAY_APP_PRIVATE_KEY", self._app_private_key),
                                            ("ALIPAY_PUBLIC_KEY", self._alipay_public_key)) if not value]
        if missing:
            logger.error("Alipay OpenAPI is not configured", extra={"missing": missing})
            raise platform_unavailable(PLATFORM)
        try:
            return (platform_crypto.load_private_key(self._app_private_key, "ALIPAY_APP_PRIVATE_KEY"),
                    platform_crypto.load_public_key(self._alipay_public_key, "ALIPAY_PUBLIC_KEY"))
        except ValueError as exc:
            logger.error("Alipay OpenAPI is not configured", extra={"reason": str(exc)})
            raise platform_unavailable(PLATFORM) from None

    def _untrusted(self, method: str, exc: UntrustedAnswer) -> AppError:
        logger.error("untrusted platform answer", extra={"platform": PLATFORM, "method": method, "reason": str(exc)})
        return platform_unavailable(PLATFORM)


def _authorization(payload: Mapping[str, Any]) -> AppAuthorization:
    """The authorizing merchant: the flat fields of the classic answer, or its `tokens` list
    (all for one merchant)."""
    entries: list[Any] = [payload] if payload.get("user_id") else payload.get("tokens") or []
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise UntrustedAnswer("the answer names no merchant")
    sellers = {_identifier(e.get("user_id")) for e in entries}
    first = entries[0]
    user_id, app_id = _identifier(first.get("user_id")), _identifier(first.get("auth_app_id"))
    if len(sellers) != 1 or not user_id or not app_id:
        raise UntrustedAnswer("the answer names no single merchant and app")
    token, refresh = first.get("app_auth_token"), first.get("app_refresh_token")
    return AppAuthorization(user_id=user_id, auth_app_id=app_id,
                            app_auth_token=token if isinstance(token, str) else "",
                            app_refresh_token=refresh if isinstance(refresh, str) else "")


__all__ = ["AlipayOpenApiClient", "signing_content", "top_level_members", "verified_response", "refusal",
           "OAUTH_TOKEN", "APP_AUTH_TOKEN", "UntrustedAnswer"]

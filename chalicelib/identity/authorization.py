"""Getting in through the platforms: customers' mini-program logins (Alipay `my.getAuthCode`,
WeChat `wx.login`) and merchants' authorization of our Alipay app (the ISV flow), which is how a
partner proves a seller id is its merchant's.

The platforms' answers come through the `AlipayOAuth` / `WechatLogin` ports (real HTTP adapters,
a simulator on the local stage). A merchant authorization binds the seller id the platform names
as the merchant's *verified* `alipay` binding (onboarding's rules; payments already notified
through it are confirmed). A platform code works once, so what it yielded is remembered for 24 h
before anything else is done with it: a retried request — an answer lost on the way back — gets
the same binding instead of a refusal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode

from pydantic import StringConstraints

from chalicelib.auth import Principal
from chalicelib.clock import Clock, iso, wall_clock
from chalicelib.config import Config
from chalicelib.errors import BadRequest, Conflict
from chalicelib.identity.platform_ports import AlipayOAuth, WechatLogin
from chalicelib.onboarding.domain import Merchant
from chalicelib.onboarding.platforms import ALIPAY
from chalicelib.schemas import Body, parse_body

STATE_TTL = timedelta(minutes=15)
_STATE_KEY_LABEL = b"yundian/alipay-app-authorization-state/v1"
PlatformCode = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,256}$")]


class AlipayLoginBody(Body):
    auth_code: PlatformCode


class WechatLoginBody(Body):
    code: PlatformCode


class AppAuthorizeBody(Body):
    app_auth_code: PlatformCode


class Tokens(Protocol):
    """What this needs of the identity service: customer tokens and the 24-hour code memory."""

    def customer_token(self, customer_id: str) -> dict[str, Any]: ...
    def remember_auth_code(self, code: str, merchant_id: str, result: dict[str, Any]) -> dict[str, Any]: ...
    def recall_auth_code(self, code: str) -> tuple[str, dict[str, Any]] | None: ...


class Merchants(Protocol):
    def merchant_for(self, who: Principal, merchant_id: str) -> Merchant: ...
    def merchant(self, merchant_id: str) -> Merchant: ...


class PlatformBinder(Protocol):
    """Verifies a binding on the platform's word (payments' ConfirmationService)."""

    def verify_by_platform(self, who: Principal, merchant_id: str, platform: str,
                           platform_id: str) -> dict[str, Any]: ...


class StateSigner:
    """The `state` of an authorization URL: the merchant and an expiry, HMAC-signed with a key
    derived from the deployment's secret (its own label: no other token verifies as one)."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _STATE_KEY_LABEL, hashlib.sha256).digest()

    def sign(self, merchant_id: str, expires: datetime) -> str:
        doc = json.dumps({"m": merchant_id, "e": int(expires.timestamp()), "n": secrets.token_hex(4)},
                         separators=(",", ":")).encode()
        payload = base64.urlsafe_b64encode(doc).rstrip(b"=")
        mac = base64.urlsafe_b64encode(hmac.new(self._key, payload, hashlib.sha256).digest()).rstrip(b"=")
        return (payload + b"." + mac).decode()

    def merchant_of(self, state: str | None, now: datetime) -> str:
        """The merchant a valid, unexpired state names; 400 `invalid_state` otherwise."""
        invalid = BadRequest("the authorization state is invalid or expired; ask for a new link", code="invalid_state")
        if not state or len(state) > 512 or state.count(".") != 1:
            raise invalid
        payload, _, mac = state.encode("ascii", "replace").partition(b".")
        want = base64.urlsafe_b64encode(hmac.new(self._key, payload, hashlib.sha256).digest()).rstrip(b"=")
        if not hmac.compare_digest(want, mac):
            raise invalid
        try:
            doc = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
            merchant_id, expires = doc["m"], doc["e"]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise invalid from exc
        if not isinstance(merchant_id, str) or not isinstance(expires, int) or now.timestamp() > expires:
            raise invalid
        return merchant_id


class PlatformLogins:
    """Customer login and merchant authorization through the platforms."""

    def __init__(self, config: Config, clock: Clock, alipay: AlipayOAuth, wechat: WechatLogin,
                 tokens: Tokens, merchants: Merchants,
                 binder: PlatformBinder, wall: Callable[[], float] = wall_clock) -> None:
        self.config = config
        self.clock = clock
        self._wall = wall  # the state's 15 minutes are real minutes (like token lifetimes)
        self.alipay = alipay
        self.wechat = wechat
        self.tokens = tokens
        self.merchants = merchants
        self.binder = binder
        self.states = StateSigner(config.jwt_secret)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    # ------------------------------------------------------------------ customers

    def alipay_login(self, raw: bytes) -> dict[str, Any]:
        """`my.getAuthCode` → a customer token; the customer id is the platform's user id (or, for
        apps on the OpenID scheme, the `open_id`) — the id its notifications carry as the buyer."""
        body = parse_body(AlipayLoginBody, raw)
        return self.tokens.customer_token(self.alipay.user_id_for(body.auth_code).customer_id)

    def wechat_login(self, raw: bytes) -> dict[str, Any]:
        """`wx.login` → a customer token for the mini-program user's `openid`."""
        body = parse_body(WechatLoginBody, raw)
        return self.tokens.customer_token(self.wechat.openid_for(body.code).openid)

    # ------------------------------------------------------------------ merchants (ISV flow)

    def authorize_url(self, who: Principal, merchant_id: str, redirect_uri: str) -> dict[str, Any]:
        """Alipay's app-authorization page for the merchant's owner, with a 15-minute state."""
        who.require_role("admin", "partner")
        merchant = self.merchants.merchant_for(who, merchant_id)
        expires = self._now() + STATE_TTL
        query = urlencode({"app_id": self.config.alipay_app_id, "redirect_uri": redirect_uri,
                           "state": self.states.sign(merchant.merchant_id, expires)})
        return {"url": f"{self.config.alipay_app_auth_url}?{query}", "expires_at": iso(expires)}

    def authorize(self, who: Principal, merchant_id: str, raw: bytes) -> dict[str, Any]:
        """A partner's own tool posts the `app_auth_code` it received: the binding."""
        body = parse_body(AppAuthorizeBody, raw)
        who.require_role("admin", "partner")
        merchant = self.merchants.merchant_for(who, merchant_id)
        return self._bind(who, merchant.merchant_id, body.app_auth_code)

    def app_authorized(self, query: Mapping[str, str]) -> str:
        """Alipay's redirect after the owner authorized: the state names the merchant; an HTML
        page says what was bound."""
        merchant_id = self.states.merchant_of(query.get("state"), self._now())
        code = query.get("app_auth_code") or ""
        parse_body(AppAuthorizeBody, json.dumps({"app_auth_code": code}).encode())
        merchant = self.merchants.merchant(merchant_id)
        owner = Principal(sub="alipay-app-authorization", role="merchant", merchant_id=merchant_id)
        binding = self._bind(owner, merchant_id, code)
        return authorized_page(merchant.name, binding["id"])

    def _bind(self, who: Principal, merchant_id: str, code: str) -> dict[str, Any]:
        remembered = self.tokens.recall_auth_code(code)
        if remembered is None:
            authorization = self.alipay.authorize_app(code)  # the code is spent from here on
            entry = self.tokens.remember_auth_code(code, merchant_id, {"user_id": authorization.user_id})
        elif remembered[0] != merchant_id:
            raise Conflict("this authorization code was used for another merchant", code="auth_code_used")
        else:
            entry = remembered[1]
        # verifying an id already verified for this merchant keeps it: a retry answers the same binding
        return self.binder.verify_by_platform(who, merchant_id, ALIPAY, str(entry["user_id"]))


def authorized_page(merchant_name: str, seller_id: str) -> str:
    """The small page the shop owner sees after authorizing (no script; values escaped)."""
    name, sid = html.escape(merchant_name), html.escape(seller_id)
    return ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>授权成功 · Authorized</title></head><body style=\"font-family:sans-serif;margin:2em\">"
            f"<h1>授权成功</h1><p>{name} 已绑定支付宝账号 {sid}。可以关闭此页面。</p>"
            f"<p lang=\"en\">Authorized: {name} is now bound to Alipay account {sid}. You may close this page.</p>"
            "</body></html>")


def redirect_uri_of(headers: Mapping[str, str], context: Mapping[str, Any], public_url: str = "") -> str:
    """Where Alipay sends the owner back: the deployment's public URL when configured, else the
    URL this request came in on (API Gateway's stage path included)."""
    if public_url:
        return public_url.rstrip("/") + "/v1/auth/alipay/app-authorized"
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    host = lower.get("host", "127.0.0.1")
    proto = lower.get("x-forwarded-proto", "https" if "amazonaws.com" in host else "http")
    stage = str(context.get("stage") or "")
    prefix = f"/{stage}" if stage and "amazonaws.com" in host else ""
    return f"{proto}://{host}{prefix}/v1/auth/alipay/app-authorized"


__all__ = ["PlatformLogins", "StateSigner", "authorized_page", "redirect_uri_of"]

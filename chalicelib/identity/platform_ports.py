"""The platforms' login doors as ports: exchanging a mini-program's code for the platform's user
id (Alipay `alipay.system.oauth.token`, WeChat `jscode2session`) and a shop owner's app
authorization code for the seller id (`alipay.open.auth.token.app`). No I/O here; the adapters
are `alipay_openapi.AlipayOpenApiClient` and `wechat_api.WechatApiClient`.

What the adapters raise, for which answers of the platforms:

Alipay (the gateway's `code` and `sub_code`)
- `code` 10000, or none (as `alipay.system.oauth.token` answers a success), without `sub_code`:
  the result.
- `sub_code` `isv.code-invalid` (a wrong, used or expired code) or `isv.unmatched-app-id` (a code
  of another app), which the gateway sends under `code` 40002 (or 40004): `Unauthorized`
  `auth_code_rejected` (401).
- `code` 20000 (`isp.unknow-error`, `aop.unknow-error`: service unavailable), any `isp.*` sub
  code: `StorageUnavailable` `platform_unavailable` (503).
- `code` 20001 (our app's authorization), 40001 (a missing parameter), 40006 (a missing
  permission), 40002 with another sub code (`isv.invalid-signature`, `isv.invalid-app-id`,
  `isv.invalid-timestamp`, …), anything else: 503 `platform_unavailable`, logged as an error —
  our request or configuration is at fault, not the customer's code.
- An answer that is unsigned, whose signature does not verify (tampered), that is not JSON, or
  names no user: 503 `platform_unavailable`, never trusted (refusals included).

WeChat (`errcode`; answers are unsigned)
- `errcode` 0 or none, with an `openid`: the result.
- 40029 (invalid code), 40163 (code been used), 40226 (high-risk user): 401 `auth_code_rejected`.
- -1 (system busy), 45011 (API rate limit): 503 `platform_unavailable`.
- 40013 (invalid appid), 40125 (invalid appsecret), anything else; an answer that is not JSON or
  names no openid: 503 `platform_unavailable`, logged as an error.

Both
- Connection refused or reset, connect or read timeout, HTTP 5xx: retried (exponential backoff
  with jitter, `platform_http.HttpPolicy`), then 503 `platform_unavailable`.
- Another HTTP status than 200 (3xx, 4xx), an answer over 64 KiB: 503 `platform_unavailable` at once.
- An empty code is refused (401) without asking the platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.errors import StorageUnavailable, Unauthorized

AUTH_CODE_REJECTED = "auth_code_rejected"
PLATFORM_UNAVAILABLE = "platform_unavailable"


def code_rejected(platform: str) -> Unauthorized:
    return Unauthorized(f"{platform} refused the code", code=AUTH_CODE_REJECTED)


def platform_unavailable(platform: str) -> StorageUnavailable:
    return StorageUnavailable(f"{platform} could not be reached or gave no usable answer; retry later",
                              code=PLATFORM_UNAVAILABLE)


@dataclass(frozen=True)
class AlipayIdentity:
    """Who a customer's `auth_code` names: Alipay's `user_id` (`2088…`), or for apps on the OpenID
    scheme only a per-app `open_id`. At least one is set."""

    user_id: str | None
    open_id: str | None

    def __post_init__(self) -> None:
        if not (self.user_id or self.open_id):
            raise ValueError("an Alipay identity needs a user_id or an open_id")

    @property
    def customer_id(self) -> str:
        """The id the platform's notifications carry for this buyer: `user_id`, else `open_id`."""
        return self.user_id or self.open_id or ""


@dataclass(frozen=True)
class AppAuthorization:
    """A shop owner's authorization of our app (`alipay.open.auth.token.app`): the authorizing
    merchant's seller id (`user_id`, `2088…`) and app. The tokens act for the merchant: they are
    kept out of `repr`, hence out of logs and tracebacks."""

    user_id: str
    auth_app_id: str
    app_auth_token: str = field(default="", repr=False)
    app_refresh_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class WechatIdentity:
    """Who a `wx.login` code names. The session key the platform also answers is never kept."""

    openid: str
    unionid: str | None = None


class AlipayOAuth(Protocol):
    """Alipay's OAuth doors (OpenAPI gateway)."""

    def user_id_for(self, auth_code: str) -> AlipayIdentity:
        """The customer a mini-program's `my.getAuthCode` code names (`alipay.system.oauth.token`,
        grant_type authorization_code). 401 `auth_code_rejected` / 503 `platform_unavailable`."""
        ...

    def authorize_app(self, app_auth_code: str) -> AppAuthorization:
        """The merchant who authorized our app (`alipay.open.auth.token.app`, grant_type
        authorization_code). 401 `auth_code_rejected` / 503 `platform_unavailable`."""
        ...


class WechatLogin(Protocol):
    """WeChat's mini-program login (`jscode2session`)."""

    def openid_for(self, code: str) -> WechatIdentity:
        """The customer a `wx.login` code names. 401 `auth_code_rejected` / 503 `platform_unavailable`."""
        ...


__all__ = ["AlipayOAuth", "WechatLogin", "AlipayIdentity", "AppAuthorization", "WechatIdentity",
           "AUTH_CODE_REJECTED", "PLATFORM_UNAVAILABLE", "code_rejected", "platform_unavailable"]

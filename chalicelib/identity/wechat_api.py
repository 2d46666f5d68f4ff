"""WeChat's mini-program login, the `WechatLogin` port's adapter (the error mapping is in
`platform_ports`).

`GET {base}/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code` answers JSON,
unsigned (often as `text/plain`): `{"openid", "session_key", "unionid"?}` or `{"errcode",
"errmsg"}`. The URL carries the app secret, so no log line and no error of ours names the URL
(see `platform_http`), and urllib3's own DEBUG lines are redacted. The `session_key` is read
past, never kept or logged.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.config import DEFAULT_WECHAT_API_BASE_URL, Config
from chalicelib.errors import AppError
from chalicelib.identity.platform_http import HttpPolicy, PlatformHttp, redact_urllib3_logs
from chalicelib.identity.platform_ports import WechatIdentity, code_rejected, platform_unavailable
from chalicelib.observability import logger

PLATFORM = "wechat"
PATH = "/sns/jscode2session"
CODE_REJECTED_ERRCODES = frozenset({40029, 40163, 40226})  # invalid code, code been used, high-risk user
BUSY_ERRCODES = frozenset({-1, 45011})  # system busy, API minute-quota reached
_ID = re.compile(r"^[\x21-\x7e]{1,64}$")


def identity_from(body: bytes) -> WechatIdentity | AppError:
    """The identity a `jscode2session` answer names, or the error its `errcode` maps to."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _garbage("not JSON")
    if not isinstance(payload, dict):
        return _garbage("not an object")
    errcode: Any = payload.get("errcode", 0)
    if isinstance(errcode, bool) or not isinstance(errcode, int):
        return _garbage("errcode is not a number")
    if errcode != 0:
        fields = {"platform": PLATFORM, "errcode": errcode}
        if errcode in CODE_REJECTED_ERRCODES:
            logger.info("platform refused the code", extra=fields)
            return code_rejected(PLATFORM)
        if errcode in BUSY_ERRCODES:
            logger.warning("platform unavailable", extra=fields)
        else:  # 40013 invalid appid, 40125 invalid appsecret, …: an operator must act
            logger.error("platform refused our request", extra=fields)
        return platform_unavailable(PLATFORM)
    openid, unionid = payload.get("openid"), payload.get("unionid")
    if not isinstance(openid, str) or not _ID.fullmatch(openid):
        return _garbage("no openid")
    if unionid in (None, ""):
        unionid = None
    elif not isinstance(unionid, str) or not _ID.fullmatch(unionid):
        return _garbage("a malformed unionid")
    return WechatIdentity(openid=openid, unionid=unionid)


def _garbage(reason: str) -> AppError:
    logger.error("untrusted platform answer", extra={"platform": PLATFORM, "reason": reason})
    return platform_unavailable(PLATFORM)


class WechatApiClient:
    """`WechatLogin` over WeChat's API. Building it opens no connection."""

    def __init__(self, *, appid: str, secret: str, base_url: str = DEFAULT_WECHAT_API_BASE_URL,
                 policy: HttpPolicy | None = None, http: PlatformHttp | None = None) -> None:
        self.appid = appid
        self._secret = secret
        self._url = base_url.rstrip("/") + PATH
        self._http = http or PlatformHttp(PLATFORM, policy)
        redact_urllib3_logs()

    def __repr__(self) -> str:
        return f"WechatApiClient(appid={self.appid!r})"

    @classmethod
    def from_config(cls, config: Config, policy: HttpPolicy | None = None) -> WechatApiClient:
        return cls(appid=config.wechat_miniapp_appid, secret=config.wechat_miniapp_secret,
                   base_url=config.wechat_api_base_url, policy=policy)

    def openid_for(self, code: str) -> WechatIdentity:
        if not code:
            raise code_rejected(PLATFORM)
        if not self.appid or not self._secret:
            logger.error("WeChat login is not configured", extra={
                "missing": [n for n, v in (("WECHAT_MINIAPP_APPID", self.appid),
                                           ("WECHAT_MINIAPP_SECRET", self._secret)) if not v]})
            raise platform_unavailable(PLATFORM)
        body = self._http.send("GET", self._url, params={
            "appid": self.appid, "secret": self._secret, "js_code": code, "grant_type": "authorization_code"})
        result = identity_from(body)
        if isinstance(result, AppError):
            raise result
        return result


__all__ = ["WechatApiClient", "identity_from"]

"""Routes: getting in through the payment platforms — customers' mini-program logins and the
merchant's authorization of our Alipay app (the ISV flow that verifies its `alipay` binding)."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api.routing import Ctx, Param, Router
from chalicelib.identity.authorization import AlipayLoginBody, AppAuthorizeBody, WechatLoginBody, redirect_uri_of
from chalicelib.identity.responses import AuthorizeUrl, CustomerToken
from chalicelib.onboarding.responses import Binding

router = Router(__name__)
STATE_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"  # base64url(payload) "." base64url(mac): StateSigner.sign
PAGE_HEADERS: dict[str, str | list[str]] = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                "X-Content-Type-Options": "nosniff"}


@router.route("/v1/auth/alipay", "POST", auth="none", body=AlipayLoginBody, tag="identity", response=CustomerToken,
              errors=(401,))
def alipay_login(ctx: Ctx) -> dict[str, Any]:
    """A mini-program's `my.getAuthCode` code → a customer token (24 h)."""
    return ctx.services.platform_logins.alipay_login(ctx.raw)


@router.route("/v1/auth/wechat", "POST", auth="none", body=WechatLoginBody, tag="identity", response=CustomerToken,
              errors=(401,))
def wechat_login(ctx: Ctx) -> dict[str, Any]:
    """A mini-program's `wx.login` code → a customer token (24 h)."""
    return ctx.services.platform_logins.wechat_login(ctx.raw)


@router.route("/v1/merchants/{merchant_id}/bindings/alipay/authorize-url", "GET", roles=("admin", "partner"),
              tag="identity", response=AuthorizeUrl)
def alipay_authorize_url(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """Alipay's app-authorization URL for the merchant's owner (a signed 15-minute `state`)."""
    redirect = redirect_uri_of(ctx.request.headers or {}, ctx.request.context or {},
                               ctx.services.config.public_url)
    return ctx.services.platform_logins.authorize_url(ctx.who, merchant_id, redirect)


@router.route("/v1/merchants/{merchant_id}/bindings/alipay/authorize", "POST", roles=("admin", "partner"),
              body=AppAuthorizeBody, tag="identity", response=Binding, errors=(401, 409))
def alipay_authorize(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """Bind the seller id an `app_auth_code` names as the merchant's verified Alipay binding."""
    return ctx.services.platform_logins.authorize(ctx.who, merchant_id, ctx.raw)


# Only the success is a page: its errors are the contract's JSON error body (400 invalid_state, 401
# auth_code_rejected, 404 the state's merchant is gone, 409 auth_code_used or platform_id_taken, 503).
@router.route("/v1/auth/alipay/app-authorized", "GET", auth="none", tag="identity", produces="text/html",
              query=(Param("app_auth_code", {"type": "string", "pattern": r"^[\x21-\x7e]{1,256}$"}, required=True,
                           description="Alipay's one-time app authorization code"),
                     Param("state", {"type": "string", "maxLength": 512, "pattern": STATE_PATTERN}, required=True,
                           description="the signed `state` of the authorize-url answer (15 minutes)")),
              errors=(400, 401, 404, 409, 503))
def alipay_app_authorized(ctx: Ctx) -> Response:
    """Alipay's redirect after the owner authorized our app: binds, and says so in a small page."""
    page = ctx.services.platform_logins.app_authorized(ctx.query)
    return Response(body=page, status_code=200, headers=PAGE_HEADERS)

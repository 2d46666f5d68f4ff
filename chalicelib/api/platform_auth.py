"""Routes: getting in through the payment platforms — customers' mini-program logins and the
merchant's authorization of our Alipay app (the ISV flow that verifies its `alipay` binding)."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api.routing import Ctx, Param, Router
from chalicelib.identity.authorization import AlipayLoginBody, AppAuthorizeBody, WechatLoginBody, redirect_uri_of

router = Router(__name__)
PAGE_HEADERS: dict[str, str | list[str]] = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                "X-Content-Type-Options": "nosniff"}


@router.route("/v1/auth/alipay", "POST", auth="none", body=AlipayLoginBody, tag="identity")
def alipay_login(ctx: Ctx) -> dict[str, Any]:
    """A mini-program's `my.getAuthCode` code → a customer token (24 h)."""
    return ctx.services.platform_logins.alipay_login(ctx.raw)


@router.route("/v1/auth/wechat", "POST", auth="none", body=WechatLoginBody, tag="identity")
def wechat_login(ctx: Ctx) -> dict[str, Any]:
    """A mini-program's `wx.login` code → a customer token (24 h)."""
    return ctx.services.platform_logins.wechat_login(ctx.raw)


@router.route("/v1/merchants/{merchant_id}/bindings/alipay/authorize-url", "GET", roles=("admin", "partner"),
              tag="identity")
def alipay_authorize_url(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """Alipay's app-authorization URL for the merchant's owner (a signed 15-minute `state`)."""
    redirect = redirect_uri_of(ctx.request.headers or {}, ctx.request.context or {},
                               ctx.services.config.public_url)
    return ctx.services.platform_logins.authorize_url(ctx.who, merchant_id, redirect)


@router.route("/v1/merchants/{merchant_id}/bindings/alipay/authorize", "POST", roles=("admin", "partner"),
              body=AppAuthorizeBody, tag="identity")
def alipay_authorize(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """Bind the seller id an `app_auth_code` names as the merchant's verified Alipay binding."""
    return ctx.services.platform_logins.authorize(ctx.who, merchant_id, ctx.raw)


@router.route("/v1/auth/alipay/app-authorized", "GET", auth="none", tag="identity", produces="text/html",
              query=(Param("app_auth_code", {"type": "string", "minLength": 1}, required=True),
                     Param("state", {"type": "string", "minLength": 1}, required=True)))
def alipay_app_authorized(ctx: Ctx) -> Response:
    """Alipay's redirect after the owner authorized our app: binds, and says so in a small page."""
    page = ctx.services.platform_logins.app_authorized(ctx.query)
    return Response(body=page, status_code=200, headers=PAGE_HEADERS)

"""Routes: terminal payment and refund callbacks, Alipay notifications, the merchant dashboard
and the callback log. The callbacks reach the payments service as they arrived."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api.routing import DATE, PAGED, Ctx, Param, Router
from chalicelib.clock import wall_clock
from chalicelib.payments.callbacks import CallbackReply, CallbackRequest
from chalicelib.payments.responses import (
    CallbackPage,
    Dashboard,
    DashboardSeries,
    Payment,
    PaymentPage,
    PaymentRecorded,
    RefundRecorded,
)
from chalicelib.payments.schemas import TerminalPayment, TerminalRefund

router = Router(__name__)
DAY = {"type": "string", "format": "date"}  # YYYY-MM-DD, a business day


def _callback(ctx: Ctx, source: str) -> CallbackRequest:
    headers = {str(k).lower(): str(v) for k, v in (ctx.request.headers or {}).items()}
    return CallbackRequest(source=source, method=ctx.request.method, path=ctx.request.path, headers=headers,
                           body=ctx.raw, wall_time=wall_clock())


def _reply(reply: CallbackReply) -> Response:
    if reply.status == 204:
        return Response(body="", status_code=204)
    return Response(body=reply.body, status_code=reply.status, headers={"Content-Type": reply.content_type})


@router.route("/v1/terminal/payments", "POST", auth="callback", doc_auth="terminal", body=TerminalPayment,
              response=PaymentRecorded, errors=(409,), tag="payments")
def terminal_payment(ctx: Ctx) -> Response:
    """Report a completed payment (recorded exactly once)."""
    return _reply(ctx.services.payments.terminal_payment(_callback(ctx, "terminal")))


@router.route("/v1/terminal/refunds", "POST", auth="callback", doc_auth="terminal", body=TerminalRefund,
              response=RefundRecorded, errors=(404, 409), tag="payments")
def terminal_refund(ctx: Ctx) -> Response:
    """Report a (partial) refund, idempotent by out_request_no."""
    return _reply(ctx.services.payments.terminal_refund(_callback(ctx, "terminal")))


@router.route("/v1/notify/alipay", "POST", auth="callback", doc_auth="alipay", tag="payments",
              produces="text/plain")
def alipay_notify(ctx: Ctx) -> Response:
    """Alipay's asynchronous trade notification; answers `success` once durably recorded."""
    return _reply(ctx.services.payments.alipay_notification(_callback(ctx, "alipay")))


@router.route("/v1/notify/wechatpay", "POST", auth="callback", doc_auth="wechatpay", tag="payments",
              status=204, errors=(400, 401, 403, 404, 409, 413, 422, 503))
def wechatpay_notify(ctx: Ctx) -> Response:
    """WeChat Pay's v3 notification (service-provider mode); answers `204` once durably recorded."""
    return _reply(ctx.services.payments.wechatpay_notification(_callback(ctx, "wechatpay")))


@router.route("/v1/merchants/{merchant_id}/dashboard", "GET", roles=("admin", "partner", "merchant"), tag="payments",
              query=(DATE,), response=Dashboard)
def dashboard(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """A merchant's day and month figures and its active memberships."""
    return ctx.services.payment_figures.dashboard(ctx.who, merchant_id, ctx.query.get("date"))


@router.route("/v1/merchants/{merchant_id}/dashboard/series", "GET", roles=("admin", "partner", "merchant"),
              tag="payments", query=(Param("from", DAY, required=True), Param("to", DAY, required=True)),
              response=DashboardSeries)
def dashboard_series(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """A merchant's day figures from `?from=` to `?to=` (YYYY-MM-DD, both inclusive, at most 92 days)."""
    return ctx.services.payment_figures.series(ctx.who, merchant_id, ctx.query)


@router.route("/v1/merchants/{merchant_id}/callbacks", "GET", roles=("admin", "partner", "merchant"),
              tag="payments", query=PAGED, response=CallbackPage)
def merchant_callbacks(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """The latest callbacks received for a merchant, as sent, with their outcomes (kept 30 days)."""
    return ctx.services.payment_figures.callbacks(ctx.who, merchant_id, ctx.query)


@router.route("/v1/admin/callbacks", "GET", roles=("admin",), tag="payments",
              query=(Param("source", {"type": "string", "enum": ["terminal", "alipay", "wechatpay"]}), *PAGED),
              response=CallbackPage)
def unattributed_callbacks(ctx: Ctx) -> dict[str, Any]:
    """Callbacks that could not be tied to a merchant (`?source=terminal|alipay|wechatpay`, all
    three merged without it), newest first, `?limit=` at a time; follow `next_cursor` with `?cursor=`."""
    return ctx.services.payment_figures.callbacks(ctx.who, None, ctx.query)


@router.route("/v1/merchants/{merchant_id}/payments", "GET", roles=("admin", "partner", "merchant"), tag="payments",
              query=(DATE, *PAGED), response=PaymentPage)
def merchant_payments(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """A merchant's payments of a business day (`?date=YYYY-MM-DD`, default today), latest first,
    `?limit=` (1..200, default 50) at a time; follow `next_cursor` with `?cursor=`."""
    return ctx.services.payment_reads.day(ctx.who, merchant_id, ctx.query)


@router.route("/v1/merchants/{merchant_id}/payments/{out_trade_no}", "GET", roles=("admin", "partner", "merchant"),
              tag="payments", response=Payment)
def merchant_payment(ctx: Ctx, merchant_id: str, out_trade_no: str) -> dict[str, Any]:
    """One payment of a merchant: amounts, refunds, member savings, channels and confirmation."""
    return ctx.services.payment_reads.one(ctx.who, merchant_id, out_trade_no)

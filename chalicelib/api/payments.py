"""Routes: terminal payment and refund callbacks, Alipay notifications, the merchant dashboard
and the callback log. Every callback, accepted or rejected, is logged with its outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from chalice import Blueprint, Response

from chalicelib.api.routing import Ctx, parse_body, route
from chalicelib.clock import wall_clock
from chalicelib.container import get_container
from chalicelib.observability import logger
from chalicelib.payments.repository import CallbackEntry
from chalicelib.payments.schemas import TerminalPayment, TerminalRefund

bp = Blueprint(__name__)

LOGGED_BODY_CHARS = 16 * 1024
_KEPT_HEADERS = ("content-type", "user-agent", "x-yundian-terminal", "x-yundian-timestamp", "x-yundian-nonce")


def _entry(ctx: Ctx, source: str) -> CallbackEntry:
    """The log entry of this callback (built once per request; never the Authorization header,
    and only the first 8 characters of a signature)."""
    entry = ctx.notes.get("log")
    if entry is None:
        headers = ctx.request.headers or {}
        kept = {h: str(headers.get(h))[:128] for h in _KEPT_HEADERS if headers.get(h)}
        if headers.get("x-yundian-signature"):
            kept["x-yundian-signature"] = str(headers["x-yundian-signature"])[:8] + "…"
        raw = ctx.raw or b""
        entry = CallbackEntry(source=source, path=ctx.request.path if hasattr(ctx.request, "path") else "",
                              body=raw[:LOGGED_BODY_CHARS].decode("utf-8", "replace"), body_bytes=len(raw),
                              headers=kept)
        if ctx.terminal is not None:
            entry.merchant_id, entry.terminal_id = ctx.terminal.merchant_id, ctx.terminal.terminal_id
        ctx.notes["log"] = entry
    return entry


def _body_of(response: Response) -> dict[str, Any]:
    body = response.body
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def _record_outcome(ctx: Ctx, source: str, response: Response) -> None:
    entry = _entry(ctx, source)
    if entry.written:  # recorded in the payment's own transaction
        return
    body = _body_of(response)
    entry.status = response.status_code
    entry.code = body.get("code") or ctx.notes.get("code")
    if response.status_code >= 500:
        entry.outcome = "failed"
    elif response.status_code >= 400:
        entry.outcome = "rejected"
        with single_metric(name="CallbackRejected", unit=MetricUnit.Count, value=1, namespace="Yundian") as m:
            m.add_dimension(name="code", value=str(entry.code or response.status_code))
        logger.info("callback rejected", extra={"code": entry.code, "source": source,
                                                "terminal_id": entry.terminal_id, "merchant_id": entry.merchant_id,
                                                "out_trade_no": entry.out_trade_no})
    else:
        entry.outcome = "duplicate" if body.get("duplicate") else (ctx.notes.get("outcome") or "recorded")
    container = get_container()
    try:
        container.payments_repo.log_callback(entry, container.clock.now())
    except Exception:  # noqa: BLE001 - the log must never change the answer to the caller
        logger.warning("could not write the callback log", exc_info=True)


def _after_terminal(ctx: Ctx, response: Response) -> Response:
    if ctx.terminal is None and ctx.request.headers.get("x-yundian-terminal"):
        _entry(ctx, "terminal").terminal_id = str(ctx.request.headers["x-yundian-terminal"])[:128]
    _record_outcome(ctx, "terminal", response)
    return response


def _after_alipay(ctx: Ctx, response: Response) -> Response:
    if response.status_code != 200:
        ctx.notes["code"] = _body_of(response).get("code")
    _record_outcome(ctx, "alipay", response)
    if response.status_code == 200:
        return response
    return Response(body="fail", status_code=response.status_code, headers={"Content-Type": "text/plain"})


def _wall_now() -> datetime:
    return datetime.fromtimestamp(wall_clock(), UTC)


@route(bp, "/v1/terminal/payments", "POST", auth="terminal", body=TerminalPayment, defer_nonce=True,
       after=_after_terminal, tag="payments")
def terminal_payment(ctx: Ctx) -> dict[str, Any]:
    """Report a completed payment (recorded exactly once)."""
    return get_container().payments.terminal_payment(
        ctx.terminal, lambda: parse_body(TerminalPayment, ctx.raw), _entry(ctx, "terminal"), _wall_now())


@route(bp, "/v1/terminal/refunds", "POST", auth="terminal", body=TerminalRefund, defer_nonce=True,
       after=_after_terminal, tag="payments")
def terminal_refund(ctx: Ctx) -> dict[str, Any]:
    """Report a (partial) refund, idempotent by out_request_no."""
    return get_container().payments.terminal_refund(
        ctx.terminal, lambda: parse_body(TerminalRefund, ctx.raw), _entry(ctx, "terminal"), _wall_now())


@route(bp, "/v1/notify/alipay", "POST", auth="alipay", after=_after_alipay, tag="payments")
def alipay_notify(ctx: Ctx) -> Response:
    """Alipay's asynchronous trade notification; answers `success` once durably recorded."""
    ctx.notes["outcome"] = get_container().payments.alipay_notification(ctx.raw, _entry(ctx, "alipay"))
    return Response(body="success", status_code=200, headers={"Content-Type": "text/plain"})


@route(bp, "/v1/merchants/{merchant_id}/dashboard", "GET", roles=("admin", "partner", "merchant"), tag="payments")
def dashboard(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """A merchant's day and month figures and its active memberships."""
    return get_container().payments.dashboard(ctx.who, merchant_id, ctx.query.get("date"))


@route(bp, "/v1/merchants/{merchant_id}/callbacks", "GET", roles=("admin", "partner", "merchant"), tag="payments")
def merchant_callbacks(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """The latest callbacks received for a merchant, as sent, with their outcomes (kept 30 days)."""
    return get_container().payments.callbacks(ctx.who, merchant_id, None)


@route(bp, "/v1/admin/callbacks", "GET", roles=("admin",), tag="payments")
def unattributed_callbacks(ctx: Ctx) -> dict[str, Any]:
    """Callbacks that could not be tied to a merchant (`?source=terminal|alipay`)."""
    return get_container().payments.callbacks(ctx.who, None, ctx.query.get("source"))

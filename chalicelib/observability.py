"""Powertools Logger, Metrics and Tracer, created once and wired into Chalice as middleware.

The Tracer (and with it the X-Ray SDK, ~1 s of imports) is built only when tracing is enabled
(`POWERTOOLS_TRACE_DISABLED` not true), on the first invocation."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from chalice.app import ConvertToMiddleware

SERVICE = "yundian"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Yundian", service=SERVICE)
Middleware = Callable[[Any, Callable[[Any], Any]], Any]
_tracing: Middleware | None = None
_tracing_lock = threading.Lock()


def tracing_enabled(env: dict[str, str] | None = None) -> bool:
    e = os.environ if env is None else env
    return e.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in ("true", "1")


def _passthrough(event: Any, get_response: Callable[[Any], Any]) -> Any:
    return get_response(event)


def _build_tracing() -> Middleware:
    if not tracing_enabled():
        return _passthrough
    from aws_lambda_powertools import Tracer  # imports the X-Ray SDK

    tracer = Tracer(service=SERVICE)
    return ConvertToMiddleware(tracer.capture_lambda_handler(capture_response=False))


def tracing_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """An X-Ray segment per invocation where tracing is enabled; a pass-through elsewhere."""
    global _tracing
    if _tracing is None:
        with _tracing_lock:
            if _tracing is None:
                _tracing = _build_tracing()
    return _tracing(event, get_response)

_SECRET_HEADERS = {"authorization", "x-yundian-signature"}


def correlation_id(event: Any) -> str:
    """API Gateway's request id when there is one; `chalice local` and tests carry none."""
    ctx = getattr(event, "context", None) or {}
    rid = ctx.get("requestId") if isinstance(ctx, dict) else None
    return str(rid) if rid else f"local-{uuid.uuid4()}"


def request_log_fields(event: Any) -> dict[str, Any]:
    headers = getattr(event, "headers", None) or {}
    return {
        "method": getattr(event, "method", None),
        "path": getattr(event, "path", None),
        "terminal_id": headers.get("x-yundian-terminal"),
        # never the Authorization header, the signature or the body
        "headers_seen": sorted(h for h in headers if h.lower() not in _SECRET_HEADERS)[:20],
    }


def flush_metrics() -> None:
    """Publish the metrics this invocation added (EMF on stdout); nothing when there are none."""
    if metrics.metric_set:
        metrics.flush_metrics()
    else:
        metrics.clear_metrics()


def http_middleware(event: Any, get_response: Any) -> Any:
    logger.set_correlation_id(correlation_id(event))
    try:
        response = get_response(event)
        logger.info("request", extra={**request_log_fields(event), "status": response.status_code})
        return response
    finally:
        flush_metrics()
        logger.set_correlation_id(None)


def job_middleware(event: Any, get_response: Any) -> Any:
    logger.set_correlation_id(f"job-{uuid.uuid4()}")
    try:
        return get_response(event)
    finally:
        flush_metrics()

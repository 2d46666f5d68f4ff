"""Callbacks as the payments service receives and answers them: the raw request (the HTTP layer
parses nothing), the reply, and the log record made of them.

What is kept of a callback is bounded: the body up to 16 KiB and a few non-secret headers (never
`Authorization`, only 8 characters of a signature)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chalicelib.errors import AppError
from chalicelib.observability import logger

LOGGED_BODY_CHARS = 16 * 1024
_KEPT_HEADERS = ("content-type", "user-agent", "x-yundian-terminal", "x-yundian-timestamp", "x-yundian-nonce")
_HEADER_CHARS = 128


@dataclass(frozen=True)
class CallbackRecord:
    """One callback as received and what became of it: the value the service returns and the
    repository writes (in the recording transaction when there is one). `received` — the log
    item's sort key — is fixed when the callback arrives, so a retried write writes one item."""

    source: str  # terminal | alipay
    path: str
    received: str  # <UTC ISO time, microseconds>#<random>
    body: str
    body_bytes: int
    headers: Mapping[str, str]
    status: int = 0
    code: str | None = None
    outcome: str = ""  # recorded | duplicate | ignored | rejected | failed
    merchant_id: str | None = None
    terminal_id: str | None = None
    out_trade_no: str | None = None

    @property
    def log_key(self) -> str:
        return self.merchant_id or f"unknown#{self.source}"

    def with_outcome(self, status: int, outcome: str, code: str | None = None) -> CallbackRecord:
        return replace(self, status=status, outcome=outcome, code=code)

    def about(self, **what: Any) -> CallbackRecord:
        """The same callback, now known to concern this merchant / terminal / payment."""
        return replace(self, **what)


def received_key(at: datetime, suffix: str) -> str:
    return f"{at.astimezone(UTC).isoformat(timespec='microseconds')}#{suffix}"


@dataclass(frozen=True)
class CallbackRequest:
    """A callback exactly as it arrived: headers with lower-case names, the raw body, and the
    real time of arrival (unix seconds; signature freshness is about real time)."""

    source: str  # terminal | alipay
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    wall_time: float


@dataclass(frozen=True)
class CallbackReply:
    status: int
    body: dict[str, Any] | str
    content_type: str = "application/json"


def new_record(req: CallbackRequest, at: datetime) -> CallbackRecord:
    """The log record of a callback received at `at`, before anything is known of it."""
    kept = {h: str(req.headers[h])[:_HEADER_CHARS] for h in _KEPT_HEADERS if req.headers.get(h)}
    if req.headers.get("x-yundian-signature"):
        kept["x-yundian-signature"] = str(req.headers["x-yundian-signature"])[:8] + "…"
    terminal = req.headers.get("x-yundian-terminal")
    return CallbackRecord(
        source=req.source, path=req.path, received=received_key(at, secrets.token_hex(4)),
        body=req.body[:LOGGED_BODY_CHARS].decode("utf-8", "replace"), body_bytes=len(req.body), headers=kept,
        terminal_id=str(terminal)[:_HEADER_CHARS] if terminal else None,
    )


def rejected(record: CallbackRecord, err: AppError) -> CallbackRecord:
    """The record of a callback answered with `err`, counted and logged as such."""
    if err.status >= 500:
        return record.with_outcome(err.status, "failed", err.code)
    with single_metric(name="CallbackRejected", unit=MetricUnit.Count, value=1, namespace="Yundian") as m:
        m.add_dimension(name="code", value=err.code)
    logger.info("callback rejected", extra={"code": err.code, "source": record.source,
                                            "terminal_id": record.terminal_id, "merchant_id": record.merchant_id,
                                            "out_trade_no": record.out_trade_no})
    return record.with_outcome(err.status, "rejected", err.code)

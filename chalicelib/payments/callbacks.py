"""Callbacks as the payments service receives and answers them: the raw request (the HTTP layer
parses nothing), the reply, and the log record made of them.

What is kept of a callback is bounded: the body up to 16 KiB and a few non-secret headers (never
`Authorization`, only 8 characters of a signature). A callback rejected before anyone was
authenticated (no terminal signature or platform notification tied it to a merchant) is anyone's
to send, so it costs little: the first 512 bytes of its body, the SHA-256 of the whole body, its
reason (`code`), in one of 16 partitions `unknown#<source>#<n>` picked from the server's own
`received` key, so no sender can aim them all at one key."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chalicelib.errors import AppError
from chalicelib.observability import logger

LOGGED_BODY_CHARS = 16 * 1024
UNAUTHENTICATED_BODY_BYTES = 512  # what is kept of a body nobody authenticated
UNKNOWN_LOG_SHARDS = 16  # partitions of the unattributed log, per source
SOURCES = ("terminal", "alipay", "wechatpay")
_KEPT_HEADERS = ("content-type", "user-agent", "x-yundian-terminal", "x-yundian-timestamp", "x-yundian-nonce",
                 "wechatpay-timestamp", "wechatpay-nonce", "wechatpay-serial", "wechatpay-signature-type")
_SIGNATURES = ("x-yundian-signature", "wechatpay-signature")  # only their first 8 characters are kept
_HEADER_CHARS = 128


@dataclass(frozen=True)
class CallbackRecord:
    """One callback as received and what became of it: the value the service returns and the
    repository writes (in the recording transaction when there is one). `received` — the log
    item's sort key — is fixed when the callback arrives, so a retried write writes one item."""

    source: str  # terminal | alipay | wechatpay
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
    body_sha256: str = ""  # of the whole body as received
    bounded: bool = False  # unauthenticated: the log keeps a prefix of the body and its hash

    @property
    def log_key(self) -> str:
        """The merchant's partition, or one of the unattributed shards of the source."""
        if self.merchant_id:
            return self.merchant_id
        shard = int.from_bytes(hashlib.sha256(self.received.encode()).digest()[:4], "big") % UNKNOWN_LOG_SHARDS
        return f"{unknown_log_key(self.source)}#{shard}"

    def unauthenticated(self) -> CallbackRecord:
        """What is kept of a callback nobody authenticated: a prefix of the body (the hash of all
        of it stays), an out_trade_no bounded like the headers."""
        head = self.body.encode("utf-8")[:UNAUTHENTICATED_BODY_BYTES].decode("utf-8", "ignore")
        otn = self.out_trade_no[:_HEADER_CHARS] if self.out_trade_no else self.out_trade_no
        return replace(self, body=head, out_trade_no=otn, bounded=True)

    def with_outcome(self, status: int, outcome: str, code: str | None = None) -> CallbackRecord:
        return replace(self, status=status, outcome=outcome, code=code)

    def about(self, **what: Any) -> CallbackRecord:
        """The same callback, now known to concern this merchant / terminal / payment."""
        return replace(self, **what)


def received_key(at: datetime, suffix: str) -> str:
    return f"{at.astimezone(UTC).isoformat(timespec='microseconds')}#{suffix}"


def received_at(received: str) -> str:
    """The RFC 3339 time of a `received` key (`<UTC ISO time>#<random>`)."""
    return received.split("#", 1)[0]


def unknown_log_key(source: str) -> str:
    """The name the unattributed callbacks of a source are read by (`GET /v1/admin/callbacks?source=`)."""
    return f"unknown#{source}"


def log_partitions(log_key: str) -> tuple[str, ...]:
    """The partitions holding the entries of `log_key`: a merchant's own one; for
    `unknown#<source>` its shards plus the unsharded partition older entries were written to."""
    if log_key.startswith("unknown#") and log_key.count("#") == 1:
        return (log_key, *(f"{log_key}#{n}" for n in range(UNKNOWN_LOG_SHARDS)))
    return (log_key,)


def newest_page(records: Iterable[CallbackRecord], limit: int,
                before: str | None) -> tuple[tuple[CallbackRecord, ...], bool]:
    """The `limit` latest records received strictly before `before` (the partitions of the log
    keys read, merged), and whether more of them remain."""
    kept = sorted((r for r in records if before is None or r.received < before),
                  key=lambda r: r.received, reverse=True)
    return tuple(kept[:limit]), len(kept) > limit


def newest_first(records: Iterable[CallbackRecord], limit: int) -> list[dict[str, Any]]:
    """The `limit` latest records as log entries (the partitions of one log key, merged)."""
    return [log_entry(r) for r in sorted(records, key=lambda r: r.received, reverse=True)[:limit]]


def log_entry(r: CallbackRecord) -> dict[str, Any]:
    """A log entry as `GET …/callbacks` shows it; text the caller sent stays a JSON string."""
    entry: dict[str, Any] = {
        "received": r.received, "received_at": received_at(r.received), "channel": r.source,
        "merchant_id": r.merchant_id, "source": r.source, "path": r.path, "status": r.status, "code": r.code,
        "outcome": r.outcome, "terminal_id": r.terminal_id, "out_trade_no": r.out_trade_no,
        "headers": dict(r.headers), "body": r.body, "body_bytes": r.body_bytes,
    }
    if r.bounded:
        entry["body_sha256"] = r.body_sha256
    return entry


@dataclass(frozen=True)
class CallbackRequest:
    """A callback exactly as it arrived: headers with lower-case names, the raw body, and the
    real time of arrival (unix seconds; signature freshness is about real time)."""

    source: str  # terminal | alipay | wechatpay
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
    for h in _SIGNATURES:
        if req.headers.get(h):
            kept[h] = str(req.headers[h])[:8] + "…"
    terminal = req.headers.get("x-yundian-terminal")
    return CallbackRecord(
        source=req.source, path=req.path, received=received_key(at, secrets.token_hex(4)),
        body=req.body[:LOGGED_BODY_CHARS].decode("utf-8", "replace"), body_bytes=len(req.body), headers=kept,
        terminal_id=str(terminal)[:_HEADER_CHARS] if terminal else None,
        body_sha256=hashlib.sha256(req.body).hexdigest(),
    )


def rejected(record: CallbackRecord, err: AppError) -> CallbackRecord:
    """The record of a callback answered with `err`, counted and logged as such; bounded when
    nothing authenticated it (no merchant known)."""
    if record.merchant_id is None:
        record = record.unauthenticated()
    if err.status >= 500:
        return record.with_outcome(err.status, "failed", err.code)
    with single_metric(name="CallbackRejected", unit=MetricUnit.Count, value=1, namespace="Yundian") as m:
        m.add_dimension(name="code", value=err.code)
    logger.info("callback rejected", extra={"code": err.code, "source": record.source,
                                            "terminal_id": record.terminal_id, "merchant_id": record.merchant_id,
                                            "out_trade_no": record.out_trade_no})
    return record.with_outcome(err.status, "rejected", err.code)

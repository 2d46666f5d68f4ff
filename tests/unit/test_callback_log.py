"""What the callback log keeps of a callback nobody authenticated, and where (pure rules of
`chalicelib.payments.callbacks`, shared by the DynamoDB adapter and the fake)."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime

from chalicelib.errors import PayloadTooLarge, Unauthorized
from chalicelib.payments.callbacks import (
    UNAUTHENTICATED_BODY_BYTES,
    UNKNOWN_LOG_SHARDS,
    CallbackRequest,
    log_entry,
    log_partitions,
    new_record,
    rejected,
)

AT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def request(body: bytes, source: str = "terminal") -> CallbackRequest:
    headers = {"content-type": "application/json", "x-yundian-terminal": "t" * 500, "authorization": "secret"}
    return CallbackRequest(source, "POST", "/v1/terminal/payments", headers, body, 0.0)


def test_a_rejected_unauthenticated_callback_keeps_a_prefix_its_hash_and_reason() -> None:
    body = "支付".encode() * 5000  # multi-byte: the prefix is cut on a character boundary
    kept = rejected(new_record(request(body), AT), Unauthorized("x", code="bad_signature"))
    assert kept.bounded and kept.code == "bad_signature" and kept.body_bytes == len(body)
    assert len(kept.body.encode()) <= UNAUTHENTICATED_BODY_BYTES and body.decode().startswith(kept.body)
    entry = log_entry(kept)
    assert entry["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert entry["terminal_id"] is not None and len(entry["terminal_id"]) == 128
    assert "authorization" not in entry["headers"] and all(len(v) <= 128 for v in entry["headers"].values())
    assert kept.log_key.startswith("unknown#terminal#")


def test_a_callback_tied_to_a_merchant_keeps_its_body() -> None:
    body = b'{"a":"' + b"x" * 10_000 + b'"}'
    record = new_record(request(body), AT).about(merchant_id="mch_1", out_trade_no="o1")
    kept = rejected(record, PayloadTooLarge("x"))
    assert not kept.bounded and kept.body == body.decode() and kept.log_key == "mch_1"
    assert "body_sha256" not in log_entry(kept)


def test_unattributed_callbacks_spread_over_the_shards_of_their_source() -> None:
    keys = Counter(rejected(new_record(request(b"{}", "alipay"), AT), Unauthorized("x")).log_key
                   for _ in range(1600))
    assert set(keys) == {f"unknown#alipay#{n}" for n in range(UNKNOWN_LOG_SHARDS)}
    assert max(keys.values()) < 3 * 1600 / UNKNOWN_LOG_SHARDS  # no key takes the lot
    assert log_partitions("unknown#alipay") == ("unknown#alipay", *sorted(keys, key=lambda k: int(k.rsplit("#")[-1])))
    assert log_partitions("mch_1") == ("mch_1",)

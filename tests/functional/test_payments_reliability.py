"""Exactly-once under concurrency, duplicates, faults and hostile input — on DynamoDB Local."""

from __future__ import annotations

import json
import random
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynamodb.exceptions import TransactWriteError

from chalicelib.payments.models import PaymentModel, payment_pk
from tests.helpers import Api
from tests.payments_support import (
    PAY,
    REFUND,
    audit,
    dashboard,
    direct_payment,
    new_shop,
    otn,
    pay,
    payment_body,
    today,
)

ZERO_DAY = {"gmv_fen": 0, "payments": 0, "refunds_fen": 0, "customers": 0}


def test_twenty_threads_posting_the_same_payment_record_it_once(api: Api) -> None:
    shop = new_shop(api)
    body = payment_body(amount=4321)
    barrier = threading.Barrier(20)

    def post(_: int) -> Any:
        barrier.wait()
        return direct_payment(api.services, shop.terminal, body)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(post, range(20)))
    assert sum(1 for r in results if not r["duplicate"]) == 1
    assert len({r["payment_id"] for r in results}) == 1
    d = dashboard(api, shop.merchant_id)
    assert d["day"] == {"gmv_fen": 4321, "payments": 1, "refunds_fen": 0, "customers": 1}
    assert d["month"] == d["day"]


def test_two_hundred_payments_sent_three_times_from_eight_threads(api: Api) -> None:
    shops = [new_shop(api), new_shop(api)]
    rng = random.Random(7)
    now = datetime.now(UTC)
    payments = []
    for i in range(200):
        shop = shops[i % 2]
        body = payment_body(amount=rng.randint(1, 50_000), buyer=f"2088{rng.randint(0, 30):012d}",
                            paid_at=now - timedelta(seconds=rng.randint(0, 3600)))
        payments.append((shop, body))
    sends = [p for p in payments for _ in range(3)]
    rng.shuffle(sends)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda sb: direct_payment(api.services, sb[0].terminal, sb[1]), sends))
    assert sum(1 for r in results if not r["duplicate"]) == 200
    for shop in shops:
        mine = [b for s, b in payments if s is shop]
        days: dict[str, list[dict[str, Any]]] = {}
        for b in mine:
            day = datetime.fromisoformat(b["paid_at"]).astimezone(api.services.config.tz).date().isoformat()
            days.setdefault(day, []).append(b)
        for day, bodies in days.items():
            d = dashboard(api, shop.merchant_id, day)
            assert d["day"] == {"gmv_fen": sum(b["amount_fen"] for b in bodies), "payments": len(bodies),
                                "refunds_fen": 0, "customers": len({b["buyer_id"] for b in bodies})}
    result = audit(api)
    assert result["ok"], result


def _throttle(code: str) -> TransactWriteError:
    return TransactWriteError("injected", ClientError({"Error": {"Code": code, "Message": "injected"}},
                                                      "TransactWriteItems"))


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerError"])
def test_storage_fault_mid_recording_leaves_nothing_and_the_retry_counts_once(
        api: Api, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    shop = new_shop(api)
    body = payment_body(amount=999)
    conn = api.services.payments_repo._conn

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise _throttle(code)

    monkeypatch.setattr(conn, "transact_write_items", broken)
    r = api.signed(shop.terminal, PAY, body, nonce="fault-nonce-" + secrets.token_hex(6))
    assert r.status == 503 and r.code == "storage_unavailable", r.body
    monkeypatch.undo()
    assert dashboard(api, shop.merchant_id)["day"] == ZERO_DAY
    assert PaymentModel.count(payment_pk(shop.merchant_id, body["out_trade_no"])) == 0
    retry = pay(api, shop, body)
    assert retry.status == 200 and retry.body["duplicate"] is False
    assert pay(api, shop, body).body["duplicate"] is True
    assert dashboard(api, shop.merchant_id)["day"]["payments"] == 1


def test_a_lost_commit_answer_is_retried_idempotently(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transaction commits but its answer is lost: the retry (same ClientRequestToken)
    is recognised by DynamoDB, so the payment counts once and the nonce is not 'replayed'."""
    shop = new_shop(api)
    conn = api.services.payments_repo._conn
    real = conn.transact_write_items
    calls = {"n": 0}

    def commit_then_fail(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        result = real(*args, **kwargs)
        if calls["n"] == 1:
            raise _throttle("InternalServerError")
        return result

    monkeypatch.setattr(conn, "transact_write_items", commit_then_fail)
    r = pay(api, shop, payment_body(amount=555))
    assert r.status == 200 and r.body["duplicate"] is False, r.body
    assert calls["n"] == 2
    monkeypatch.undo()
    assert dashboard(api, shop.merchant_id)["day"]["gmv_fen"] == 555


def test_refund_fault_leaves_nothing_and_retry_counts_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = new_shop(api)
    o = otn()
    assert pay(api, shop, payment_body(o, amount=1000, paid_at=datetime.now(UTC) - timedelta(days=40))).status == 200
    conn = api.services.payments_repo._conn

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise _throttle("ThrottlingException")

    monkeypatch.setattr(conn, "transact_write_items", broken)
    body = {"out_trade_no": o, "out_request_no": "rq1", "amount_fen": 400}
    assert api.signed(shop.terminal, REFUND, body).status == 503
    monkeypatch.undo()
    assert dashboard(api, shop.merchant_id)["day"] == ZERO_DAY
    first = api.signed(shop.terminal, REFUND, body).body
    assert first["refunded_total_fen"] == 400 and first["duplicate"] is False
    assert api.signed(shop.terminal, REFUND, body).body == {**first, "duplicate": True}
    assert dashboard(api, shop.merchant_id)["day"]["refunds_fen"] == 400


HOSTILE = [
    ("amount zero", {"amount_fen": 0}, 422, "invalid_value"),
    ("amount negative", {"amount_fen": -5}, 422, "invalid_value"),
    ("amount float", {"amount_fen": 10.0}, 422, "invalid_type"),
    ("amount string", {"amount_fen": "100"}, 422, "invalid_type"),
    ("amount too big", {"amount_fen": 10**9 + 1}, 422, "invalid_value"),
    ("amount bool", {"amount_fen": True}, 422, "invalid_type"),
    ("bad out_trade_no", {"out_trade_no": "has space"}, 422, "invalid_value"),
    ("negative discount", {"discount_fen": -1}, 422, "invalid_value"),
]


@pytest.mark.parametrize(("name", "patch", "status", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_are_refused_without_trace(api: Api, name: str, patch: dict[str, Any], status: int,
                                                  code: str) -> None:
    shop = new_shop(api)
    r = pay(api, shop, {**payment_body(), **patch})
    assert (r.status, r.code) == (status, code), r.body
    assert dashboard(api, shop.merchant_id)["day"] == ZERO_DAY


def test_hostile_requests_are_refused_without_trace(api: Api) -> None:
    shop = new_shop(api)
    t = shop.terminal
    body = payment_body()
    cases = [
        (api.signed(t, PAY, body, secret="not-the-secret"), 401, "bad_signature"),
        (api.signed(t, PAY, body, ts=int(datetime.now(UTC).timestamp()) - 1000), 401, "stale_timestamp"),
        (api.signed(t, PAY, raw=b"{not json"), 400, "invalid_json"),
        (api.signed(t, PAY, raw=b"[1, 2]"), 400, "invalid_json"),
        (api.signed(t, PAY, {"out_trade_no": otn()}), 422, "missing_field"),
        (api.signed(t, PAY, raw=json.dumps({**body, "pad": "x" * 70_000}).encode()), 413, "payload_too_large"),
        (api.signed(t, REFUND, {"out_trade_no": otn(), "amount_fen": 1}), 422, "missing_field"),
    ]
    for reply, status, code in cases:
        assert (reply.status, reply.code) == (status, code), reply.body
    nonce = "replay-" + secrets.token_hex(8)
    assert api.signed(t, PAY, body, nonce=nonce).status == 200
    replay = api.signed(t, PAY, {**body, "out_trade_no": otn()}, nonce=nonce)
    assert (replay.status, replay.code) == (401, "replayed_nonce")
    d = dashboard(api, shop.merchant_id)["day"]
    assert d == {"gmv_fen": body["amount_fen"], "payments": 1, "refunds_fen": 0, "customers": 1}
    # every callback was logged with its outcome, the accepted one included
    log = api.get(f"/v1/merchants/{shop.merchant_id}/callbacks", token=api.admin()).body["callbacks"]
    outcomes = sorted((c["status"], c["code"]) for c in log)
    assert (200, None) in outcomes and (401, "replayed_nonce") in outcomes and (422, "missing_field") in outcomes
    assert all("secret" not in json.dumps(c["headers"]) for c in log)
    assert all(len(c["headers"].get("x-yundian-signature", "")) <= 9 for c in log)
    assert today(api) == dashboard(api, shop.merchant_id)["date"]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_fields = st.sampled_from(["out_trade_no", "amount_fen", "buyer_id", "paid_at", "discount_fen", "trade_no",
                           "out_request_no", "x"])
_field_values = st.one_of(
    _json_values, st.from_regex(r"\A[A-Za-z0-9_-]{1,70}\Z"),
    st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat()),
)
_bodies = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(_fields, _field_values, max_size=7).map(lambda d: json.dumps(d).encode()),
    _json_values.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_bodies, path=st.sampled_from([PAY, REFUND]))
def test_generated_bodies_never_get_a_500(api: Api, raw: bytes, path: str) -> None:
    shop = getattr(test_generated_bodies_never_get_a_500, "_shop", None)
    if shop is None or shop.terminal.terminal_id not in api.services.payments.verifier._cache:
        shop = new_shop(api)
        test_generated_bodies_never_get_a_500._shop = shop  # type: ignore[attr-defined]
    r = api.signed(shop.terminal, path, raw=raw)
    assert r.status < 500, (r.status, r.body, raw)
    assert r.status in (200, 400, 404, 409, 413, 422), r.body

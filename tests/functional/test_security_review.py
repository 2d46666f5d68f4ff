"""Findings of the security review (issue 9, item 6), each pinned through the HTTP routes: strict
integers in paths, query strings and headers; ids bounded before storage; finite prizes and
strict JSON answers; a bound on token lifetimes; cheap, bounded, spread-out logging of forged
callbacks shown back to admins as data."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.auth import terminal_signature
from chalicelib.payments.callbacks import UNAUTHENTICATED_BODY_BYTES, UNKNOWN_LOG_SHARDS
from chalicelib.payments.models import CallbackLogModel
from localdev.demo import tokens
from tests.helpers import Api, Reply
from tests.payments_support import PAY, new_shop, payment_body

WEIGHTS = {"merchants_onboarded": 10, "active_merchants": 5, "gmv_yuan": 0.01, "new_members": 2}
LONG_ID = "m" * 3000  # beyond DynamoDB's 2,048-byte partition key: a ValidationException if it got there


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"the answer is not strict JSON: {constant}")


@pytest.fixture(autouse=True)
def strict_json_answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every JSON answer any test of this module gets is strict JSON (no NaN, no Infinity)."""
    call = Api.call

    def checked(self: Api, *args: Any, **kwargs: Any) -> Reply:
        reply = call(self, *args, **kwargs)
        if "json" in (content_type(reply) or "") and reply.raw:
            json.loads(reply.raw, parse_constant=_refuse_constant)
        return reply

    monkeypatch.setattr(Api, "call", checked)
    yield


def new_contest(api: Api, **over: Any) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(days=30)
    body = {"name": "Review cup", "starts_at": start.isoformat(), "round_days": 7, "rounds": 2,
            "weights": WEIGHTS, "rules": {"require_platform_confirmation": False}, **over}
    r = api.post("/v1/contests", body, token=api.admin())
    assert r.status == 201, r.body
    return dict(r.body)


# ---------------------------------------------------------------- integers: ASCII digits only

NOT_INTEGERS = ["--1", "--5", "%C2%B2", "%D9%A1", "%EF%BC%91", "+1", "%201", "1_0", "1.0", "-", "9" * 40]


@pytest.mark.parametrize("text", NOT_INTEGERS)
def test_round_and_limit_that_are_not_ascii_digits_are_422(api: Api, text: str) -> None:
    cid = new_contest(api)["contest_id"]
    for query in (f"round={text}", f"round=1&limit={text}"):
        r = api.get(f"/v1/contests/{cid}/leaderboard?{query}", token=api.admin())
        assert (r.status, r.code) == (422, "invalid_value"), (query, r.body)
    pid = api.new_partner()
    r = api.get(f"/v1/partners/{pid}/standing?contest_id={cid}&round={text}", token=api.admin())
    assert (r.status, r.code) == (422, "invalid_value"), r.body


@pytest.mark.parametrize("text", ["--1", "²", "-1", "+1", "1_0", "١"])
def test_settling_a_round_that_is_not_ascii_digits_is_422(api: Api, text: str) -> None:
    cid = new_contest(api)["contest_id"]
    r = api.post(f"/v1/contests/{cid}/rounds/{text}/settle", token=api.admin())
    assert (r.status, r.code) == (422, "invalid_value"), r.body


def test_rounds_outside_the_contest_stay_404(api: Api) -> None:
    cid = new_contest(api)["contest_id"]
    for n in ("0", "3", "007"):
        r = api.get(f"/v1/contests/{cid}/leaderboard?round={n}", token=api.admin())
        assert (r.status, r.code) == (404, "round_not_found"), r.body
    assert api.get(f"/v1/contests/{cid}/leaderboard?round=01&limit=0010", token=api.admin()).status == 200


@pytest.mark.parametrize("ts", ["²", "١٧٠٠٠٠٠٠٠٠", "--1", "-1700000000", "+1700000000", " 1700000000", "1e9"])
def test_a_terminal_timestamp_that_is_not_ascii_digits_is_401_stale_timestamp(api: Api, ts: str) -> None:
    shop = new_shop(api)
    raw = json.dumps(payment_body()).encode()
    nonce = secrets.token_hex(12)
    headers = {"X-Yundian-Terminal": shop.terminal.terminal_id, "X-Yundian-Timestamp": ts, "X-Yundian-Nonce": nonce,
               "X-Yundian-Signature": terminal_signature(shop.terminal.secret, "POST", PAY, ts, nonce, raw)}
    for path in (PAY, "/v1/terminal/ping"):
        r = api.call("POST", path, headers=headers, raw=raw)
        assert (r.status, r.code) == (401, "stale_timestamp"), (path, r.body)


# ---------------------------------------------------------------- ids: bounded before storage


def test_over_long_ids_in_paths_are_unknown_never_a_storage_error(api: Api) -> None:
    admin = api.admin()
    cases = [
        ("GET", f"/v1/merchants/{LONG_ID}/dashboard", "merchant_not_found"),
        ("GET", f"/v1/merchants/{LONG_ID}/callbacks", "merchant_not_found"),
        ("POST", f"/v1/merchants/{LONG_ID}/plans", "merchant_not_found"),
        ("POST", f"/v1/merchants/{LONG_ID}/terminals", "merchant_not_found"),
        ("POST", f"/v1/partners/{LONG_ID}/merchants", "partner_not_found"),
        ("GET", f"/v1/partners/{LONG_ID}/standing?contest_id=cst_x&round=1", "partner_not_found"),
        ("GET", f"/v1/contests/{LONG_ID}", "contest_not_found"),
        ("GET", f"/v1/contests/{LONG_ID}/leaderboard?round=1", "contest_not_found"),
        ("POST", f"/v1/contests/{LONG_ID}/rounds/1/settle", "contest_not_found"),
        ("GET", f"/v1/memberships/{LONG_ID}", "membership_not_found"),
        ("GET", f"/v1/stores/{LONG_ID}", "store_not_found"),
        ("DELETE", f"/v1/terminals/{LONG_ID}", "terminal_not_found"),
    ]
    for method, path, code in cases:
        for long_id in (LONG_ID, "x" * 129):
            r = api.call(method, path.replace(LONG_ID, long_id), token=admin)
            assert (r.status, r.code) == (404, code), (method, path[:60], r.status, r.body)


def test_an_over_long_contest_id_in_the_query_is_unknown(api: Api) -> None:
    pid = api.new_partner()
    r = api.get(f"/v1/partners/{pid}/standing?contest_id={LONG_ID}&round=1", token=api.admin())
    assert (r.status, r.code) == (404, "contest_not_found"), r.body


def test_an_over_long_terminal_id_header_is_401_unknown_terminal(api: Api) -> None:
    raw = json.dumps(payment_body()).encode()
    ts, nonce = str(int(time.time())), secrets.token_hex(12)
    for path in (PAY, "/v1/terminal/refunds", "/v1/terminal/ping", "/v1/terminal/offers"):
        headers = {"X-Yundian-Terminal": LONG_ID, "X-Yundian-Timestamp": ts, "X-Yundian-Nonce": nonce,
                   "X-Yundian-Signature": terminal_signature("s", "POST", path, ts, nonce, raw)}
        r = api.call("POST", path, headers=headers, raw=raw)
        assert (r.status, r.code) == (401, "unknown_terminal"), (path, r.body)


# ---------------------------------------------------------------- prizes: finite numbers only


@pytest.mark.parametrize("prize", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_prize_that_is_not_a_finite_number_is_422(api: Api, prize: str) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    head = json.dumps({"name": "x", "starts_at": start, "round_days": 7, "rounds": 1, "weights": WEIGHTS})
    raw = head[:-1] + f', "prizes": [{{"rank_from": 1, "rank_to": 1, "prize": {prize}}}]}}'
    r = api.call("POST", "/v1/contests", raw=raw.encode(), token=api.admin())
    assert r.status == 422, r.body


def test_finite_prizes_come_back_as_strict_json(api: Api) -> None:
    prizes = [{"rank_from": 1, "rank_to": 1, "prize": 1000.5}, {"rank_from": 2, "rank_to": 3, "prize": 10},
              {"rank_from": 4, "rank_to": 9, "prize": "<b>a mug</b> & thanks"}]
    c = new_contest(api, prizes=prizes)
    got = api.get(f"/v1/contests/{c['contest_id']}", token=api.admin())
    assert got.status == 200 and got.body["prizes"] == prizes
    assert b"<b>" not in got.raw  # text is data, never markup
    settled = api.post(f"/v1/contests/{c['contest_id']}/rounds/1/settle", token=api.admin())
    assert settled.status == 200, settled.body


# ---------------------------------------------------------------- tokens: at most 400 days ahead


def test_a_token_whose_exp_lies_more_than_400_days_ahead_is_401(api: Api) -> None:
    for days, status in ((401, 401), (400 * 10, 401), (399, 200), (365, 200)):
        token = api.token("admin", "admin-1", ttl=days * 86400)
        r = api.get("/v1/admin/audit", token=token)
        assert r.status == status, (days, r.body)
        if status == 401:
            assert r.code == "invalid_token"


def test_the_tokens_make_run_prints_stay_valid(api: Api) -> None:
    pid = api.new_partner()
    demo = {"partner_id": pid, "merchants": [api.new_merchant(pid)]}
    printed = tokens(api.secret, demo)
    assert api.get("/v1/admin/audit", token=printed["admin"]).status == 200
    mid = demo["merchants"][0]["merchant_id"]
    assert api.get(f"/v1/merchants/{mid}/dashboard", token=printed["merchant"]).status == 200


# ---------------------------------------------------------------- forged callbacks: cheap, bounded, spread


def forged_terminal(api: Api, body: bytes, terminal_id: str | None = None) -> Reply:
    ts, nonce = str(int(time.time())), secrets.token_hex(12)
    headers = {"X-Yundian-Terminal": terminal_id or f"tml_{secrets.token_hex(12)}", "X-Yundian-Timestamp": ts,
               "X-Yundian-Nonce": nonce, "X-Yundian-Signature": "0" * 64}
    return api.call("POST", PAY, headers=headers, raw=body)


def unattributed(api: Api, source: str) -> Reply:
    r = api.get(f"/v1/admin/callbacks?source={source}", token=api.admin())
    assert r.status == 200, r.body
    assert content_type(r) == "application/json"
    return r


def content_type(reply: Reply) -> str | None:
    return {k.lower(): v for k, v in reply.headers.items()}.get("content-type")


def mine(entries: list[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    return [e for e in entries if marker in e["body"]]


def test_a_forged_callback_keeps_a_prefix_the_hash_and_the_reason(api: Api) -> None:
    shop = new_shop(api)
    marker = secrets.token_hex(8)
    body = (marker + "x" * 16_000).encode()
    cases = [(forged_terminal(api, body), "unknown_terminal"),
             (forged_terminal(api, body, shop.terminal.terminal_id), "bad_signature"),
             (forged_terminal(api, body + b"y" * 60_000), "payload_too_large")]
    assert [r.code for r, _ in cases] == [code for _, code in cases]
    logged = mine(unattributed(api, "terminal").body["callbacks"], marker)
    assert sorted(e["code"] for e in logged) == sorted(code for _, code in cases)
    for e in logged:
        full = body + (b"y" * 60_000 if e["code"] == "payload_too_large" else b"")
        assert len(e["body"].encode()) <= UNAUTHENTICATED_BODY_BYTES and full.decode().startswith(e["body"])
        assert e["body_sha256"] == hashlib.sha256(full).hexdigest() and e["body_bytes"] == len(full)
        assert e["outcome"] == "rejected" and e["status"] in (401, 413)
        assert all(len(v) <= 129 for v in e["headers"].values())
    # nothing of it landed in the merchant's own log
    own = api.get(f"/v1/merchants/{shop.merchant_id}/callbacks", token=api.admin()).body["callbacks"]
    assert not mine(own, marker)


def test_a_forged_alipay_notification_is_bounded_too(api: Api) -> None:
    marker = secrets.token_hex(8)
    body = f"notify_id={marker}&out_trade_no={'o' * 5000}&pad={'p' * 9000}".encode()
    r = api.call("POST", "/v1/notify/alipay", raw=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status < 500 and r.raw == b"fail"
    [e] = mine(unattributed(api, "alipay").body["callbacks"], marker)
    assert len(e["body"].encode()) <= UNAUTHENTICATED_BODY_BYTES
    assert e["body_sha256"] == hashlib.sha256(body).hexdigest() and e["body_bytes"] == len(body)
    assert e["out_trade_no"] is None or len(e["out_trade_no"]) <= 128


def test_forged_callbacks_spread_over_partitions_and_read_back_merged_newest_first(api: Api) -> None:
    marker = secrets.token_hex(8)
    for i in range(40):
        assert forged_terminal(api, f"{marker}-{i:02d}".encode()).status == 401
    shards = {}
    for n in range(UNKNOWN_LOG_SHARDS):
        for item in CallbackLogModel.query(f"unknown#terminal#{n}", scan_index_forward=False, limit=200):
            if (item.body or "").startswith(marker):
                shards[item.body] = n
    assert len(shards) == 40 and len(set(shards.values())) >= 8, shards  # 40 over 16: nowhere near one key
    assert not [i for i in CallbackLogModel.query("unknown#terminal", limit=500) if marker in (i.body or "")]
    entries = unattributed(api, "terminal").body["callbacks"]
    assert [e["received"] for e in entries] == sorted((e["received"] for e in entries), reverse=True)
    assert [e["body"] for e in mine(entries, marker)] == [f"{marker}-{i:02d}" for i in reversed(range(40))]


def test_entries_written_before_the_sharding_are_still_read(api: Api) -> None:
    marker = secrets.token_hex(8)
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="microseconds")
    CallbackLogModel("unknown#terminal", f"{later}#{marker}", source="terminal", path=PAY, status=401,
                     code="bad_signature", outcome="rejected", headers="{}", body=marker, body_bytes=16).save()
    [e] = mine(unattributed(api, "terminal").body["callbacks"], marker)
    assert e["code"] == "bad_signature" and "body_sha256" not in e


def test_authenticated_callbacks_keep_their_whole_body(api: Api) -> None:
    shop = new_shop(api)
    ok = payment_body(pad="p" * 12_000)
    bad = {**payment_body(), "amount_fen": "12"}
    assert api.signed(shop.terminal, PAY, ok).status == 200
    assert api.signed(shop.terminal, PAY, bad).status == 422
    own = api.get(f"/v1/merchants/{shop.merchant_id}/callbacks", token=api.admin()).body["callbacks"]
    bodies = {e["status"]: e for e in own}
    assert json.loads(bodies[200]["body"]) == ok and json.loads(bodies[422]["body"]) == bad
    assert all("body_sha256" not in e for e in own)


def test_logged_text_comes_back_as_a_json_string_never_markup(api: Api) -> None:
    marker = secrets.token_hex(8)
    script = f"<script>alert('{marker}')</script><img src=x onerror=alert(1)>&amp;"
    assert forged_terminal(api, script.encode()).status == 401
    r = api.call("POST", "/v1/notify/alipay", raw=script.encode(),
                 headers={"Content-Type": "text/html", "User-Agent": "<b>ua</b>"})
    assert r.status >= 400
    for source in ("terminal", "alipay"):
        reply = unattributed(api, source)
        assert b"<script>" not in reply.raw and b"<img" not in reply.raw and b"<b>" not in reply.raw
        [e] = mine(reply.body["callbacks"], marker)
        assert e["body"] == script
    shop = new_shop(api)
    assert api.signed(shop.terminal, PAY, payment_body(trade_no="<script>x</script>")).status == 200
    own = api.get(f"/v1/merchants/{shop.merchant_id}/callbacks", token=api.admin())
    assert content_type(own) == "application/json" and b"<script>" not in own.raw
    assert json.loads(own.body["callbacks"][0]["body"])["trade_no"] == "<script>x</script>"


def test_the_source_of_the_unattributed_log_is_one_of_the_channels(api: Api) -> None:
    for source in ("terminal", "alipay", "wechatpay"):
        assert api.get(f"/v1/admin/callbacks?source={source}", token=api.admin()).status == 200
    for source in ("bogus", LONG_ID, "terminal%230"):
        r = api.get(f"/v1/admin/callbacks?source={source}", token=api.admin())
        assert (r.status, r.code) == (422, "invalid_enum"), r.body


def test_ids_a_token_carries_are_bounded_like_any_other(api: Api) -> None:
    pid = api.new_partner()
    for sub, claims in ((LONG_ID, {}), ("商户", {}), ("p", {"partner_id": LONG_ID}), ("p", {"partner_id": f"{pid} "})):
        token = api.token("partner" if claims else "customer", sub, **claims)
        r = api.get(f"/v1/partners/{pid}/standing?contest_id=cst_x&round=1", token=token)
        assert (r.status, r.code) == (401, "invalid_token"), (sub[:20], r.body)
    assert api.get("/v1/me/memberships", token=api.customer_token("2088000000000001")).status == 200

"""Black box: onboarding, authentication and the framework-level error conventions."""

from __future__ import annotations

import time

import pytest

from tests.blackbox.conftest import Stack
from tests.blackbox.support import Terminal, is_time, new_shop


def test_openapi_document_is_the_readiness_probe(stack: Stack) -> None:
    r = stack.request("GET", "/v1/openapi.json")
    assert r.status == 200 and "json" in r.headers["content-type"]
    assert str(r.body["openapi"]).startswith("3.")
    for path in ("/v1/partners", "/v1/partners/{partner_id}/merchants", "/v1/merchants/{merchant_id}/terminals",
                 "/v1/terminals/{terminal_id}", "/v1/merchants/{merchant_id}/dashboard", "/v1/stores/{store_id}",
                 "/v1/terminal/offers", "/v1/terminal/payments", "/v1/terminal/refunds", "/v1/notify/alipay",
                 "/v1/merchants/{merchant_id}/plans", "/v1/memberships", "/v1/memberships/{membership_id}",
                 "/v1/me/memberships", "/v1/memberships/{membership_id}/refund", "/v1/admin/jobs/{name}",
                 "/v1/admin/audit", "/v1/admin/clock", "/v1/openapi.json"):
        assert path in r.body["paths"], path


def test_onboarding_happy_path(stack: Stack, admin: str) -> None:
    r = stack.request("POST", "/v1/partners", {"name": "Hangzhou PSP"}, token=admin)
    assert r.status == 201
    assert set(r.body) >= {"partner_id", "name", "created_at"}
    assert isinstance(r.body["partner_id"], str) and r.body["name"] == "Hangzhou PSP"
    assert is_time(r.body["created_at"])
    pid = r.body["partner_id"]
    partner = stack.token("partner", partner_id=pid)

    r = stack.request("POST", f"/v1/partners/{pid}/merchants",
                      {"name": "Noodles", "category": "restaurant", "city": "Hangzhou",
                       "stores": [{"name": "West Lake", "address": "1 Lake Rd"}, {"name": "Airport"}]},
                      token=partner)
    assert r.status == 201, r.body
    assert r.body["partner_id"] == pid and isinstance(r.body["merchant_id"], str)
    assert [s["name"] for s in r.body["stores"]] == ["West Lake", "Airport"]
    assert all(isinstance(s["store_id"], str) for s in r.body["stores"])
    mid, store = r.body["merchant_id"], r.body["stores"][0]["store_id"]

    merchant = stack.token("merchant", merchant_id=mid)
    r = stack.request("POST", f"/v1/merchants/{mid}/terminals", {"store_id": store, "kind": "pos"}, token=merchant)
    assert r.status == 201, r.body
    assert r.body["store_id"] == store and isinstance(r.body["terminal_id"], str)
    assert isinstance(r.body["secret"], str) and len(r.body["secret"]) >= 16
    term = Terminal(stack, r.body["terminal_id"], r.body["secret"], store, mid)

    r = stack.request("GET", f"/v1/stores/{store}")  # public, no auth
    assert r.status == 200
    assert r.body["store_id"] == store and r.body["name"] == "West Lake"
    assert r.body["merchant"] == {**r.body["merchant"], "merchant_id": mid, "name": "Noodles",
                                  "category": "restaurant"}
    assert r.body["plans"] == []

    r = stack.request("DELETE", f"/v1/terminals/{term.terminal_id}", token=partner)
    assert r.status == 204 and r.raw == b""
    r = term.send("/v1/terminal/offers", {"buyer_id": "2088000000000001", "amount_fen": 100})
    assert (r.status, r.code) == (401, "terminal_revoked")


def test_store_page_unknown_is_404(stack: Stack) -> None:
    r = stack.request("GET", "/v1/stores/sto_nope")
    assert (r.status, r.code) == (404, "store_not_found")
    assert isinstance(r.body["message"], str)


@pytest.mark.parametrize("auth,code", [
    (None, None), ("Bearer", None), ("Bearer not.a.jwt", None), ("Basic abc", None), ("expired", "token_expired"),
    ("forged", None), ("norole", None), ("partner-without-id", None)])
def test_bad_bearer_is_401(stack: Stack, auth: str | None, code: str | None) -> None:
    import jwt

    headers = {}
    if auth == "expired":
        auth = "Bearer " + stack.token("admin", ttl=-10)
    elif auth == "forged":
        auth = "Bearer " + jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 60},
                                      "another-secret-of-at-least-32-bytes!", algorithm="HS256")
    elif auth == "norole":
        auth = "Bearer " + jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, stack.jwt_secret, algorithm="HS256")
    elif auth == "partner-without-id":
        auth = "Bearer " + stack.token("partner")
    if auth:
        headers["Authorization"] = auth
    r = stack.request("POST", "/v1/partners", {"name": "x"}, headers=headers)
    assert r.status == 401 and isinstance(r.code, str) and isinstance(r.body["message"], str)
    if code:
        assert r.code == code


def test_roles_and_tenants(stack: Stack, admin: str) -> None:
    a, b = new_shop(stack, admin), new_shop(stack, admin)
    r = stack.request("POST", "/v1/partners", {"name": "x"}, token=stack.token("partner", partner_id=a.partner_id))
    assert (r.status, r.code) == (403, "forbidden_role")
    r = stack.request("POST", f"/v1/partners/{b.partner_id}/merchants",
                      {"name": "x", "category": "retail", "stores": [{"name": "s"}]},
                      token=stack.token("partner", partner_id=a.partner_id))
    assert (r.status, r.code) == (403, "forbidden_tenant")
    r = stack.request("POST", f"/v1/merchants/{b.merchant_id}/terminals", {"store_id": b.store_id, "kind": "qr"},
                      token=stack.token("merchant", merchant_id=a.merchant_id))
    assert (r.status, r.code) == (403, "forbidden_tenant")
    r = stack.request("DELETE", f"/v1/terminals/{b.terminal.terminal_id}",
                      token=stack.token("partner", partner_id=a.partner_id))
    assert (r.status, r.code) == (403, "forbidden_tenant")
    r = stack.request("GET", f"/v1/merchants/{b.merchant_id}/dashboard",
                      token=stack.token("merchant", merchant_id=a.merchant_id))
    assert (r.status, r.code) == (403, "forbidden_tenant")
    r = stack.request("GET", f"/v1/merchants/{a.merchant_id}/dashboard", token=stack.token("customer", "2088x"))
    assert (r.status, r.code) == (403, "forbidden_role")
    # a store of another merchant, unknown merchants / partners / terminals
    r = stack.request("POST", f"/v1/merchants/{a.merchant_id}/terminals", {"store_id": b.store_id, "kind": "qr"},
                      token=admin)
    assert r.status == 404
    r = stack.request("POST", "/v1/merchants/mch_nope/terminals", {"store_id": b.store_id, "kind": "qr"}, token=admin)
    assert r.status == 404
    r = stack.request("POST", "/v1/partners/ptn_nope/merchants",
                      {"name": "x", "category": "retail", "stores": [{"name": "s"}]}, token=admin)
    assert r.status == 404
    assert stack.request("DELETE", "/v1/terminals/tml_nope", token=admin).status == 404
    assert stack.request("GET", "/v1/merchants/mch_nope/dashboard", token=admin).status == 404


@pytest.mark.parametrize("raw,status,code", [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (b'{"category": "retail", "stores": [{"name": "s"}]}', 422, "missing_field"),
    (b'{"name": 7, "category": "retail", "stores": [{"name": "s"}]}', 422, "invalid_type"),
    (b'{"name": "x", "category": "bakery", "stores": [{"name": "s"}]}', 422, "invalid_enum"),
    (b'{"name": "x", "category": "retail", "stores": []}', 422, "invalid_value"),
])
def test_malformed_merchant_bodies(stack: Stack, admin: str, raw: bytes, status: int, code: str) -> None:
    r = stack.request("POST", "/v1/partners", {"name": "p"}, token=admin)
    r = stack.request("POST", f"/v1/partners/{r.body['partner_id']}/merchants", raw=raw, token=admin)
    assert (r.status, r.code) == (status, code), r.body
    assert isinstance(r.body["message"], str)


def test_body_over_64_kib_is_413(stack: Stack, admin: str) -> None:
    r = stack.request("POST", "/v1/partners", {"name": "x" * 70_000}, token=admin)
    assert (r.status, r.code) == (413, "payload_too_large")


def test_terminal_signature_failures(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    t = shop.terminal
    path, body = "/v1/terminal/offers", {"buyer_id": "2088000000000001", "amount_fen": 1000}
    assert t.send(path, body).status == 200
    assert t.send(path, body, secret="wrong-secret").code == "bad_signature"
    # the signed path is the contract's path, not another
    assert t.send(path, body, sign_path="/local/v1/terminal/offers").code == "bad_signature"
    assert t.send(path, body, ts=int(time.time()) - 301).code == "stale_timestamp"
    assert t.send(path, body, ts=int(time.time()) + 301).code == "stale_timestamp"
    assert t.send(path, body, terminal_id="tml_nope").code == "unknown_terminal"
    nonce = "n" * 20
    assert t.send(path, body, nonce=nonce).status == 200
    r = t.send(path, body, nonce=nonce)
    assert (r.status, r.code) == (401, "replayed_nonce")
    for bad in ("short", "x" * 65, "has space in it 123"):
        r = t.send(path, body, nonce=bad)
        assert r.status == 401, bad
    r = stack.request("POST", path, body)  # no headers at all
    assert r.status == 401 and r.code in ("bad_signature", "unknown_terminal")
    # a body changed after signing
    r = stack.request("POST", path, raw=b'{"buyer_id": "2088000000000001", "amount_fen": 1}', headers={
        "X-Yundian-Terminal": t.terminal_id, "X-Yundian-Timestamp": str(int(time.time())),
        "X-Yundian-Nonce": "abcdefghijklmnop", "X-Yundian-Signature": "0" * 64})
    assert (r.status, r.code) == (401, "bad_signature")

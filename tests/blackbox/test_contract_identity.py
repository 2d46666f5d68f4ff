"""Black box: getting in, as a partner's program, a mini-program and a shop owner would — API keys
exchanged for tokens, customer logins and the merchant's Alipay authorization through the
platform simulator, against the server of `make run` over plain HTTP."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import parse_qs, quote, urlparse

import jwt

from tests.blackbox.conftest import Stack


def basic(key_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()}


def new_partner(stack: Stack, admin: str) -> str:
    r = stack.request("POST", "/v1/partners", {"name": "Key PSP"}, token=admin)
    assert r.status == 201, r.body
    return str(r.body["partner_id"])


def test_a_partner_key_gets_a_token_that_works_until_the_key_is_revoked(stack: Stack, admin: str) -> None:
    pid = new_partner(stack, admin)
    r = stack.request("POST", "/v1/api-keys", {"name": "partner tool", "role": "partner", "partner_id": pid},
                      token=admin)
    assert r.status == 201, r.body
    assert set(r.body) == {"key_id", "secret", "name", "role", "partner_id", "merchant_id", "created_at"}
    key_id, secret = r.body["key_id"], r.body["secret"]
    assert len(secret) >= 32 and r.body["merchant_id"] is None

    t = stack.request("POST", "/v1/auth/token", headers=basic(key_id, secret))
    assert t.status == 200 and t.body["token_type"] == "Bearer", t.body
    claims = jwt.decode(t.body["token"], options={"verify_signature": False})
    assert (claims["iss"], claims["key_id"], claims["role"], claims["exp"] - claims["iat"]) == (
        "yundian", key_id, "partner", 3600)
    token = t.body["token"]
    made = stack.request("POST", f"/v1/partners/{pid}/merchants",
                         {"name": "Keyed shop", "category": "retail", "stores": [{"name": "A"}]}, token=token)
    assert made.status == 201, made.body  # the key's token acts as the partner
    listed = stack.request("GET", "/v1/api-keys", token=token)
    assert listed.status == 200 and key_id in [k["key_id"] for k in listed.body["api_keys"]]
    assert all("secret" not in k for k in listed.body["api_keys"])

    wrong = stack.request("POST", "/v1/auth/token", headers=basic(key_id, secret[:-1] + "x"))
    assert (wrong.status, wrong.body["code"]) == (401, "bad_credentials")
    assert stack.request("DELETE", f"/v1/api-keys/{key_id}", token=admin).status == 204
    revoked = stack.request("POST", "/v1/auth/token", headers=basic(key_id, secret))
    assert (revoked.status, revoked.body["code"]) == (401, "key_revoked")
    # the revoking container dropped its cache entry: the token stops at once here
    again = stack.request("GET", "/v1/api-keys", token=token)
    assert (again.status, again.body["code"]) == (401, "key_revoked")


def test_a_partner_cannot_mint_an_admin_key_or_one_for_another_partners_merchant(stack: Stack, admin: str) -> None:
    mine, theirs = new_partner(stack, admin), new_partner(stack, admin)
    m = stack.request("POST", f"/v1/partners/{theirs}/merchants",
                      {"name": "Other shop", "category": "retail", "stores": [{"name": "A"}]}, token=admin)
    assert m.status == 201
    partner = stack.token("partner", partner_id=mine)
    r = stack.request("POST", "/v1/api-keys", {"name": "x", "role": "admin"}, token=partner)
    assert r.status == 403, r.body
    r = stack.request("POST", "/v1/api-keys", {"name": "x", "role": "merchant",
                                               "merchant_id": m.body["merchant_id"]}, token=partner)
    assert r.status == 403, r.body


def test_customers_log_in_through_the_platforms(stack: Stack) -> None:
    r = stack.request("POST", "/v1/auth/alipay", {"auth_code": "sandbox:2088000000000042"})
    assert r.status == 200, r.body
    assert r.body["customer_id"] == "2088000000000042"
    claims = jwt.decode(r.body["token"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["exp"] - claims["iat"]) == ("2088000000000042", "customer", 86400)
    r = stack.request("POST", "/v1/auth/wechat", {"code": "sandbox:oBlackBoxBuyer00000000000001"})
    assert r.status == 200 and r.body["customer_id"] == "oBlackBoxBuyer00000000000001"
    for path, body in (("/v1/auth/alipay", {"auth_code": "expired"}), ("/v1/auth/wechat", {"code": "expired"})):
        r = stack.request("POST", path, body)
        assert (r.status, r.body["code"]) == (401, "auth_code_rejected"), r.body


def test_a_shop_owner_authorizes_our_app_and_the_seller_id_is_verified(stack: Stack, admin: str) -> None:
    pid = new_partner(stack, admin)
    m = stack.request("POST", f"/v1/partners/{pid}/merchants",
                      {"name": "Tea", "category": "restaurant", "stores": [{"name": "A"}]}, token=admin)
    mid = m.body["merchant_id"]
    partner = stack.token("partner", partner_id=pid)
    r = stack.request("GET", f"/v1/merchants/{mid}/bindings/alipay/authorize-url", token=partner)
    assert r.status == 200, r.body
    q = parse_qs(urlparse(r.body["url"]).query)
    assert q["app_id"] == [stack.app_id] and q["redirect_uri"][0].startswith(stack.base)
    seller = "2088" + "".join(secrets.choice("0123456789") for _ in range(12))
    # Alipay redirects the owner's browser to our redirect_uri with the code and our state
    page = stack.request("GET", f"/v1/auth/alipay/app-authorized?app_auth_code={quote('sandbox:' + seller)}"
                                f"&state={quote(q['state'][0])}")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html"), page.body
    assert seller in str(page.body)
    bad = stack.request("GET", f"/v1/auth/alipay/app-authorized?app_auth_code=sandbox:{seller}&state=forged")
    assert (bad.status, bad.body["code"]) == (400, "invalid_state")
    # a partner's own tool with a code of its own: the same binding for the same code again
    other = "2088" + "".join(secrets.choice("0123456789") for _ in range(12))
    first = stack.request("POST", f"/v1/merchants/{mid}/bindings/alipay/authorize",
                          {"app_auth_code": f"sandbox:{other}"}, token=partner)
    assert first.status == 200 and first.body["verified"] is True and first.body["id"] == other, first.body
    again = stack.request("POST", f"/v1/merchants/{mid}/bindings/alipay/authorize",
                          {"app_auth_code": f"sandbox:{other}"}, token=partner)
    assert again.status == 200 and again.body == first.body

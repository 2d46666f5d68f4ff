"""Partners, merchants, stores and terminals through the HTTP API: what the contract promises,
bad input (never a 500) and storage faults (no partial state; a retry succeeds)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import storage
from tests.helpers import Api


def merchant_body(**over: Any) -> dict[str, Any]:
    return {"name": "Lao Wang Noodles", "category": "restaurant", "city": "Hangzhou",
            "stores": [{"name": "West Lake", "address": "1 Nanshan Rd"}, {"name": "Station"}], **over}


def test_create_partner(api: Api) -> None:
    r = api.post("/v1/partners", {"name": "  Hangzhou PSP "}, token=api.admin())
    assert r.status == 201
    assert r.body["name"] == "Hangzhou PSP"
    assert r.body["partner_id"].startswith("ptn_")
    assert datetime.fromisoformat(r.body["created_at"]).utcoffset() is not None


def test_onboard_a_merchant_as_its_partner(api: Api) -> None:
    pid = api.new_partner()
    r = api.post(f"/v1/partners/{pid}/merchants", merchant_body(), token=api.partner_token(pid))
    assert r.status == 201, r.body
    assert r.body["partner_id"] == pid
    assert r.body["merchant_id"].startswith("mch_")
    assert [s["name"] for s in r.body["stores"]] == ["West Lake", "Station"]
    assert all(s["store_id"].startswith("sto_") for s in r.body["stores"])


def test_register_a_terminal_as_merchant_partner_and_admin(api: Api) -> None:
    pid = api.new_partner()
    m = api.new_merchant(pid, stores=2)
    store = m["stores"][1]["store_id"]
    for tok, kind in ((api.merchant_token(m["merchant_id"]), "qr"), (api.partner_token(pid), "face"),
                      (api.admin(), "pos")):
        r = api.post(f"/v1/merchants/{m['merchant_id']}/terminals", {"store_id": store, "kind": kind}, token=tok)
        assert r.status == 201, r.body
        assert r.body["store_id"] == store
        assert len(r.body["secret"]) >= 43  # ≥ 32 random bytes
        # the secret works, and is never shown again (no endpoint returns it)
        from tests.helpers import TerminalCreds

        creds = TerminalCreds(r.body["terminal_id"], r.body["secret"], store, m["merchant_id"])
        assert api.signed(creds, "/v1/terminal/ping", {}).status == 200


def test_public_store_page(api: Api) -> None:
    pid = api.new_partner()
    m = api.new_merchant(pid, stores=2, category="retail")
    sid = m["stores"][0]["store_id"]
    r = api.get(f"/v1/stores/{sid}")
    assert r.status == 200
    assert r.body["store_id"] == sid and r.body["name"] == "Store 0"
    assert r.body["merchant"] == {"merchant_id": m["merchant_id"], "name": "Noodle shop", "category": "retail"}
    assert isinstance(r.body["plans"], list)


@pytest.mark.parametrize("bad_id", ["sto_doesnotexist", "x", "..", "sto_%20", "a" * 300])
def test_unknown_store_is_404(api: Api, bad_id: str) -> None:
    r = api.get(f"/v1/stores/{bad_id}")
    assert (r.status, r.code) == (404, "store_not_found")


def test_bad_ids_are_404(api: Api) -> None:
    admin = api.admin()
    r = api.post("/v1/partners/ptn_nope/merchants", merchant_body(), token=admin)
    assert (r.status, r.code) == (404, "partner_not_found")
    r = api.post("/v1/merchants/mch_nope/terminals", {"store_id": "sto_x", "kind": "qr"}, token=admin)
    assert (r.status, r.code) == (404, "merchant_not_found")
    m = api.new_merchant(api.new_partner())
    r = api.post(f"/v1/merchants/{m['merchant_id']}/terminals", {"store_id": "sto_nope", "kind": "qr"}, token=admin)
    assert (r.status, r.code) == (404, "store_not_found")
    r = api.delete("/v1/terminals/tml_nope", token=admin)
    assert (r.status, r.code) == (404, "terminal_not_found")


def test_a_seller_id_is_registered_once(api: Api) -> None:
    pid = api.new_partner()
    seller = "2088" + str(abs(hash(pid)))[:12]
    api.new_merchant(pid, seller_id=seller)
    r = api.post(f"/v1/partners/{pid}/merchants", merchant_body(alipay_seller_id=seller), token=api.admin())
    assert (r.status, r.code) == (409, "seller_id_taken")
    assert len(api.services.onboarding_repo.list_merchants(pid)) == 1


# ------------------------------------------------------------------ bad input: never a 500

BAD_MERCHANTS: list[tuple[str, Any, int, str]] = [
    ("not json", b"{name: 1", 400, "invalid_json"),
    ("truncated json", b'{"name": "x"', 400, "invalid_json"),
    ("array", b"[]", 400, "invalid_json"),
    ("string", b'"merchant"', 400, "invalid_json"),
    ("empty body", b"", 422, "missing_field"),
    ("missing name", {"category": "retail", "stores": [{"name": "S"}]}, 422, "missing_field"),
    ("missing stores", {"name": "M", "category": "retail"}, 422, "missing_field"),
    ("missing store name", merchant_body(stores=[{"address": "x"}]), 422, "missing_field"),
    ("name not a string", merchant_body(name=5), 422, "invalid_type"),
    ("name is null", merchant_body(name=None), 422, "invalid_type"),
    ("stores not a list", merchant_body(stores="S"), 422, "invalid_type"),
    ("store not an object", merchant_body(stores=["S"]), 422, "invalid_type"),
    ("unknown category", merchant_body(category="casino"), 422, "invalid_enum"),
    ("category wrong case", merchant_body(category="Retail"), 422, "invalid_enum"),
    ("no stores", merchant_body(stores=[]), 422, "invalid_value"),
    ("too many stores", merchant_body(stores=[{"name": f"S{i}"} for i in range(51)]), 422, "invalid_value"),
    ("blank name", merchant_body(name="   "), 422, "invalid_value"),
    ("name too long", merchant_body(name="x" * 129), 422, "invalid_value"),
    ("bad seller id", merchant_body(alipay_seller_id="2088-x"), 422, "invalid_value"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_MERCHANTS, ids=[c[0] for c in BAD_MERCHANTS])
def test_bad_merchant_bodies(api: Api, case: str, body: Any, status: int, code: str) -> None:
    pid = api.new_partner()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = api.call("POST", f"/v1/partners/{pid}/merchants", token=api.admin(), raw=raw)
    assert (r.status, r.code) == (status, code), r.body
    assert isinstance(r.body["message"], str) and r.body["message"]
    assert api.services.onboarding_repo.list_merchants(pid) == []


def test_fifty_stores_is_the_limit(api: Api) -> None:
    pid = api.new_partner()
    r = api.post(f"/v1/partners/{pid}/merchants", merchant_body(stores=[{"name": f"S{i}"} for i in range(50)]),
                 token=api.admin())
    assert r.status == 201 and len(r.body["stores"]) == 50


@pytest.mark.parametrize(("body", "code"), [
    ({"store_id": "sto_x", "kind": "nfc"}, "invalid_enum"),
    ({"kind": "qr"}, "missing_field"),
    ({"store_id": 12, "kind": "qr"}, "invalid_type"),
    ({"store_id": "sto_x"}, "missing_field"),
])
def test_bad_terminal_bodies(api: Api, body: dict[str, Any], code: str) -> None:
    m = api.new_merchant(api.new_partner())
    r = api.post(f"/v1/merchants/{m['merchant_id']}/terminals", body, token=api.admin())
    assert (r.status, r.code) == (422, code), r.body


@pytest.mark.parametrize(("body", "code"), [({}, "missing_field"), ({"name": ""}, "invalid_value"),
                                            ({"name": ["x"]}, "invalid_type"), ({"name": 1.5}, "invalid_type")])
def test_bad_partner_bodies(api: Api, body: dict[str, Any], code: str) -> None:
    r = api.post("/v1/partners", body, token=api.admin())
    assert (r.status, r.code) == (422, code), r.body


def test_bodies_over_64_kib_are_413(api: Api) -> None:
    pid = api.new_partner()
    big = json.dumps(merchant_body(city="x" * 70_000)).encode()
    assert len(big) > 70_000
    r = api.call("POST", f"/v1/partners/{pid}/merchants", token=api.admin(), raw=big)
    assert (r.status, r.code) == (413, "payload_too_large")
    r = api.call("POST", "/v1/partners", token=api.admin(), raw=b"{" + b" " * (64 * 1024) + b"}")
    assert (r.status, r.code) == (413, "payload_too_large")
    r = api.call("POST", "/v1/partners", token=api.admin(), raw=b'{"name":"ok"' + b" " * (64 * 1024 - 13) + b"}")
    assert r.status == 201  # exactly 64 KiB is fine
    assert api.services.onboarding_repo.list_merchants(pid) == []


def test_a_big_signed_body_is_413_before_anything_else(api: Api) -> None:
    t = api.new_terminal(api.new_merchant(api.new_partner()))
    r = api.signed(t, "/v1/terminal/ping", raw=b"{" + b" " * 70_000 + b"}")
    assert (r.status, r.code) == (413, "payload_too_large")


# ------------------------------------------------------------------ storage faults


class FailingTransactions:
    """Fails the next `times` TransactWriteItems calls with a transient server error."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        self.left = times
        conn = storage.connection()
        real = conn._make_api_call

        def call(operation: str, kwargs: dict[str, Any]) -> Any:
            if operation == "TransactWriteItems" and self.left > 0:
                self.left -= 1
                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, operation)
            return real(operation, kwargs)

        monkeypatch.setattr(conn, "_make_api_call", call)


def test_transient_faults_are_retried(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = api.new_partner()
    FailingTransactions(monkeypatch, times=2)
    r = api.post(f"/v1/partners/{pid}/merchants", merchant_body(), token=api.admin())
    assert r.status == 201, r.body
    assert len(api.services.onboarding_repo.list_stores(r.body["merchant_id"])) == 2


def test_a_persistent_fault_is_503_leaves_nothing_and_a_retry_succeeds(api: Api,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pid = api.new_partner()
    seller = "2088" + pid[-12:].replace("_", "0")
    seller = "".join(c if c.isalnum() else "0" for c in seller)
    faults = FailingTransactions(monkeypatch, times=1000)
    r = api.post(f"/v1/partners/{pid}/merchants", merchant_body(alipay_seller_id=seller), token=api.admin())
    assert (r.status, r.code) == (503, "storage_unavailable"), r.body
    assert api.services.onboarding_repo.list_merchants(pid) == []
    assert api.services.onboarding_repo.merchant_by_seller(seller) is None
    faults.left = 0
    r = api.post(f"/v1/partners/{pid}/merchants", merchant_body(alipay_seller_id=seller), token=api.admin())
    assert r.status == 201, r.body  # the seller id was not left claimed by the failed attempt

"""Memberships through HTTP on DynamoDB Local, with business time moved by the test clock."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.memberships.models import MembershipModel
from tests.helpers import Api, TerminalCreds

DAY = 86400


def new_customer() -> str:
    return f"2088{secrets.randbelow(10**12):012d}"


def new_plan(api: Api, merchant_id: str, **over: Any) -> dict[str, Any]:
    body = {"name": "Monthly", "fee_fen": 3000, "discount_percent": 10, **over}
    r = api.post(f"/v1/merchants/{merchant_id}/plans", body, token=api.admin())
    assert r.status == 201, r.body
    return dict(r.body)


def lock(api: Api, customer: str, plan_id: str, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else None
    return api.post("/v1/memberships", {"plan_id": plan_id}, token=api.customer_token(customer), headers=headers)


def advance(api: Api, seconds: float) -> None:
    r = api.post("/v1/admin/clock", {"advance_seconds": seconds}, token=api.admin())
    assert r.status == 200, r.body


def run_lifecycle(api: Api) -> dict[str, Any]:
    r = api.post("/v1/admin/jobs/memberships_lifecycle", token=api.admin())
    assert r.status == 200, r.body
    return dict(r.body["result"])


def pay(api: Api, t: TerminalCreds, buyer: str, amount: int, discount: int = 0,
        paid_at: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"out_trade_no": f"o{secrets.token_hex(8)}", "amount_fen": amount, "buyer_id": buyer,
                            "paid_at": (paid_at or api.services.clock.now()).isoformat()}
    if discount:
        body["discount_fen"] = discount
    r = api.signed(t, "/v1/terminal/payments", body)
    assert r.status == 200, r.body
    return {**r.body, "out_trade_no": body["out_trade_no"]}


def refund_payment(api: Api, t: TerminalCreds, out_trade_no: str, amount: int) -> None:
    r = api.signed(t, "/v1/terminal/refunds", {"out_trade_no": out_trade_no, "amount_fen": amount,
                                               "out_request_no": f"r{secrets.token_hex(6)}"})
    assert r.status == 200, r.body


def add_savings(api: Api, t: TerminalCreds, buyer: str, fen: int) -> None:
    """A member payment whose 10% discount is exactly `fen` (list price 10 × fen)."""
    assert pay(api, t, buyer, 9 * fen, fen)["member_savings_fen"] == fen


@pytest.fixture
def shop(api: Api) -> dict[str, Any]:
    return api.new_merchant(api.new_partner())


# ---------------------------------------------------------------- plans


def test_plan_created_with_defaults_and_listed_on_store_page(api: Api, shop: dict[str, Any]) -> None:
    r = api.post(f"/v1/merchants/{shop['merchant_id']}/plans", {"name": "Gold", "fee_fen": 100, "discount_percent": 50},
                 token=api.merchant_token(shop["merchant_id"]))
    assert r.status == 201, r.body
    assert r.body["period_days"] == 30 and r.body["refund_window_days"] == 7
    assert r.body["max_discount_per_order_fen"] is None and r.body["plan_id"]
    page = api.get(f"/v1/stores/{shop['stores'][0]['store_id']}")
    assert page.status == 200
    assert [p["plan_id"] for p in page.body["plans"]] == [r.body["plan_id"]]
    assert page.body["plans"][0]["fee_fen"] == 100


@pytest.mark.parametrize("field,value,code", [
    ("fee_fen", 99, "invalid_value"), ("fee_fen", 100001, "invalid_value"), ("period_days", 6, "invalid_value"),
    ("period_days", 367, "invalid_value"), ("discount_percent", 0, "invalid_value"),
    ("discount_percent", 51, "invalid_value"), ("max_discount_per_order_fen", 0, "invalid_value"),
    ("refund_window_days", 31, "invalid_value"), ("refund_window_days", 0, "invalid_value"),
    ("fee_fen", "3000", "invalid_type"), ("fee_fen", 10.5, "invalid_type"), ("name", None, "invalid_type"),
])
def test_plan_validation(api: Api, shop: dict[str, Any], field: str, value: Any, code: str) -> None:
    body = {"name": "Monthly", "fee_fen": 3000, "discount_percent": 10, field: value}
    r = api.post(f"/v1/merchants/{shop['merchant_id']}/plans", body, token=api.admin())
    assert r.status in (400, 422) and r.code == code, r.body


def test_plan_edges_accepted_and_missing_field(api: Api, shop: dict[str, Any]) -> None:
    new_plan(api, shop["merchant_id"], fee_fen=100000, period_days=366, discount_percent=1,
             max_discount_per_order_fen=1, refund_window_days=30)
    new_plan(api, shop["merchant_id"], period_days=7, refund_window_days=1)
    r = api.post(f"/v1/merchants/{shop['merchant_id']}/plans", {"name": "x", "fee_fen": 3000}, token=api.admin())
    assert r.status == 422 and r.code == "missing_field"


def test_plan_tenancy(api: Api, shop: dict[str, Any]) -> None:
    other = api.new_merchant(api.new_partner())
    body = {"name": "Monthly", "fee_fen": 3000, "discount_percent": 10}
    path = f"/v1/merchants/{shop['merchant_id']}/plans"
    assert api.post(path, body, token=api.merchant_token(other["merchant_id"])).code == "forbidden_tenant"
    assert api.post(path, body, token=api.partner_token(other["partner_id"])).code == "forbidden_tenant"
    assert api.post(path, body, token=api.partner_token(shop["partner_id"])).status == 201
    assert api.post(path, body, token=api.customer_token(new_customer())).code == "forbidden_role"
    assert api.post("/v1/merchants/mch_nope/plans", body, token=api.admin()).status == 404


# ---------------------------------------------------------------- lock-in and reading


def test_lock_in_dates_and_reading(api: Api, shop: dict[str, Any]) -> None:
    plan = new_plan(api, shop["merchant_id"], period_days=30, refund_window_days=7)
    cust = new_customer()
    r = lock(api, cust, plan["plan_id"])
    assert r.status == 201, r.body
    m = r.body
    starts = datetime.fromisoformat(m["starts_at"])
    assert abs((starts - api.services.clock.now()).total_seconds()) < 5
    assert datetime.fromisoformat(m["ends_at"]) - starts == timedelta(days=30)
    assert datetime.fromisoformat(m["refund_deadline"]) - starts == timedelta(days=37)
    assert m["status"] == "active" and m["savings_fen"] == 0 and m["fee_fen"] == 3000 and m["refundable_fen"] == 0
    assert m["merchant_id"] == shop["merchant_id"] and m["plan_id"] == plan["plan_id"]

    path = f"/v1/memberships/{m['membership_id']}"
    for token in (api.customer_token(cust), api.merchant_token(shop["merchant_id"]),
                  api.partner_token(shop["partner_id"]), api.admin()):
        got = api.get(path, token=token)
        assert got.status == 200 and got.body["membership_id"] == m["membership_id"]
    assert api.get(path, token=api.customer_token(new_customer())).code == "forbidden_tenant"
    assert api.get(path, token=api.merchant_token("mch_other")).code == "forbidden_tenant"
    assert api.get("/v1/memberships/mbs_nope", token=api.admin()).status == 404
    mine = api.get("/v1/me/memberships", token=api.customer_token(cust))
    assert [x["membership_id"] for x in mine.body["memberships"]] == [m["membership_id"]]
    assert api.get("/v1/me/memberships", token=api.admin()).code == "forbidden_role"


def test_lock_in_errors(api: Api, shop: dict[str, Any]) -> None:
    cust = new_customer()
    assert lock(api, cust, "pln_nope").status == 404
    plan = new_plan(api, shop["merchant_id"])
    assert api.post("/v1/memberships", {"plan_id": plan["plan_id"]}, token=api.admin()).code == "forbidden_role"
    assert api.post("/v1/memberships", {}, token=api.customer_token(cust)).code == "missing_field"
    assert lock(api, cust, plan["plan_id"], key="bad key!").code == "invalid_idempotency_key"
    assert lock(api, cust, plan["plan_id"], key="k" * 65).code == "invalid_idempotency_key"


def test_already_member_until_the_period_ends_even_before_the_job(api: Api, shop: dict[str, Any]) -> None:
    plan = new_plan(api, shop["merchant_id"], period_days=7)
    other_plan = new_plan(api, shop["merchant_id"], fee_fen=5000)
    cust = new_customer()
    first = lock(api, cust, plan["plan_id"])
    assert first.status == 201
    r = lock(api, cust, other_plan["plan_id"])
    assert r.status == 409 and r.code == "already_member"
    # another merchant is fine
    elsewhere = new_plan(api, api.new_merchant(shop["partner_id"])["merchant_id"])
    assert lock(api, cust, elsewhere["plan_id"]).status == 201
    advance(api, 7 * DAY)
    got = api.get(f"/v1/memberships/{first.body['membership_id']}", token=api.customer_token(cust))
    assert got.body["status"] == "expired"  # stored active, read by the business clock
    second = lock(api, cust, other_plan["plan_id"])  # the job has not run: the lock-in expires the old one
    assert second.status == 201, second.body
    stored = MembershipModel.get(first.body["membership_id"])
    assert stored.status == "expired"


def test_lock_in_replay_and_key_reuse(api: Api, shop: dict[str, Any]) -> None:
    plan = new_plan(api, shop["merchant_id"])
    other = new_plan(api, shop["merchant_id"])
    cust = new_customer()
    a = lock(api, cust, plan["plan_id"], key="lock-1")
    b = lock(api, cust, plan["plan_id"], key="lock-1")
    assert a.status == b.status == 201 and a.body == b.body
    assert b.headers.get("Idempotent-Replayed") == "true"
    c = lock(api, cust, other["plan_id"], key="lock-1")
    assert c.status == 422 and c.code == "idempotency_key_reused"
    # a refused lock-in is replayed as refused too
    d = lock(api, cust, other["plan_id"], key="lock-2")
    e = lock(api, cust, other["plan_id"], key="lock-2")
    assert d.status == e.status == 409 and d.body == e.body
    mine = api.get("/v1/me/memberships", token=api.customer_token(cust))
    assert len(mine.body["memberships"]) == 1
    # keys are scoped per customer: another customer may use the same key
    assert lock(api, new_customer(), plan["plan_id"], key="lock-1").status == 201


# ---------------------------------------------------------------- offers


def test_offers_member_and_non_member(api: Api, shop: dict[str, Any]) -> None:
    t = api.new_terminal(shop)
    buyer = new_customer()
    none = api.signed(t, "/v1/terminal/offers", {"buyer_id": buyer, "amount_fen": 1000})
    assert none.status == 200, none.body
    assert none.body == {"member": False, "membership_id": None, "discount_fen": 0, "payable_fen": 1000,
                         "membership_offer": None}
    cheap = new_plan(api, shop["merchant_id"], name="Cheap", fee_fen=1000, discount_percent=5)
    capped = new_plan(api, shop["merchant_id"], name="Capped", fee_fen=2000, discount_percent=20,
                      max_discount_per_order_fen=150)
    short = new_plan(api, shop["merchant_id"], name="Week", fee_fen=500, discount_percent=20, period_days=7)
    now = api.services.clock.now()
    pay(api, t, buyer, 2000, paid_at=now - timedelta(days=3))  # 5%:100 20%cap:150 week:400
    p = pay(api, t, buyer, 3000, paid_at=now - timedelta(days=20))  # net 2000: 100, 150, (outside week)
    refund_payment(api, t, p["out_trade_no"], 1000)
    pay(api, t, buyer, 9999, paid_at=now - timedelta(days=40))  # outside every plan
    pay(api, api.new_terminal(api.new_merchant(shop["partner_id"])), buyer, 50000, paid_at=now - timedelta(days=1))
    r = api.signed(t, "/v1/terminal/offers", {"buyer_id": buyer, "amount_fen": 1000})
    offer = r.body["membership_offer"]
    # estimates: cheap 200, capped 300, week 400
    assert offer["plan_id"] == short["plan_id"] and offer["estimated_savings_fen"] == 400
    assert set(offer) >= {"plan_id", "name", "fee_fen", "discount_percent", "estimated_savings_fen"}
    assert {cheap["plan_id"], capped["plan_id"]}  # created
    # a new buyer: every estimate is 0, the lowest fee wins the tie
    r = api.signed(t, "/v1/terminal/offers", {"buyer_id": new_customer(), "amount_fen": 1000})
    assert r.body["membership_offer"]["plan_id"] == short["plan_id"]
    assert r.body["membership_offer"]["estimated_savings_fen"] == 0

    m = lock(api, buyer, capped["plan_id"])
    r = api.signed(t, "/v1/terminal/offers", {"buyer_id": buyer, "amount_fen": 1001})
    assert r.body == {"member": True, "membership_id": m.body["membership_id"], "discount_fen": 150,
                      "payable_fen": 851, "membership_offer": None}
    r = api.signed(t, "/v1/terminal/offers", {"buyer_id": buyer, "amount_fen": 99})
    assert r.body["discount_fen"] == 19 and r.body["payable_fen"] == 80  # floor(99 × 20%)
    advance(api, 30 * DAY)
    r = api.signed(t, "/v1/terminal/offers", {"buyer_id": buyer, "amount_fen": 1000})
    assert r.body["member"] is False and r.body["membership_offer"] is not None


def test_offers_validation_and_auth(api: Api, shop: dict[str, Any]) -> None:
    t = api.new_terminal(shop)
    assert api.signed(t, "/v1/terminal/offers", {"buyer_id": "b", "amount_fen": 0}).code == "invalid_value"
    assert api.signed(t, "/v1/terminal/offers", {"buyer_id": "b"}).code == "missing_field"
    assert api.signed(t, "/v1/terminal/offers", {"buyer_id": "b", "amount_fen": "1"}).code == "invalid_type"
    assert api.post("/v1/terminal/offers", {"buyer_id": "b", "amount_fen": 1}).status == 401


# ---------------------------------------------------------------- refunds and the lifecycle


def refund(api: Api, cust: str, membership_id: str, key: str | None = None, body: Any = None) -> Any:
    headers = {"Idempotency-Key": key} if key else None
    return api.post(f"/v1/memberships/{membership_id}/refund", body, token=api.customer_token(cust), headers=headers)


def test_refund_rules(api: Api, shop: dict[str, Any]) -> None:
    plan = new_plan(api, shop["merchant_id"], fee_fen=3000, period_days=30, refund_window_days=7)
    short, enough, late = new_customer(), new_customer(), new_customer()
    ms = {c: lock(api, c, plan["plan_id"]).body["membership_id"] for c in (short, enough, late)}
    t = api.new_terminal(shop)
    add_savings(api, t, short, 1234)
    add_savings(api, t, enough, 3000)
    r = refund(api, short, ms[short])
    assert r.status == 409 and r.code == "membership_still_active"
    assert refund(api, enough, ms[short]).code == "forbidden_tenant"
    advance(api, 30 * DAY + 60)
    got = api.get(f"/v1/memberships/{ms[short]}", token=api.customer_token(short)).body
    assert got["status"] == "expired" and got["refundable_fen"] == 1766
    r = refund(api, short, ms[short], body={})
    assert r.status == 200, r.body
    assert r.body == {"membership_id": ms[short], "status": "refunded", "refund_fen": 1766}
    again = refund(api, short, ms[short])
    assert again.status == 409 and again.code == "already_refunded"
    r = refund(api, enough, ms[enough])
    assert r.status == 409 and r.code == "no_shortfall"
    advance(api, 7 * DAY)
    r = refund(api, late, ms[late])
    assert r.status == 409 and r.code == "refund_window_closed"
    got = api.get(f"/v1/memberships/{ms[short]}", token=api.customer_token(short)).body
    assert got["status"] == "refunded" and got["refundable_fen"] == 0 and got["savings_fen"] == 1234
    assert api.get(f"/v1/memberships/{ms[late]}", token=api.customer_token(late)).body["status"] == "settled"


def test_lifecycle_job_expires_settles_and_is_idempotent(api: Api, shop: dict[str, Any]) -> None:
    plan = new_plan(api, shop["merchant_id"], fee_fen=2000, period_days=7, refund_window_days=1)
    cust = new_customer()
    mid = lock(api, cust, plan["plan_id"]).body["membership_id"]
    provider = api.services.memberships.provider
    assert provider.frozen[mid] == 2000
    advance(api, 7 * DAY + 1)
    first = run_lifecycle(api)
    assert first["expired"] >= 1
    assert MembershipModel.get(mid).status == "expired"
    assert run_lifecycle(api)["expired"] == 0 or MembershipModel.get(mid).status == "expired"
    # the customer may lock a new one once the old one expired
    assert lock(api, cust, plan["plan_id"]).status == 201
    advance(api, DAY)
    result = run_lifecycle(api)
    assert result["settled"] >= 1
    stored = MembershipModel.get(mid)
    assert stored.status == "settled" and stored.due_at is None and stored.provider_pending is None
    assert provider.captured[mid] == 2000
    again = run_lifecycle(api)
    assert MembershipModel.get(mid).status == "settled" and provider.captured[mid] == 2000
    assert again["settled"] == 0
    audit = api.get("/v1/admin/audit", token=api.admin())
    assert audit.status == 200
    assert audit.body["ok"] is True, _problems(audit.body)


def test_unknown_job_is_404(api: Api) -> None:
    assert api.post("/v1/admin/jobs/nope", token=api.admin()).code == "unknown_job"


def _problems(audit: dict[str, Any]) -> list[dict[str, Any]]:
    """The failing checks of the whole audit: every test leaves the shared tables consistent."""
    return [c for c in audit["checks"] if not c["ok"]]


def test_a_full_month_through_http(api: Api, shop: dict[str, Any]) -> None:
    """Lock-ins, member payments with discounts, an over-discount, a refunded member payment,
    expiry, a refund inside the window, one outside it, one with no shortfall, settlement."""
    t = api.new_terminal(shop)
    plan = new_plan(api, shop["merchant_id"], fee_fen=3000, discount_percent=10, max_discount_per_order_fen=500,
                    period_days=30, refund_window_days=7)
    ann, ben, cat, dan = (new_customer() for _ in range(4))
    ms = {c: lock(api, c, plan["plan_id"], key=f"lock-{i}").body["membership_id"]
          for i, c in enumerate((ann, ben, cat, dan))}
    provider = api.services.memberships.provider
    assert all(provider.frozen[m] == 3000 for m in ms.values())

    offer = api.signed(t, "/v1/terminal/offers", {"buyer_id": ann, "amount_fen": 1000}).body
    assert offer["member"] and offer["discount_fen"] == 100 and offer["payable_fen"] == 900
    assert pay(api, t, ann, 900, 100)["member_savings_fen"] == 100  # list 1000: 10% = 100
    assert pay(api, t, ann, 1000, 300)["member_savings_fen"] == 0  # over-discount: recorded, counts 0
    capped = pay(api, t, ann, 9500, 500)
    assert capped["member_savings_fen"] == 500  # list 10000: capped at 500
    doomed = pay(api, t, ann, 1800, 200)
    assert doomed["member_savings_fen"] == 200
    refund_payment(api, t, doomed["out_trade_no"], 1800)  # fully refunded: its savings reversed
    assert pay(api, t, new_customer(), 900, 100)["member_savings_fen"] == 0  # not a member
    for _ in range(6):
        add_savings(api, t, ben, 500)  # ben saves the whole fee
    add_savings(api, t, cat, 250)

    ann_path = f"/v1/memberships/{ms[ann]}"
    got = api.get(ann_path, token=api.customer_token(ann)).body
    assert got["status"] == "active" and got["savings_fen"] == 600 and got["refundable_fen"] == 0

    advance(api, 30 * DAY + 60)
    assert run_lifecycle(api)["expired"] >= 4
    got = api.get(ann_path, token=api.customer_token(ann)).body
    assert got["status"] == "expired" and got["refundable_fen"] == 2400
    # an offline terminal uploads a payment made inside the period: it still counts
    late = datetime.fromisoformat(got["ends_at"]) - timedelta(hours=1)
    assert pay(api, t, ann, 900, 100, paid_at=late)["member_savings_fen"] == 100
    # ...but not one made after the period
    assert pay(api, t, ann, 900, 100)["member_savings_fen"] == 0

    r = refund(api, ann, ms[ann], key="refund-ann")
    assert r.status == 200 and r.body == {"membership_id": ms[ann], "status": "refunded", "refund_fen": 2300}
    assert refund(api, ann, ms[ann], key="refund-ann").body == r.body
    assert refund(api, ann, ms[ann], key="refund-ann-2").code == "already_refunded"
    assert refund(api, ben, ms[ben]).code == "no_shortfall"
    # savings are frozen once refunded: a late upload counts nothing, a payment refund reverses nothing
    assert pay(api, t, ann, 900, 100, paid_at=late - timedelta(hours=1))["member_savings_fen"] == 0
    refund_payment(api, t, capped["out_trade_no"], 9500)
    assert api.get(ann_path, token=api.customer_token(ann)).body["savings_fen"] == 700

    advance(api, 7 * DAY)
    assert refund(api, cat, ms[cat]).code == "refund_window_closed"
    result = run_lifecycle(api)
    assert result["settled"] >= 3
    for c in (ben, cat, dan):
        body = api.get(f"/v1/memberships/{ms[c]}", token=api.customer_token(c)).body
        assert body["status"] == "settled" and body["refundable_fen"] == 0
        assert provider.captured[ms[c]] == 3000
    assert provider.refunded[ms[ann]] == 2300 and provider.captured[ms[ann]] == 700
    assert run_lifecycle(api)["settled"] == 0 or all(provider.captured[ms[c]] == 3000 for c in (ben, cat, dan))

    audit = api.get("/v1/admin/audit", token=api.admin()).body
    names = {c["name"] for c in audit["checks"]}
    assert "membership_fees" in names
    assert audit["ok"] is True, _problems(audit)

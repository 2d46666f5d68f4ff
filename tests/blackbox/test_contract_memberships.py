"""Black box: plans, lock-in, offers, membership refunds, the lifecycle job, the test clock."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from tests.blackbox.conftest import Stack
from tests.blackbox.support import CST, buyer, is_int, is_time, new_plan, new_shop, parse_time, payment

MEMBERSHIP_FIELDS = {"membership_id", "merchant_id", "plan_id", "status", "fee_fen", "savings_fen", "starts_at",
                     "ends_at", "refund_deadline", "refundable_fen"}


def _check_membership(m: dict) -> None:
    assert set(m) >= MEMBERSHIP_FIELDS
    assert m["status"] in ("active", "expired", "refunded", "settled")
    for k in ("fee_fen", "savings_fen", "refundable_fen"):
        assert is_int(m[k]), k
    for k in ("starts_at", "ends_at", "refund_deadline"):
        assert is_time(m[k]), k


def test_plans(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    partner = stack.token("partner", partner_id=shop.partner_id)
    p = new_plan(stack, partner, shop.merchant_id)
    assert isinstance(p["plan_id"], str)
    assert {k: p[k] for k in ("name", "fee_fen", "period_days", "discount_percent", "refund_window_days")} == {
        "name": "Monthly", "fee_fen": 3000, "period_days": 30, "discount_percent": 10, "refund_window_days": 7}
    assert p.get("max_discount_per_order_fen") is None
    q = new_plan(stack, stack.token("merchant", merchant_id=shop.merchant_id), shop.merchant_id, name="Week",
              period_days=7, max_discount_per_order_fen=500, refund_window_days=1)
    assert (q["period_days"], q["max_discount_per_order_fen"], q["refund_window_days"]) == (7, 500, 1)
    page = stack.request("GET", f"/v1/stores/{shop.store_id}").body
    assert {x["plan_id"] for x in page["plans"]} == {p["plan_id"], q["plan_id"]}
    for bad in ({"fee_fen": 99}, {"fee_fen": 100_001}, {"period_days": 6}, {"period_days": 367},
                {"discount_percent": 0}, {"discount_percent": 51}, {"refund_window_days": 31},
                {"fee_fen": "3000"}, {"fee_fen": 30.5}):
        r = stack.request("POST", f"/v1/merchants/{shop.merchant_id}/plans",
                          {"name": "x", "fee_fen": 3000, "discount_percent": 10, **bad}, token=admin)
        assert r.status == 422 and r.code in ("invalid_value", "invalid_type"), (bad, r.body)
    other = new_shop(stack, admin)
    r = stack.request("POST", f"/v1/merchants/{shop.merchant_id}/plans",
                      {"name": "x", "fee_fen": 3000, "discount_percent": 10},
                      token=stack.token("partner", partner_id=other.partner_id))
    assert (r.status, r.code) == (403, "forbidden_tenant")
    r = stack.request("POST", f"/v1/merchants/{shop.merchant_id}/plans",
                      {"name": "x", "fee_fen": 3000, "discount_percent": 10}, token=stack.token("customer", "2088"))
    assert (r.status, r.code) == (403, "forbidden_role")


def test_lock_in_offer_and_payment_savings(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    plan = new_plan(stack, admin, shop.merchant_id, max_discount_per_order_fen=150)
    cust = buyer()
    customer = stack.token("customer", cust)
    t = shop.terminal

    # a non-member who paid here before is offered the plan
    t.send("/v1/terminal/payments", payment(amount=1000, buyer_id=cust,
                                            paid_at=datetime.now(CST) - timedelta(days=2)))
    r = t.send("/v1/terminal/offers", {"buyer_id": cust, "amount_fen": 2000})
    assert r.status == 200, r.body
    assert r.body["member"] is False and r.body["membership_id"] is None
    assert (r.body["discount_fen"], r.body["payable_fen"]) == (0, 2000)
    offer = r.body["membership_offer"]
    assert {k: offer[k] for k in ("plan_id", "name", "fee_fen", "discount_percent")} == {
        "plan_id": plan["plan_id"], "name": "Monthly", "fee_fen": 3000, "discount_percent": 10}
    assert offer["estimated_savings_fen"] == 100 and is_int(offer["estimated_savings_fen"])

    key = "lock-" + secrets.token_hex(6)
    r = stack.request("POST", "/v1/memberships", {"plan_id": plan["plan_id"]}, token=customer,
                      headers={"Idempotency-Key": key})
    assert r.status == 201, r.body
    m = r.body
    _check_membership(m)
    assert (m["merchant_id"], m["plan_id"], m["status"], m["fee_fen"], m["savings_fen"]) == (
        shop.merchant_id, plan["plan_id"], "active", 3000, 0)
    assert parse_time(m["ends_at"]) - parse_time(m["starts_at"]) == timedelta(days=30)
    assert parse_time(m["refund_deadline"]) - parse_time(m["ends_at"]) == timedelta(days=7)
    # replay: the same answer; the same key with another body: 422
    r = stack.request("POST", "/v1/memberships", {"plan_id": plan["plan_id"]}, token=customer,
                      headers={"Idempotency-Key": key})
    assert r.status == 201 and r.body == m
    r = stack.request("POST", "/v1/memberships", {"plan_id": "pln_other"}, token=customer,
                      headers={"Idempotency-Key": key})
    assert (r.status, r.code) == (422, "idempotency_key_reused")
    r = stack.request("POST", "/v1/memberships", {"plan_id": plan["plan_id"]}, token=customer)
    assert (r.status, r.code) == (409, "already_member")
    r = stack.request("POST", "/v1/memberships", {"plan_id": plan["plan_id"]}, token=customer,
                      headers={"Idempotency-Key": "bad key!"})
    assert r.status in (400, 422)
    r = stack.request("POST", "/v1/memberships", {"plan_id": "pln_nope"}, token=stack.token("customer", buyer()))
    assert r.status == 404
    r = stack.request("POST", "/v1/memberships", {"plan_id": plan["plan_id"]}, token=admin)
    assert (r.status, r.code) == (403, "forbidden_role")

    # the member's offer, then a discounted payment counts as savings (capped at 150)
    r = t.send("/v1/terminal/offers", {"buyer_id": cust, "amount_fen": 2000})
    assert r.body == {"member": True, "membership_id": m["membership_id"], "discount_fen": 150,
                      "payable_fen": 1850, "membership_offer": None}
    r = t.send("/v1/terminal/payments", payment(amount=1850, discount_fen=150, buyer_id=cust))
    assert r.status == 200 and r.body["member_savings_fen"] == 150
    r = t.send("/v1/terminal/payments", payment(amount=1000, discount_fen=500, buyer_id=cust))
    assert r.status == 200 and r.body["member_savings_fen"] == 0  # above the allowance: recorded, flagged

    for token in (customer, admin, stack.token("merchant", merchant_id=shop.merchant_id),
                  stack.token("partner", partner_id=shop.partner_id)):
        r = stack.request("GET", f"/v1/memberships/{m['membership_id']}", token=token)
        assert r.status == 200 and r.body["savings_fen"] == 150 and r.body["status"] == "active"
        _check_membership(r.body)
    r = stack.request("GET", f"/v1/memberships/{m['membership_id']}", token=stack.token("customer", buyer()))
    assert r.status == 403
    r = stack.request("GET", "/v1/memberships/mbs_nope", token=admin)
    assert (r.status, r.code) == (404, "membership_not_found")
    r = stack.request("GET", "/v1/me/memberships", token=customer)
    assert r.status == 200 and [x["membership_id"] for x in r.body["memberships"]] == [m["membership_id"]]
    _check_membership(r.body["memberships"][0])
    assert stack.request("GET", "/v1/me/memberships", token=admin).status == 403
    d = stack.request("GET", f"/v1/merchants/{shop.merchant_id}/dashboard", token=admin).body
    assert d["members"] == {"active": 1, "locked_fees_fen": 3000, "savings_fen": 150}


def test_refund_lifecycle_with_the_test_clock(stack: Stack, admin: str, clock: None) -> None:
    shop = new_shop(stack, admin)
    plan = new_plan(stack, admin, shop.merchant_id, period_days=7, refund_window_days=2)
    rich_plan = new_plan(stack, admin, shop.merchant_id, name="Cheap", fee_fen=100, period_days=7,
                      refund_window_days=2)
    a, b, c = buyer(), buyer(), buyer()
    ms = {}
    for who, p in ((a, plan), (b, plan), (c, rich_plan)):
        r = stack.request("POST", "/v1/memberships", {"plan_id": p["plan_id"]}, token=stack.token("customer", who))
        assert r.status == 201, r.body
        ms[who] = r.body["membership_id"]
    # c saves 100 fen >= its fee: no shortfall later
    assert shop.terminal.send("/v1/terminal/payments",
                              payment(amount=900, discount_fen=100, buyer_id=c)).body["member_savings_fen"] == 100

    r = stack.request("POST", f"/v1/memberships/{ms[a]}/refund", token=stack.token("customer", a))
    assert (r.status, r.code) == (409, "membership_still_active")

    r = stack.request("GET", "/v1/admin/clock", token=admin)
    assert r.status == 200 and is_time(r.body["now"])
    r = stack.request("POST", "/v1/admin/clock", {"advance_seconds": 8 * 86400}, token=admin)
    assert r.status == 200 and is_time(r.body["now"])
    assert parse_time(r.body["now"]) - datetime.now(CST) > timedelta(days=7, hours=23)
    r = stack.request("POST", "/v1/admin/jobs/memberships_lifecycle", token=admin)
    assert r.status == 200 and isinstance(r.body, dict)
    r = stack.request("GET", f"/v1/memberships/{ms[a]}", token=admin)
    assert r.body["status"] == "expired" and r.body["refundable_fen"] == 3000

    key = "rf-" + secrets.token_hex(4)
    r = stack.request("POST", f"/v1/memberships/{ms[a]}/refund", token=stack.token("customer", a),
                      headers={"Idempotency-Key": key})
    assert r.status == 200, r.body
    assert r.body == {**r.body, "membership_id": ms[a], "status": "refunded", "refund_fen": 3000}
    assert is_int(r.body["refund_fen"])
    again = stack.request("POST", f"/v1/memberships/{ms[a]}/refund", token=stack.token("customer", a),
                          headers={"Idempotency-Key": key}, raw=b"{}")
    assert again.status == 200 and again.body == r.body
    r = stack.request("POST", f"/v1/memberships/{ms[a]}/refund", token=stack.token("customer", a),
                      headers={"Idempotency-Key": "another-key"})
    assert (r.status, r.code) == (409, "already_refunded")
    r = stack.request("POST", f"/v1/memberships/{ms[c]}/refund", token=stack.token("customer", c))
    assert (r.status, r.code) == (409, "no_shortfall")
    r = stack.request("POST", f"/v1/memberships/{ms[a]}/refund", token=stack.token("customer", b))
    assert r.status == 403

    # past the refund deadline: the window is closed and the job settles
    r = stack.request("POST", "/v1/admin/clock", {"advance_seconds": 3 * 86400}, token=admin)
    r = stack.request("POST", f"/v1/memberships/{ms[b]}/refund", token=stack.token("customer", b))
    assert (r.status, r.code) == (409, "refund_window_closed")
    assert stack.request("POST", "/v1/admin/jobs/memberships_lifecycle", token=admin).status == 200
    statuses = {who: stack.request("GET", f"/v1/memberships/{mid}", token=admin).body["status"]
                for who, mid in ms.items()}
    assert statuses == {a: "refunded", b: "settled", c: "settled"}
    assert stack.request("GET", "/v1/admin/audit", token=admin).body["ok"] is True


def test_clock_and_jobs(stack: Stack, admin: str, clock: None) -> None:
    past = datetime(2024, 2, 29, 12, 0, tzinfo=CST)
    r = stack.request("POST", "/v1/admin/clock", {"now": past.isoformat()}, token=admin)
    assert r.status == 200 and abs((parse_time(r.body["now"]) - past).total_seconds()) < 5
    r = stack.request("GET", "/v1/admin/clock", token=admin)
    assert abs((parse_time(r.body["now"]) - past).total_seconds()) < 5
    r = stack.request("POST", "/v1/admin/clock", {"advance_seconds": 3600}, token=admin)
    assert abs((parse_time(r.body["now"]) - past - timedelta(hours=1)).total_seconds()) < 5
    r = stack.request("POST", "/v1/admin/clock", {"now": "2024-02-29T12:00:00"}, token=admin)
    assert (r.status, r.code) == (422, "missing_timezone")
    r = stack.request("POST", "/v1/admin/clock", {}, token=admin)
    assert r.status == 422
    r = stack.request("GET", "/v1/admin/clock", token=stack.token("merchant", merchant_id="m"))
    assert (r.status, r.code) == (403, "forbidden_role")
    # the business clock drives business days; signatures keep using the wall clock
    shop = new_shop(stack, admin)
    assert shop.terminal.send("/v1/terminal/payments", payment(paid_at=past)).status == 200
    d = stack.request("GET", f"/v1/merchants/{shop.merchant_id}/dashboard", token=admin).body
    assert d["date"] == "2024-02-29" and d["day"]["payments"] == 1

    r = stack.request("POST", "/v1/admin/jobs/memberships_lifecycle", token=admin)
    assert r.status == 200 and isinstance(r.body, dict), r.body
    r = stack.request("POST", "/v1/admin/jobs/make_coffee", token=admin)
    assert (r.status, r.code) == (404, "unknown_job")
    r = stack.request("POST", "/v1/admin/jobs/memberships_lifecycle", token=stack.token("customer", "2088"))
    assert (r.status, r.code) == (403, "forbidden_role")


def test_rank_contests_job_runs(stack: Stack, admin: str) -> None:
    r = stack.request("POST", "/v1/admin/jobs/rank_contests", token=admin)
    assert r.status == 200 and isinstance(r.body, dict), r.body

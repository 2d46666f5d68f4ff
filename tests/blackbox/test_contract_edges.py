"""Black box: what the contract leaves to judgement, judged as its users would."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest

from tests.blackbox.conftest import Stack
from tests.blackbox.support import CST, alipay_form, alipay_notice, buyer, new_plan, new_shop, notify, otn, payment

PAY, REFUND, OFFERS = "/v1/terminal/payments", "/v1/terminal/refunds", "/v1/terminal/offers"


def test_payment_in_the_second_of_the_lock_in_counts(stack: Stack, admin: str) -> None:
    """Terminals and the platform send paid_at in whole seconds."""
    shop = new_shop(stack, admin)
    plan = new_plan(stack, admin, shop.merchant_id)
    cust = buyer()
    r = stack.request("POST", "/v1/memberships", {"plan_id": plan["plan_id"]}, token=stack.token("customer", cust))
    assert r.status == 201
    paid_at = datetime.fromisoformat(r.body["starts_at"]).astimezone(CST).replace(microsecond=0)
    r = shop.terminal.send(PAY, payment(amount=900, discount_fen=100, buyer_id=cust, paid_at=paid_at))
    assert r.body["member_savings_fen"] == 100


def test_dashboard_members_are_those_active_now(stack: Stack, admin: str, clock: None) -> None:
    """After ends_at a membership is not active, whether or not the lifecycle job ran yet."""
    shop = new_shop(stack, admin)
    plan = new_plan(stack, admin, shop.merchant_id, period_days=7)
    cust = buyer()
    r = stack.request("POST", "/v1/memberships", {"plan_id": plan["plan_id"]}, token=stack.token("customer", cust))
    mid = r.body["membership_id"]
    dash = f"/v1/merchants/{shop.merchant_id}/dashboard"
    assert stack.request("GET", dash, token=admin).body["members"]["active"] == 1
    stack.request("POST", "/v1/admin/clock", {"advance_seconds": 7 * 86400 + 60}, token=admin)
    assert stack.request("GET", f"/v1/memberships/{mid}", token=admin).body["status"] == "expired"
    assert stack.request("GET", dash, token=admin).body["members"] == {"active": 0, "locked_fees_fen": 0,
                                                                         "savings_fen": 0}
    r = stack.request("POST", "/v1/terminal/offers", token=admin)  # (bearer on a terminal route)
    assert r.status == 401


def test_offer_estimate_is_net_of_refunds_and_ties_take_the_lower_fee(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    cust = buyer()
    t = shop.terminal
    a = payment(amount=1000, buyer_id=cust, paid_at=datetime.now(CST) - timedelta(days=3))
    assert t.send(PAY, a).status == 200
    assert t.send(REFUND, {"out_trade_no": a["out_trade_no"], "out_request_no": "r", "amount_fen": 400}).status == 200
    assert t.send(PAY, payment(amount=500, buyer_id=cust, paid_at=datetime.now(CST) - timedelta(days=20))).status == 200
    week = new_plan(stack, admin, shop.merchant_id, name="Week", period_days=7, fee_fen=800)
    new_plan(stack, admin, shop.merchant_id, name="Month dear", period_days=30, fee_fen=5000, discount_percent=5)
    cheap = new_plan(stack, admin, shop.merchant_id, name="Month", period_days=30, fee_fen=900, discount_percent=5)
    r = t.send(OFFERS, {"buyer_id": cust, "amount_fen": 100})
    # Week: 10% of 600 = 60; Month: 5% of (600 + 500) = 55
    assert r.body["membership_offer"]["plan_id"] == week["plan_id"]
    assert r.body["membership_offer"]["estimated_savings_fen"] == 60
    more = payment(amount=1000, buyer_id=cust, paid_at=datetime.now(CST) - timedelta(days=10))
    assert t.send(PAY, more).status == 200
    r = t.send(OFFERS, {"buyer_id": cust, "amount_fen": 100})
    assert r.body["membership_offer"]["plan_id"] == cheap["plan_id"]  # 105 vs 105 (dear): lower fee
    assert r.body["membership_offer"]["estimated_savings_fen"] == 105
    r = t.send(OFFERS, {"buyer_id": buyer(), "amount_fen": 100})
    assert r.body["membership_offer"]["estimated_savings_fen"] == 0
    r = t.send(OFFERS, {"buyer_id": cust, "amount_fen": 0})
    assert (r.status, r.code) == (422, "invalid_value")
    r = t.send(OFFERS, {"buyer_id": cust})
    assert (r.status, r.code) == (422, "missing_field")


def test_terminal_first_then_platform_is_one_payment(stack: Stack, admin: str) -> None:
    """A QR stand that does not know the platform's trade_no reports first; the notification follows."""
    shop = new_shop(stack, admin)
    no = otn()
    params = alipay_notice(stack, shop.seller_id, no, total="8.80")
    paid = datetime.strptime(params["gmt_payment"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)
    r = shop.terminal.send(PAY, payment(no, amount=880, buyer_id=params["buyer_id"], paid_at=paid))
    assert r.status == 200 and r.body["duplicate"] is False
    assert notify(stack, alipay_form(stack.alipay_key, params)).raw == b"success"
    d = stack.request("GET", f"/v1/merchants/{shop.merchant_id}/dashboard", token=admin).body
    assert d["day"]["payments"] == 1 and d["day"]["gmv_fen"] == 880
    # a terminal refund and the platform's cumulative refund_fee describe the same money
    r = shop.terminal.send(REFUND, {"out_trade_no": no, "out_request_no": "r1", "amount_fen": 300})
    assert r.body["refunded_total_fen"] == 300
    assert notify(stack, alipay_form(stack.alipay_key, {**params, "refund_fee": "3.00",
                                                         "notify_id": secrets.token_hex(6)})).raw == b"success"
    d = stack.request("GET", f"/v1/merchants/{shop.merchant_id}/dashboard", token=admin).body
    assert d["day"]["refunds_fen"] == 300 and d["day"]["gmv_fen"] == 580


def test_terminal_edges(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    t = shop.terminal
    r = t.send(PAY, raw=b'{"pad": "' + b"x" * 70_000 + b'"}')
    assert (r.status, r.code) == (413, "payment_too_large") or (r.status, r.code) == (413, "payload_too_large")
    r = t.send(PAY, raw=b"{not json")
    assert (r.status, r.code) == (400, "invalid_json")
    assert stack.request("DELETE", f"/v1/terminals/{t.terminal_id}", token=admin).status == 204
    assert stack.request("DELETE", f"/v1/terminals/{t.terminal_id}", token=admin).status == 204
    assert t.send(PAY, payment()).code == "terminal_revoked"
    assert t.send(REFUND, {"out_trade_no": "x", "out_request_no": "y", "amount_fen": 1}).code == "terminal_revoked"


def test_refund_key_reused_for_another_membership(stack: Stack, admin: str, clock: None) -> None:
    shop = new_shop(stack, admin)
    other = new_shop(stack, admin)
    cust = buyer()
    token = stack.token("customer", cust)
    ids = []
    for s in (shop, other):
        plan = new_plan(stack, admin, s.merchant_id, period_days=7)
        ids.append(stack.request("POST", "/v1/memberships", {"plan_id": plan["plan_id"]}, token=token).body[
            "membership_id"])
    stack.request("POST", "/v1/admin/clock", {"advance_seconds": 7 * 86400 + 60}, token=admin)
    key = "k-" + secrets.token_hex(4)
    r = stack.request("POST", f"/v1/memberships/{ids[0]}/refund", token=token, headers={"Idempotency-Key": key})
    assert r.status == 200 and r.body["refund_fen"] == 3000
    r = stack.request("POST", f"/v1/memberships/{ids[1]}/refund", token=token, headers={"Idempotency-Key": key})
    assert (r.status, r.code) == (422, "idempotency_key_reused")
    r = stack.request("POST", f"/v1/memberships/{ids[1]}/refund", token=token, raw=b'{"x": 1')
    assert (r.status, r.code) == (400, "invalid_json")
    got = stack.request("GET", f"/v1/memberships/{ids[0]}", token=token).body
    assert (got["status"], got["refundable_fen"]) == ("refunded", 0)
    mine = stack.request("GET", "/v1/me/memberships", token=token).body["memberships"]
    assert {m["membership_id"] for m in mine} == set(ids)
    # settle them all so the shared tables stay consistent for the audit
    stack.request("POST", "/v1/admin/clock", {"advance_seconds": 8 * 86400}, token=admin)
    assert stack.request("POST", "/v1/admin/jobs/memberships_lifecycle", token=admin).status == 200
    assert stack.request("GET", "/v1/admin/audit", token=admin).body["ok"] is True


@pytest.mark.parametrize("paid_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                     "0001-01-01T00:00:00Z"])
def test_absurd_times_are_422_not_500(stack: Stack, admin: str, paid_at: str) -> None:
    shop = new_shop(stack, admin)
    r = shop.terminal.send(PAY, {**payment(), "paid_at": paid_at})
    assert r.status == 422 and r.code in ("invalid_value", "paid_at_in_future"), r.body
    r = stack.request("POST", "/v1/admin/clock", {"now": paid_at}, token=admin)
    assert (r.status, r.code) == (422, "invalid_value"), r.body
    gmt = paid_at[:10] + " " + paid_at[11:19]
    form = alipay_form(stack.alipay_key, alipay_notice(stack, shop.seller_id, otn(), gmt_payment=gmt))
    r = notify(stack, form)
    assert 400 <= r.status < 500 and r.raw == b"fail", (r.status, r.raw)


@pytest.mark.parametrize("seconds", [1e20, 10**30, -(10**12)])
def test_absurd_clock_moves_are_422(stack: Stack, admin: str, seconds: float) -> None:
    r = stack.request("POST", "/v1/admin/clock", {"advance_seconds": seconds}, token=admin)
    assert (r.status, r.code) == (422, "invalid_value"), r.body
    r = stack.request("GET", "/v1/admin/clock", token=admin)
    assert abs(datetime.fromisoformat(r.body["now"]) - datetime.now(CST)) < timedelta(minutes=5)


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/no-such-thing"), ("POST", "/v1/stores/x/y"),
                                              ("TRACE", "/v1/nothing"), ("GET", "/")])
def test_a_route_the_api_lacks_is_404_in_the_contracts_shape(stack: Stack, method: str, path: str) -> None:
    r = stack.request(method, path)
    assert (r.status, r.headers["content-type"]) == (404, "application/json"), (r.status, r.raw[:200])
    assert r.body == {"code": "not_found", "message": "no such route"}


@pytest.mark.parametrize("method", ["DELETE", "TRACE", "PATCH", "QUERY"])
def test_a_method_a_route_lacks_is_405_in_the_contracts_shape(stack: Stack, method: str) -> None:
    r = stack.request(method, "/v1/meta")
    assert (r.status, r.headers["content-type"], r.code) == (405, "application/json", "method_not_allowed")
    assert r.headers["allow"] == "GET"  # RFC 9110: a 405 names the methods the resource has
    r = stack.request(method, "/v1/merchants/mch_x/plans")
    assert (r.status, r.headers["allow"]) == (405, "GET, POST")

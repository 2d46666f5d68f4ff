"""Terminal payment and refund callbacks through HTTP, on DynamoDB Local."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import Api
from tests.payments_support import PAY, dashboard, new_shop, otn, pay, payment_body, refund, today


def test_payment_is_recorded_once_and_replays_as_duplicate(api: Api) -> None:
    shop = new_shop(api)
    body = payment_body(amount=1234)
    first = pay(api, shop, body)
    assert first.status == 200, first.body
    assert first.body["duplicate"] is False and first.body["member_savings_fen"] == 0
    again = pay(api, shop, body)
    assert again.status == 200, again.body
    assert again.body == {**first.body, "duplicate": True}
    d = dashboard(api, shop.merchant_id)
    assert d["date"] == today(api)
    assert d["day"] == {"gmv_fen": 1234, "payments": 1, "refunds_fen": 0, "customers": 1}
    assert d["month"] == d["day"]
    assert d["members"] == {"active": 0, "locked_fees_fen": 0, "savings_fen": 0}


def test_same_out_trade_no_with_other_content_conflicts(api: Api) -> None:
    shop = new_shop(api)
    body = payment_body(amount=500)
    assert pay(api, shop, body).status == 200
    r = pay(api, shop, {**body, "amount_fen": 501})
    assert (r.status, r.code) == (409, "payment_conflict")
    assert dashboard(api, shop.merchant_id)["day"]["gmv_fen"] == 500


def test_paid_at_rules(api: Api) -> None:
    shop = new_shop(api)
    future = datetime.now(UTC) + timedelta(seconds=400)
    r = pay(api, shop, payment_body(paid_at=future))
    assert (r.status, r.code) == (422, "paid_at_in_future")
    naive = payment_body()
    naive["paid_at"] = "2024-05-01T10:00:00"
    r = pay(api, shop, naive)
    assert (r.status, r.code) == (422, "missing_timezone")
    late = pay(api, shop, payment_body(paid_at=datetime.now(UTC) - timedelta(days=40), amount=77))
    assert late.status == 200, late.body


def test_payment_counts_on_the_business_day_of_paid_at(api: Api) -> None:
    shop = new_shop(api)
    # 2024-03-31T17:30Z is 2024-04-01 01:30 in Asia/Shanghai
    assert pay(api, shop, payment_body(paid_at=datetime(2024, 3, 31, 17, 30, tzinfo=UTC), amount=300)).status == 200
    d = dashboard(api, shop.merchant_id, "2024-04-01")
    assert d["day"]["gmv_fen"] == 300 and d["month"]["gmv_fen"] == 300
    assert dashboard(api, shop.merchant_id, "2024-03-31")["month"]["payments"] == 0


def test_refunds_add_up_and_are_idempotent(api: Api) -> None:
    shop = new_shop(api)
    o = otn()
    assert pay(api, shop, payment_body(o, amount=1000, paid_at=datetime.now(UTC) - timedelta(days=60))).status == 200
    r1 = refund(api, shop, o, 300, "req-1")
    assert r1.status == 200, r1.body
    assert r1.body["duplicate"] is False and r1.body["refunded_total_fen"] == 300
    r2 = refund(api, shop, o, 500, "req-2")
    assert r2.body["refunded_total_fen"] == 800
    replay = refund(api, shop, o, 300, "req-1")
    assert replay.status == 200
    assert replay.body == {"refund_id": r1.body["refund_id"], "duplicate": True, "refunded_total_fen": 800}
    conflict = refund(api, shop, o, 301, "req-1")
    assert (conflict.status, conflict.code) == (409, "refund_conflict")
    too_much = refund(api, shop, o, 201, "req-3")
    assert (too_much.status, too_much.code) == (409, "refund_exceeds_payment")
    assert refund(api, shop, o, 200, "req-3").body["refunded_total_fen"] == 1000
    missing = refund(api, shop, otn(), 1)
    assert (missing.status, missing.code) == (404, "payment_not_found")
    # refunds count on the day they are recorded, the payment on its (old) day
    d = dashboard(api, shop.merchant_id)
    assert d["day"] == {"gmv_fen": -1000, "payments": 0, "refunds_fen": 1000, "customers": 0}


def test_replayed_nonce_is_401_even_for_a_duplicate(api: Api) -> None:
    shop = new_shop(api)
    body = payment_body()
    assert api.signed(shop.terminal, PAY, body, nonce="n" * 20).status == 200
    r = api.signed(shop.terminal, PAY, body, nonce="n" * 20)
    assert (r.status, r.code) == (401, "replayed_nonce")
    bad = api.signed(shop.terminal, PAY, {"amount_fen": 1}, nonce="m" * 20)
    assert (bad.status, bad.code) == (422, "missing_field")
    again = api.signed(shop.terminal, PAY, {"amount_fen": 1}, nonce="m" * 20)
    assert (again.status, again.code) == (401, "replayed_nonce")


def test_revoked_terminal_is_refused_at_once(api: Api) -> None:
    shop = new_shop(api)
    assert pay(api, shop, payment_body()).status == 200  # the terminal is now cached
    assert api.delete(f"/v1/terminals/{shop.terminal.terminal_id}", token=api.admin()).status == 204
    r = pay(api, shop, payment_body())
    assert (r.status, r.code) == (401, "terminal_revoked")
    r = pay(api, shop, {"bad": 1})
    assert (r.status, r.code) == (401, "terminal_revoked")
    assert dashboard(api, shop.merchant_id)["day"]["payments"] == 1


def test_dashboard_access_and_date(api: Api) -> None:
    shop = new_shop(api)
    other = new_shop(api)
    path = f"/v1/merchants/{shop.merchant_id}/dashboard"
    assert api.get(path, token=api.merchant_token(shop.merchant_id)).status == 200
    assert api.get(path, token=api.partner_token(shop.partner_id)).status == 200
    assert api.get(path, token=api.merchant_token(other.merchant_id)).status == 403
    assert api.get(path, token=api.partner_token(other.partner_id)).status == 403
    r = api.get(path + "?date=2024-13-01", token=api.admin())
    assert r.status == 422
    assert api.get(path + "?date=yesterday", token=api.admin()).status == 422

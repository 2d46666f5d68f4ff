"""Black box: terminal payments and refunds, the dashboard, Alipay notifications."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from tests.blackbox.conftest import Stack
from tests.blackbox.support import (
    CST,
    alipay_form,
    alipay_notice,
    buyer,
    is_int,
    new_shop,
    notify,
    otn,
    payment,
)

PAY, REFUND = "/v1/terminal/payments", "/v1/terminal/refunds"


def _dashboard(stack: Stack, admin: str, merchant_id: str, date: str | None = None) -> dict:
    r = stack.request("GET", f"/v1/merchants/{merchant_id}/dashboard" + (f"?date={date}" if date else ""), token=admin)
    assert r.status == 200, r.body
    return r.body


def test_payment_duplicate_conflict_and_refunds(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    t = shop.terminal
    body = payment(amount=2500, buyer_id=buyer(), trade_no="2024000111")
    r = t.send(PAY, body)
    assert r.status == 200, r.body
    assert isinstance(r.body["payment_id"], str) and r.body["duplicate"] is False
    assert is_int(r.body["member_savings_fen"]) and r.body["member_savings_fen"] == 0
    first = r.body["payment_id"]

    r = t.send(PAY, body)  # same content, new nonce
    assert r.status == 200 and r.body == {**r.body, "payment_id": first, "duplicate": True}
    r = t.send(PAY, {**body, "amount_fen": 2600})
    assert (r.status, r.code) == (409, "payment_conflict")

    r = t.send(REFUND, {"out_trade_no": body["out_trade_no"], "out_request_no": "r1", "amount_fen": 1000})
    assert r.status == 200, r.body
    assert isinstance(r.body["refund_id"], str) and r.body["duplicate"] is False
    assert is_int(r.body["refunded_total_fen"]) and r.body["refunded_total_fen"] == 1000
    refund_id = r.body["refund_id"]
    r = t.send(REFUND, {"out_trade_no": body["out_trade_no"], "out_request_no": "r2", "amount_fen": 500})
    assert r.body["refunded_total_fen"] == 1500 and r.body["duplicate"] is False
    r = t.send(REFUND, {"out_trade_no": body["out_trade_no"], "out_request_no": "r1", "amount_fen": 1000})
    assert r.status == 200 and r.body == {"refund_id": refund_id, "duplicate": True, "refunded_total_fen": 1500}
    r = t.send(REFUND, {"out_trade_no": body["out_trade_no"], "out_request_no": "r1", "amount_fen": 999})
    assert (r.status, r.code) == (409, "refund_conflict")
    r = t.send(REFUND, {"out_trade_no": body["out_trade_no"], "out_request_no": "r3", "amount_fen": 1001})
    assert (r.status, r.code) == (409, "refund_exceeds_payment")
    r = t.send(REFUND, {"out_trade_no": "o-unknown", "out_request_no": "r1", "amount_fen": 1})
    assert (r.status, r.code) == (404, "payment_not_found")

    d = _dashboard(stack, admin, shop.merchant_id)
    assert set(d) >= {"date", "day", "month", "members"}
    today = datetime.now(CST).date().isoformat()
    assert d["date"] == today
    for k in ("day", "month"):
        assert d[k] == {"gmv_fen": 1000, "payments": 1, "refunds_fen": 1500, "customers": 1}
        assert all(is_int(v) for v in d[k].values())
    assert d["members"] == {"active": 0, "locked_fees_fen": 0, "savings_fen": 0}


def test_paid_at_rules(stack: Stack, admin: str) -> None:
    t = new_shop(stack, admin).terminal
    future = datetime.now(CST) + timedelta(seconds=400)
    r = t.send(PAY, payment(paid_at=future))
    assert (r.status, r.code) == (422, "paid_at_in_future")
    r = t.send(PAY, payment(paid_at=datetime.now(CST) + timedelta(seconds=60)))
    assert r.status == 200  # within the 300 s tolerance
    r = t.send(PAY, payment(paid_at=datetime.now(CST) - timedelta(days=40)))
    assert r.status == 200  # offline terminals upload late
    r = t.send(PAY, {**payment(), "paid_at": "2024-05-01T10:00:00"})
    assert (r.status, r.code) == (422, "missing_timezone")
    r = t.send(PAY, {**payment(), "paid_at": "yesterday"})
    assert r.status == 422 and r.code == "invalid_datetime"


@pytest.mark.parametrize("change,code", [
    ({"amount_fen": 10.5}, "invalid_type"), ({"amount_fen": "100"}, "invalid_type"),
    ({"amount_fen": 0}, "invalid_value"), ({"amount_fen": 10**9 + 1}, "invalid_value"),
    ({"out_trade_no": "has space"}, "invalid_value"), ({"out_trade_no": "x" * 65}, "invalid_value"),
    ({"buyer_id": None}, None), ({"discount_fen": -1}, "invalid_value")])
def test_malformed_payments_are_4xx(stack: Stack, admin: str, change: dict, code: str | None) -> None:
    t = new_shop(stack, admin).terminal
    body = {k: v for k, v in {**payment(), **change}.items() if v is not None}
    r = t.send(PAY, body)
    assert r.status == 422, r.body
    assert r.code == (code or "missing_field")


def test_dashboard_dates(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    day = datetime(2024, 3, 10, 9, 0, tzinfo=CST)
    b = buyer()
    for i, amount in enumerate((100, 250, 300)):
        body = payment(amount=amount, paid_at=day + timedelta(hours=i), buyer_id=b if i < 2 else buyer())
        assert shop.terminal.send(PAY, body).status == 200
    shop.terminal.send(PAY, payment(amount=999, paid_at=datetime(2024, 3, 2, 23, 59, 59, tzinfo=CST)))
    d = _dashboard(stack, admin, shop.merchant_id, "2024-03-10")
    assert d["date"] == "2024-03-10"
    assert d["day"] == {"gmv_fen": 650, "payments": 3, "refunds_fen": 0, "customers": 2}
    assert d["month"]["gmv_fen"] == 1649 and d["month"]["payments"] == 4
    # a payment at 00:30 Shanghai time is on that Shanghai day, not the UTC one
    shop.terminal.send(PAY, payment(amount=5, paid_at=datetime(2024, 3, 11, 0, 30, tzinfo=CST)))
    assert _dashboard(stack, admin, shop.merchant_id, "2024-03-11")["day"]["gmv_fen"] == 5
    r = stack.request("GET", f"/v1/merchants/{shop.merchant_id}/dashboard?date=2024-13-01", token=admin)
    assert r.status == 422 and isinstance(r.code, str)


def test_alipay_notifications(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    no = otn()
    params = alipay_notice(stack, shop.seller_id, no, total="12.34")
    r = notify(stack, alipay_form(stack.alipay_key, params))
    assert (r.status, r.raw) == (200, b"success")
    assert r.headers["content-type"].startswith("text/plain")
    assert notify(stack, alipay_form(stack.alipay_key, params)).raw == b"success"  # again: no double count
    # the same payment from the terminal is the same payment
    r = shop.terminal.send(PAY, payment(no, amount=1234, buyer_id=params["buyer_id"],
                                        paid_at=datetime.strptime(params["gmt_payment"], "%Y-%m-%d %H:%M:%S")
                                        .replace(tzinfo=CST), trade_no=params["trade_no"]))
    assert r.status == 200 and r.body["duplicate"] is True, r.body

    # refunds converge on refund_fee, in any order
    later = {**params, "trade_status": "TRADE_SUCCESS", "refund_fee": "3.00", "notify_id": secrets.token_hex(8)}
    latest = {**params, "trade_status": "TRADE_CLOSED", "refund_fee": "12.34", "notify_id": secrets.token_hex(8)}
    assert notify(stack, alipay_form(stack.alipay_key, latest)).raw == b"success"
    assert notify(stack, alipay_form(stack.alipay_key, later)).raw == b"success"
    d = _dashboard(stack, admin, shop.merchant_id)
    assert d["day"] == {"gmv_fen": 0, "payments": 1, "refunds_fen": 1234, "customers": 1}

    # nothing recorded for unpaid orders
    for status in ("WAIT_BUYER_PAY", "TRADE_CLOSED"):
        p = alipay_notice(stack, shop.seller_id, otn(), status=status, gmt_payment=None)
        r = notify(stack, alipay_form(stack.alipay_key, p))
        assert (r.status, r.raw) == (200, b"success"), status
    assert _dashboard(stack, admin, shop.merchant_id)["day"]["payments"] == 1


def test_alipay_rejections_answer_fail(stack: Stack, admin: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    shop = new_shop(stack, admin)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = alipay_notice(stack, shop.seller_id, otn())
    cases = {
        "forged": alipay_form(other, good),
        "no sign_type": alipay_form(stack.alipay_key, {k: v for k, v in good.items() if k != "sign_type"}),
        "RSA": alipay_form(stack.alipay_key, {**good, "sign_type": "RSA"}),
        "unknown seller": alipay_form(stack.alipay_key, {**good, "seller_id": "2088999999999999"}),
        "other app": alipay_form(stack.alipay_key, {**good, "app_id": "2021000000000999"}),
        "tampered": alipay_form(stack.alipay_key, good).replace(b"total_amount=10.00", b"total_amount=99.00"),
        "bad amount": alipay_form(stack.alipay_key, {**good, "total_amount": "1.001"}),
        "not a form": b"\x00\xff garbage",
        "empty": b"",
        "json": b'{"trade_status": "TRADE_SUCCESS"}',
    }
    for name, form in cases.items():
        r = notify(stack, form)
        assert 400 <= r.status < 500 and r.raw == b"fail", (name, r.status, r.raw)
        assert r.headers["content-type"].startswith("text/plain"), name
    r = notify(stack, alipay_form(stack.alipay_key, {**good, "refund_fee": "1.00", "out_trade_no": otn(),
                                                      "trade_status": "TRADE_CLOSED", "gmt_payment": None,
                                                      "total_amount": None, "buyer_id": None}))
    assert r.raw == b"fail" and r.status >= 400  # refund of a payment not known yet: sent again later
    assert _dashboard(stack, admin, shop.merchant_id)["day"]["payments"] == 0


def test_audit_ok_after_a_storm_of_duplicates(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    t = shop.terminal
    bodies = [payment(amount=100 + i, buyer_id=buyer()) for i in range(6)]
    refunds = [{"out_trade_no": b["out_trade_no"], "out_request_no": "r1", "amount_fen": 50} for b in bodies]
    forms = [alipay_form(stack.alipay_key, alipay_notice(stack, shop.seller_id, otn(), total="1.50"))
             for _ in range(3)]

    def send(i: int) -> int:
        kind, j = i % 3, i // 3
        if kind == 0:
            return t.send(PAY, bodies[j % 6]).status
        if kind == 1:
            r = t.send(REFUND, refunds[j % 6])
            return 200 if r.status in (200, 404) else r.status  # a refund may overtake its payment
        return notify(stack, forms[j % 3]).status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(72)))
    assert set(statuses) == {200}
    for b in bodies:  # the refunds that overtook their payment, again
        for r in refunds:
            if r["out_trade_no"] == b["out_trade_no"]:
                assert t.send(REFUND, r).status == 200
    d = _dashboard(stack, admin, shop.merchant_id)
    assert d["day"] == {"gmv_fen": sum(100 + i for i in range(6)) - 300 + 450, "payments": 9,
                        "refunds_fen": 300, "customers": 7}
    r = stack.request("GET", "/v1/admin/audit", token=admin)
    assert r.status == 200
    assert r.body["ok"] is True, [c for c in r.body["checks"] if not c["ok"]]
    assert r.body["checks"] and all(set(c) >= {"name", "ok", "detail"} and isinstance(c["ok"], bool)
                                    and isinstance(c["name"], str) for c in r.body["checks"])
    assert stack.request("GET", "/v1/admin/audit", token=stack.token("partner", partner_id=shop.partner_id)
                         ).code == "forbidden_role"

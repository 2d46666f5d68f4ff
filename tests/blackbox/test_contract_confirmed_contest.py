"""Black box: a contest that counts confirmed payments only (the default rule), confirmed the way
production does it — an admin verifies the merchant's Alipay seller id, and Alipay's RSA2-signed
notifications (signed with the key the stack's server trusts) say when the buyer paid."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from tests.blackbox.conftest import Stack
from tests.blackbox.support import CST, alipay_form, alipay_notice, buyer, new_shop, notify, otn, payment

PAY = "/v1/terminal/payments"
ALIPAY_TIME = "%Y-%m-%d %H:%M:%S"


def mine(stack: Stack, admin: str, cid: str, n: int, partner_id: str) -> tuple[int, int, int] | None:
    """The partner's (gmv_fen, counted_payments, merchants_onboarded) on round `n`, ranked now."""
    assert stack.request("POST", "/v1/admin/jobs/rank_contests", token=admin).status == 200
    r = stack.request("GET", f"/v1/contests/{cid}/leaderboard?round={n}&limit=500", token=admin)
    assert r.status == 200, r.body
    for e in r.body["entries"]:
        if e["partner_id"] == partner_id:
            m = e["metrics"]
            return m["gmv_fen"], m["counted_payments"], m["merchants_onboarded"]
    return None


def eventually(stack: Stack, admin: str, cid: str, partner_id: str,
               expected: dict[int, tuple[int, int, int] | None], seconds: float = 30) -> None:
    """The boards reach `expected` (the payments table's stream feeds the contest: seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        got = {n: mine(stack, admin, cid, n, partner_id) for n in expected}
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert got == expected


def payment_doc(stack: Stack, admin: str, merchant_id: str, out_trade_no: str) -> dict[str, Any]:
    r = stack.request("GET", f"/v1/merchants/{merchant_id}/payments/{out_trade_no}", token=admin)
    assert r.status == 200, r.body
    return dict(r.body)


def test_only_platform_confirmed_payments_count_at_the_platforms_time(stack: Stack, admin: str) -> None:
    now0 = datetime.now(CST).replace(microsecond=0)
    start = now0 - timedelta(days=2)  # round 1 ended a day ago, round 2 ends now, round 3 is current
    r = stack.request("POST", "/v1/contests", {
        "name": "Confirmed cup", "starts_at": start.isoformat(), "round_days": 1, "rounds": 3,
        "weights": {"merchants_onboarded": 10, "active_merchants": 5, "gmv_yuan": 1, "new_members": 2}},
        token=admin)
    assert r.status == 201 and r.body["rules"]["require_platform_confirmation"] is True, r.body
    cid = r.body["contest_id"]
    shop = new_shop(stack, admin)  # its merchant body claims an Alipay seller id: not verified
    u1, u2 = buyer(), buyer()

    # a terminal backdating a payment into round 1, which has ended; Alipay says it was paid now
    backdated = otn()
    r = shop.terminal.send(PAY, payment(backdated, amount=5000, buyer_id=u1,
                                        paid_at=now0 - timedelta(hours=36)))
    assert r.status == 200 and r.body["duplicate"] is False, r.body
    paid_now = datetime.now(CST).replace(microsecond=0)
    # an offline terminal's late upload of a payment Alipay agrees was made in round 2
    late = otn()
    paid_late = now0 - timedelta(hours=12)
    r = shop.terminal.send(PAY, payment(late, amount=700, buyer_id=u2, paid_at=paid_late - timedelta(seconds=2)))
    assert r.status == 200, r.body
    forms = [
        alipay_form(stack.alipay_key, alipay_notice(stack, shop.seller_id, backdated, total="50.00", buyer_id=u1,
                                                    gmt_create=paid_now.strftime(ALIPAY_TIME),
                                                    gmt_payment=paid_now.strftime(ALIPAY_TIME))),
        alipay_form(stack.alipay_key, alipay_notice(stack, shop.seller_id, late, total="7.00", buyer_id=u2,
                                                    gmt_create=paid_late.strftime(ALIPAY_TIME),
                                                    gmt_payment=paid_late.strftime(ALIPAY_TIME))),
    ]
    for form in forms:  # through the claimed binding: recorded, confirms nothing
        r = notify(stack, form)
        assert (r.status, r.raw) == (200, b"success"), r.raw
    for o in (backdated, late):
        doc = payment_doc(stack, admin, shop.merchant_id, o)
        assert doc["confirmed"] is False and doc["channels"] == ["terminal", "alipay"], doc
    time.sleep(2)  # give the stream its time: still nothing may count
    assert {n: mine(stack, admin, cid, n, shop.partner_id) for n in (1, 2, 3)} == {1: None, 2: None, 3: None}

    # an admin verifies the binding: the notified payments are confirmed, the next ranking moves,
    # each at Alipay's time; the backdated one gains nothing in round 1, and the merchant's first
    # recorded payment (round 1) has no confirmed payment beside it: onboarded nowhere
    r = stack.request("PUT", f"/v1/admin/merchants/{shop.merchant_id}/bindings/alipay", {"id": shop.seller_id},
                      token=admin)
    assert r.status == 200 and r.body["verified"] is True, r.body
    docs = {o: payment_doc(stack, admin, shop.merchant_id, o) for o in (backdated, late)}
    assert all(d["confirmed"] for d in docs.values()), docs
    assert datetime.fromisoformat(docs[backdated]["platform_paid_at"]) == paid_now
    assert datetime.fromisoformat(docs[backdated]["paid_at"]) == now0 - timedelta(hours=36)  # as first recorded
    expected = {1: None, 2: (700, 1, 0), 3: (5000, 1, 0)}
    eventually(stack, admin, cid, shop.partner_id, expected)

    # Alipay redelivers: nothing changes
    for form in forms:
        assert notify(stack, form).raw == b"success"
    assert {o: payment_doc(stack, admin, shop.merchant_id, o) for o in docs} == docs
    time.sleep(2)
    assert {n: mine(stack, admin, cid, n, shop.partner_id) for n in (1, 2, 3)} == expected

    # settlement recomputes from the recorded payments under the same rule
    for n in (1, 2):
        r = stack.request("POST", f"/v1/contests/{cid}/rounds/{n}/settle", token=admin)
        assert r.status == 200, r.body
        entries = {e["partner_id"]: (e["metrics"]["gmv_fen"], e["metrics"]["counted_payments"],
                                     e["metrics"]["merchants_onboarded"]) for e in r.body["entries"]}
        assert entries.get(shop.partner_id) == expected[n]

"""Review findings on the money paths, each pinned by the test that showed it (DynamoDB Local)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from chalicelib.config import Config
from chalicelib.payments import alipay
from tests.functional.test_alipay_notify import PUBLIC_PEM, _api, day, notice, ok, post, seller, signed
from tests.helpers import Api
from tests.payments_support import (
    audit,
    new_membership,
    new_shop,
    otn,
    pay,
    payment_body,
    refund,
    savings_of,
)

BUYER = "2088000000000999"


@pytest.fixture
def ali(test_config: Config) -> Iterator[Api]:
    yield from _api(test_config, PUBLIC_PEM)


def test_savings_are_frozen_once_the_refund_window_closed_even_before_the_job_runs(api: Api) -> None:
    """At `refund_deadline` the membership is settled (the API says so) whether or not the
    lifecycle job ran: a late-uploaded member payment of its period counts nothing, and a refund
    of one of its payments reverses nothing."""
    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=20)
    m = api.get(f"/v1/memberships/{mid}", token=api.admin()).body
    starts = datetime.fromisoformat(m["starts_at"])
    o = otn()
    first = payment_body(o, amount=800, discount=200, buyer=BUYER, paid_at=starts + timedelta(seconds=1))
    assert pay(api, shop, first).body["member_savings_fen"] == 200

    r = api.post("/v1/admin/clock", {"now": m["refund_deadline"]}, token=api.admin())
    assert r.status == 200, r.body
    api.post("/v1/admin/clock", {"advance_seconds": 1}, token=api.admin())
    assert api.get(f"/v1/memberships/{mid}", token=api.admin()).body["status"] == "settled"

    late = payment_body(amount=800, discount=200, buyer=BUYER, paid_at=starts + timedelta(days=2))
    r = pay(api, shop, late)
    assert r.status == 200, r.body
    assert r.body["member_savings_fen"] == 0
    assert refund(api, shop, o, 800).status == 200
    assert savings_of(mid) == 200
    after = api.get(f"/v1/memberships/{mid}", token=api.admin()).body
    assert after["savings_fen"] == 200 and after["status"] == "settled"

    r = api.post("/v1/admin/jobs/memberships_lifecycle", token=api.admin())
    assert r.status == 200, r.body
    assert savings_of(mid) == 200
    result = audit(api)
    assert result["ok"], result


def test_platform_refund_total_then_the_terminals_own_refund_callbacks_count_once(ali: Api) -> None:
    """The platform's `refund_fee` is the trade's total refunded, terminal refunds included:
    whichever arrives first, the payment's refunded total converges to the platform's."""
    sid = seller()
    shop = new_shop(ali, seller_id=sid)
    body = payment_body(amount=1000, buyer="2088102116773037")
    assert pay(ali, shop, body).status == 200
    paid = datetime.fromisoformat(body["paid_at"]).astimezone(alipay.ALIPAY_TZ)
    base = notice(sid, body["out_trade_no"], total="10.00", paid=paid)
    ok(post(ali, signed({**base, "refund_fee": "3.00", "out_biz_no": "R1"})))  # the platform first
    assert refund(ali, shop, body["out_trade_no"], 300, "R1").status == 200  # then the terminal: same refund
    assert refund(ali, shop, body["out_trade_no"], 200, "R2").status == 200  # the terminal first
    ok(post(ali, signed({**base, "refund_fee": "5.00", "out_biz_no": "R2"})))  # then the platform
    assert day(ali, shop.merchant_id)["refunds_fen"] == 500

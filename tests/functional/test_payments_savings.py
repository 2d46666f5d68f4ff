"""Member savings counted in the payment's own transaction, reversed in proportion by refunds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.memberships.domain import MembershipTerms
from chalicelib.payments.models import PaymentModel, payment_pk
from tests.helpers import Api
from tests.payments_support import (
    audit,
    close_membership,
    dashboard,
    new_membership,
    new_shop,
    otn,
    pay,
    payment_body,
    refund,
    savings_of,
)

BUYER = "2088000000000777"


def day_of(api: Api, paid_at: str) -> str:
    return datetime.fromisoformat(paid_at).astimezone(api.services.config.tz).date().isoformat()


def flags_of(merchant_id: str, out_trade_no: str) -> list[str]:
    return list(PaymentModel.get(payment_pk(merchant_id, out_trade_no), "PAY", consistent_read=True).flags or [])


def test_entitled_discount_counts_and_refunds_reverse_it_in_proportion(api: Api) -> None:
    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=10)
    o = otn()
    r = pay(api, shop, payment_body(o, amount=900, discount=100, buyer=BUYER))
    assert r.status == 200 and r.body["member_savings_fen"] == 100
    assert pay(api, shop, payment_body(o, amount=900, discount=100, buyer=BUYER)).status == 409  # paid_at differs
    assert savings_of(mid) == 100
    assert dashboard(api, shop.merchant_id)["members"] == {"active": 1, "locked_fees_fen": 3000, "savings_fen": 100}
    assert refund(api, shop, o, 301).status == 200
    assert savings_of(mid) == 100 - (100 * 301) // 900
    assert refund(api, shop, o, 599).body["refunded_total_fen"] == 900
    assert savings_of(mid) == 0
    result = audit(api)
    assert result["ok"], result


def test_discount_over_allowance_or_without_membership_is_recorded_flagged(api: Api) -> None:
    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=10, cap=80)
    over = payment_body(amount=900, discount=100, buyer=BUYER)  # allowance min(100, 80)
    r = pay(api, shop, over)
    assert r.status == 200 and r.body["member_savings_fen"] == 0
    assert flags_of(shop.merchant_id, over["out_trade_no"]) == ["discount_over_allowance"]
    stranger = payment_body(amount=900, discount=50, buyer="2088000000000888")
    assert pay(api, shop, stranger).body["member_savings_fen"] == 0
    assert flags_of(shop.merchant_id, stranger["out_trade_no"]) == ["discount_not_entitled"]
    before = payment_body(amount=900, discount=50, buyer=BUYER, paid_at=datetime.now(UTC) - timedelta(days=3))
    assert pay(api, shop, before).body["member_savings_fen"] == 0
    assert savings_of(mid) == 0
    assert dashboard(api, shop.merchant_id)["day"]["gmv_fen"] == 1800
    result = audit(api)
    assert result["ok"], result


@pytest.mark.parametrize("status", ["refunded", "settled"])
def test_frozen_membership_savings_do_not_move(api: Api, status: str) -> None:
    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=20)
    o = otn()
    assert pay(api, shop, payment_body(o, amount=800, discount=200, buyer=BUYER)).body["member_savings_fen"] == 200
    close_membership(api, mid, BUYER, status)
    assert refund(api, shop, o, 800).status == 200
    assert savings_of(mid) == 200  # frozen: the refund reverses nothing
    later = payment_body(amount=800, discount=200, buyer=BUYER)
    assert pay(api, shop, later).body["member_savings_fen"] == 0
    assert savings_of(mid) == 200
    result = audit(api)
    assert result["ok"], result


def test_membership_closed_between_lookup_and_write_counts_zero(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=10)
    close_membership(api, mid, BUYER, "settled")
    start = datetime.now(UTC) - timedelta(days=1)

    def stale_lookup(*args: Any) -> MembershipTerms:  # what a read just before the settlement saw
        return MembershipTerms(mid, "active", start, start + timedelta(days=30), 10, None)

    monkeypatch.setattr(api.services.payments.savings, "membership_at", stale_lookup)
    body = payment_body(amount=900, discount=100, buyer=BUYER)
    r = pay(api, shop, body)
    assert r.status == 200 and r.body["member_savings_fen"] == 0
    assert flags_of(shop.merchant_id, body["out_trade_no"]) == ["membership_closed"]
    assert savings_of(mid) == 0
    assert dashboard(api, shop.merchant_id, day_of(api, body["paid_at"]))["day"]["payments"] == 1
    result = audit(api)
    assert result["ok"], result


def test_a_member_paying_right_after_locking_in_counts_even_if_the_index_lags(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The membership index is eventually consistent; a payment a moment after the lock-in must
    still find the membership (through the active guard, read consistently)."""
    from chalicelib.memberships.models import MembershipModel

    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=10)
    monkeypatch.setattr(MembershipModel.member_index, "query", lambda *a, **k: iter(()))  # not indexed yet
    r = pay(api, shop, payment_body(amount=900, discount=100, buyer=BUYER))
    assert r.status == 200 and r.body["member_savings_fen"] == 100, r.body
    assert savings_of(mid) == 100
    monkeypatch.undo()
    result = audit(api)
    assert result["ok"], result


def test_the_big_screen_knows_a_member_right_after_the_lock_in_even_if_the_index_lags(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.memberships.models import MembershipModel

    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=10)
    monkeypatch.setattr(MembershipModel.member_index, "query", lambda *a, **k: iter(()))  # not indexed yet
    r = api.signed(shop.terminal, "/v1/terminal/offers", {"buyer_id": BUYER, "amount_fen": 1000})
    assert r.status == 200, r.body
    assert (r.body["member"], r.body["membership_id"], r.body["discount_fen"]) == (True, mid, 100)

"""Deviations from the contract found from the outside (tests/blackbox), pinned in-process."""

from __future__ import annotations

from datetime import datetime

from tests.helpers import Api
from tests.payments_support import audit, dashboard, new_membership, new_shop, pay, payment_body

BUYER = "2088000000000999"


def test_a_payment_in_the_second_of_the_lock_in_is_a_members_payment(api: Api) -> None:
    """paid_at has whole seconds (terminals, the platform): the membership starts on the second."""
    shop = new_shop(api)
    mid = new_membership(api, shop, BUYER, percent=10)
    starts_at = api.get(f"/v1/memberships/{mid}", token=api.admin()).body["starts_at"]
    start = datetime.fromisoformat(starts_at)
    assert start.microsecond == 0
    r = pay(api, shop, payment_body(amount=900, discount=100, buyer=BUYER, paid_at=start))
    assert r.body["member_savings_fen"] == 100


def test_dashboard_members_are_active_now_even_before_the_lifecycle_job(api: Api) -> None:
    shop = new_shop(api)
    new_membership(api, shop, BUYER, days=7)
    assert dashboard(api, shop.merchant_id)["members"]["active"] == 1
    api.post("/v1/admin/clock", {"advance_seconds": 7 * 86400 + 1}, token=api.admin())
    assert dashboard(api, shop.merchant_id)["members"] == {"active": 0, "locked_fees_fen": 0, "savings_fen": 0}
    assert audit(api)["ok"]


def test_times_beyond_date_arithmetic_are_422_not_500(api: Api) -> None:
    shop = new_shop(api)
    for paid_at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"):
        r = pay(api, shop, {**payment_body(), "paid_at": paid_at})
        assert (r.status, r.code) == (422, "invalid_value"), r.body
        r = api.post("/v1/admin/clock", {"now": paid_at}, token=api.admin())
        assert (r.status, r.code) == (422, "invalid_value"), r.body
    for seconds in (1e20, 10**30, -(10**12)):
        r = api.post("/v1/admin/clock", {"advance_seconds": seconds}, token=api.admin())
        assert (r.status, r.code) == (422, "invalid_value"), r.body
    assert dashboard(api, shop.merchant_id)["day"]["payments"] == 0


def test_alipay_times_out_of_range_are_refused() -> None:
    import pytest

    from chalicelib.errors import Invalid
    from chalicelib.payments.alipay import _time

    for value in ("0001-01-01 00:00:00", "9999-12-31 23:59:59"):
        with pytest.raises(Invalid) as err:
            _time({"gmt_payment": value}, "gmt_payment")
        assert err.value.code == "invalid_value"
    assert _time({"gmt_payment": "2024-05-01 10:00:00"}, "gmt_payment") is not None

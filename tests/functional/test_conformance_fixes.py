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

"""The savings rule of payments (memberships' `savings_decision`): only a discount within the
allowance of a membership holding at payment time counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.memberships.domain import MembershipTerms, allowed_discount, savings_decision
from chalicelib.payments.domain import FLAG_NOT_ENTITLED, FLAG_OVER_ALLOWANCE

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def terms(percent: int = 10, cap: int | None = None, status: str = "active") -> MembershipTerms:
    return MembershipTerms("m1", status, T0, T0 + timedelta(days=30), percent, cap)


@given(st.integers(1, 10**9), st.integers(0, 10**9), st.integers(1, 50), st.one_of(st.none(), st.integers(0, 10**6)))
def test_savings_count_only_within_the_allowance(amount: int, discount: int, percent: int, cap: int | None) -> None:
    d = savings_decision(amount, discount, T0 + timedelta(days=1), terms(percent, cap))
    allowance = allowed_discount(amount + discount, percent, cap)
    if discount == 0:
        assert d.counted_fen == 0 and not d.flags
    elif discount <= allowance:
        assert (d.counted_fen, d.membership_id, d.flags) == (discount, "m1", ())
    else:
        assert (d.counted_fen, d.flags) == (0, (FLAG_OVER_ALLOWANCE,))


@pytest.mark.parametrize(("membership", "at"), [
    (None, T0 + timedelta(days=1)),
    (terms(status="refunded"), T0 + timedelta(days=1)),
    (terms(status="settled"), T0 + timedelta(days=1)),
    (terms(), T0 - timedelta(seconds=1)),
    (terms(), T0 + timedelta(days=30)),
])
def test_no_membership_holding_paid_at_counts_nothing(membership: MembershipTerms | None, at: datetime) -> None:
    d = savings_decision(900, 100, at, membership)
    assert (d.counted_fen, d.flags) == (0, (FLAG_NOT_ENTITLED,))


def test_expired_but_unsettled_membership_still_counts() -> None:
    assert savings_decision(900, 100, T0 + timedelta(days=1), terms(status="expired")).counted_fen == 100

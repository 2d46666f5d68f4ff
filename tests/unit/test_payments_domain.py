"""The payment arithmetic: savings allowance, proportional reversals, yuan → fen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.memberships.domain import allowed_discount
from chalicelib.payments.domain import (
    FLAG_NOT_ENTITLED,
    FLAG_OVER_ALLOWANCE,
    MembershipTerms,
    PaymentFacts,
    RecordedPayment,
    cumulative_reversal,
    reversal_delta,
    same_payment,
    savings_decision,
    yuan_to_fen,
)

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


@given(st.integers(0, 10**9), st.integers(1, 10**9), st.lists(st.integers(1, 10**9), max_size=8))
def test_reversals_add_up_to_the_proportional_total(savings: int, amount: int, refunds: list[int]) -> None:
    savings = min(savings, amount)
    payment = RecordedPayment("p", "m", "pt", "o", "terminal", "h", amount, "b", T0, member_savings_fen=savings)
    refunded = reversed_ = 0
    for r in refunds:
        r = min(r, amount - refunded)
        if r <= 0:
            break
        delta = reversal_delta(payment, refunded + r)
        assert delta >= 0
        refunded += r
        reversed_ += delta
        from dataclasses import replace
        payment = replace(payment, refunded_fen=refunded, savings_reversed_fen=reversed_)
        assert reversed_ == cumulative_reversal(savings, refunded, amount) <= savings
    if refunded == amount:
        assert reversed_ == savings


@given(st.integers(0, 10**11))
def test_yuan_strings_convert_exactly(fen: int) -> None:
    assert yuan_to_fen(f"{fen // 100}.{fen % 100:02d}") == fen
    if fen % 10 == 0:
        assert yuan_to_fen(f"{fen // 100}.{(fen % 100) // 10}") == fen
    if fen % 100 == 0:
        assert yuan_to_fen(str(fen // 100)) == fen


@pytest.mark.parametrize("text", ["1.001", "-1.00", "1e3", "", " 1.00", "01.00", "1.", ".5", "NaN", "１.00"])
def test_malformed_yuan_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(text)


def test_same_payment_across_channels_compares_amount_and_buyer() -> None:
    facts = PaymentFacts("m", "pt", "alipay", "o1", 100, "b1", T0, trade_no="t1")
    recorded = RecordedPayment("p", "m", "pt", "o1", "terminal", "other-hash", 100, "b1", T0 + timedelta(seconds=3))
    assert same_payment(recorded, facts)
    assert not same_payment(recorded, PaymentFacts("m", "pt", "alipay", "o1", 101, "b1", T0))
    same_channel = RecordedPayment("p", "m", "pt", "o1", "alipay", facts.content_hash, 100, "b1", T0)
    assert same_payment(same_channel, facts)
    assert not same_payment(same_channel, PaymentFacts("m", "pt", "alipay", "o1", 100, "b1", T0, trade_no="t2"))


@given(refunds=st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=6), data=st.data())
def test_terminal_and_platform_refund_reports_converge_in_any_order(refunds: list[int], data: st.DataObject) -> None:
    """Each refund is reported by its terminal (its own amount, idempotent by out_request_no)
    and by the platform (the cumulative refund_fee after it). In any order, repeats included,
    the refunded total never moves backwards, never exceeds the refunds, and ends at their sum."""
    from chalicelib.payments.domain import RecordedPayment, terminal_refund_adds

    totals = [sum(refunds[: i + 1]) for i in range(len(refunds))]
    events = [("terminal", i) for i in range(len(refunds))] + [("platform", t) for t in totals]
    events += data.draw(st.lists(st.sampled_from(events), max_size=4))  # redeliveries
    refunded, terminal_total, applied = 0, 0, set()
    for channel, value in data.draw(st.permutations(events)):
        before = refunded
        if channel == "platform":
            refunded = max(refunded, value)  # what a refund_fee notification adds
        elif value not in applied:  # a repeated out_request_no is a duplicate
            payment = RecordedPayment("pay", "m", "p", "o", "terminal", "h", sum(refunds), "b",
                                      datetime(2026, 1, 1, tzinfo=UTC), refunded_fen=refunded,
                                      terminal_refunded_fen=terminal_total)
            refunded += terminal_refund_adds(payment, refunds[value])
            terminal_total += refunds[value]
            applied.add(value)
        assert before <= refunded <= sum(refunds)
    assert refunded == sum(refunds)

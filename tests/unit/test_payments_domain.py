"""The payment arithmetic: proportional reversals, yuan → fen (the savings allowance is
memberships' rule: tests/unit/test_memberships_savings.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.payments.domain import (
    PaymentFacts,
    RecordedPayment,
    cumulative_reversal,
    reversal_delta,
    same_payment,
    yuan_to_fen,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)


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

"""The membership use cases on in-memory fakes, and the arithmetic as properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.auth import Principal
from chalicelib.clock import FixedClock
from chalicelib.errors import AppError, Conflict
from chalicelib.memberships.domain import (
    Membership,
    Plan,
    allowed_discount,
    capture_entry,
    fee_balance,
    lock_entry,
    new_membership,
    refund_entry,
    shortfall,
)
from chalicelib.memberships.idempotency import Idempotency
from chalicelib.memberships.provider import SandboxFeeProvider
from chalicelib.memberships.schemas import CreatePlan, OfferRequest
from chalicelib.memberships.service import MembershipService
from chalicelib.onboarding.domain import Merchant, Store, TerminalIdentity
from chalicelib.onboarding.service import OnboardingService
from chalicelib.payments.ports import PaymentRecord
from tests.fakes.memberships import InMemoryIdempotencyStore, InMemoryMembershipRepository
from tests.fakes.onboarding import InMemoryOnboardingRepository
from tests.fakes.payments import FakePaymentHistory
from tests.helpers import raw

T0 = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
DAY = 86400
ADMIN = Principal("admin", "admin")
ALICE = Principal("2088000000000001", "customer")
BOB = Principal("2088000000000002", "customer")


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        self.repo = InMemoryMembershipRepository()
        self.payments = FakePaymentHistory()
        self.provider = SandboxFeeProvider()
        onboarding_repo = InMemoryOnboardingRepository()
        onboarding_repo.add_merchant(Merchant("mch_1", "ptn_1", "Noodles", "restaurant", T0),
                                     [Store("sto_1", "mch_1", "Main")], T0)
        self.onboarding = OnboardingService(onboarding_repo, self.clock)
        self.svc = MembershipService(self.repo, self.clock, self.provider, self.onboarding,
                                     Idempotency(InMemoryIdempotencyStore()), self.payments)
        self.terminal = TerminalIdentity("tml_1", "sto_1", "mch_1", "ptn_1", "n" * 16)

    def plan(self, **over: object) -> str:
        body = CreatePlan.model_validate({"name": "Monthly", "fee_fen": 3000, "discount_percent": 10, **over})
        return str(self.svc.create_plan(ADMIN, "mch_1", raw(body))["plan_id"])


@pytest.fixture
def w() -> World:
    return World()


def test_a_month_on_fakes(w: World) -> None:
    plan_id = w.plan(period_days=30, refund_window_days=7)
    lock = w.svc.lock_in(ALICE, raw(plan_id=plan_id), "k1")
    assert lock.status == 201
    mid = lock.body["membership_id"]
    assert w.provider.frozen[mid] == 3000
    with pytest.raises(Conflict) as e:
        w.svc.lock_in(ALICE, raw(plan_id=plan_id), None)
    assert e.value.code == "already_member"
    w.repo.add_savings(mid, 500)
    w.clock.advance(29 * DAY)
    assert w.svc.run_lifecycle()["expired"] == 0
    w.clock.advance(DAY)
    assert w.svc.run_lifecycle()["expired"] == 1
    body = w.svc.get(ALICE, mid)
    assert body["status"] == "expired" and body["refundable_fen"] == 2500
    out = w.svc.refund(ALICE, mid, b"", "r1")
    assert out.status == 200 and out.body["refund_fen"] == 2500
    assert w.provider.refunded[mid] == 2500 and w.provider.captured[mid] == 500
    assert w.svc.refund(ALICE, mid, b"", "r1").replayed
    assert w.svc.refund(ALICE, mid, b"", "r2").body["code"] == "already_refunded"
    assert w.svc.audit_fees()["ok"]
    assert w.svc.audit_fees()["detail"]["refunded_fen"] == 2500


def test_status_follows_the_business_clock_before_the_job(w: World) -> None:
    mid = w.svc.lock_in(ALICE, raw(plan_id=w.plan(period_days=7, refund_window_days=1)), None).body["membership_id"]
    assert w.svc.get(ALICE, mid)["status"] == "active"
    w.clock.advance(7 * DAY)
    assert w.svc.get(ALICE, mid)["status"] == "expired"
    w.clock.advance(DAY)
    got = w.svc.get(ALICE, mid)
    assert got["status"] == "settled" and got["refundable_fen"] == 0
    with pytest.raises(Conflict) as e:
        w.svc.refund(ALICE, mid, b"", None)
    assert e.value.code == "refund_window_closed"
    result = w.svc.run_lifecycle()
    assert result["expired"] == 1 and result["settled"] == 1
    assert w.provider.captured[mid] == 3000
    assert w.svc.run_lifecycle()["settled"] == 0


def test_refund_codes(w: World) -> None:
    plan_id = w.plan()
    a = w.svc.lock_in(ALICE, raw(plan_id=plan_id), None).body["membership_id"]
    b = w.svc.lock_in(BOB, raw(plan_id=plan_id), None).body["membership_id"]
    with pytest.raises(Conflict, match="not ended") as e:
        w.svc.refund(ALICE, a, b"", None)
    assert e.value.code == "membership_still_active"
    w.repo.add_savings(b, 3001)
    w.clock.advance(30 * DAY)
    with pytest.raises(Conflict) as e:
        w.svc.refund(BOB, b, b"", None)
    assert e.value.code == "no_shortfall"
    with pytest.raises(AppError) as e2:
        w.svc.refund(BOB, a, b"", None)
    assert e2.value.code == "forbidden_tenant"
    with pytest.raises(AppError) as e2:
        w.svc.refund(ADMIN, a, b"", None)
    assert e2.value.code == "forbidden_role"


def test_offer_for_members_and_others(w: World) -> None:
    weekly = w.plan(name="Weekly", fee_fen=500, discount_percent=20, period_days=7)
    monthly = w.plan(name="Monthly", fee_fen=2000, discount_percent=10)
    w.payments.add(PaymentRecord("mch_1", "ptn_1", "o1", ALICE.sub, 5000, T0 - timedelta(days=10)))
    w.payments.add(PaymentRecord("mch_1", "ptn_1", "o2", ALICE.sub, 1000, T0 - timedelta(days=1), refunded_fen=400))
    out = w.svc.offer(w.terminal, raw(OfferRequest(buyer_id=ALICE.sub, amount_fen=1000)))
    # weekly: 20% of 600 = 120; monthly: 10% of 5000 + 10% of 600 = 560
    assert out["member"] is False and out["payable_fen"] == 1000
    assert out["membership_offer"]["plan_id"] == monthly and out["membership_offer"]["estimated_savings_fen"] == 560
    stranger = w.svc.offer(w.terminal, raw(OfferRequest(buyer_id=BOB.sub, amount_fen=1)))
    assert stranger["membership_offer"]["plan_id"] == weekly  # all estimates 0: the lower fee
    mid = w.svc.lock_in(ALICE, raw(plan_id=weekly), None).body["membership_id"]
    out = w.svc.offer(w.terminal, raw(OfferRequest(buyer_id=ALICE.sub, amount_fen=1234)))
    assert out == {"member": True, "membership_id": mid, "discount_fen": 246, "payable_fen": 988,
                   "membership_offer": None}


def test_idempotent_lock_in_replays_and_rejects_reuse(w: World) -> None:
    p1, p2 = w.plan(), w.plan(fee_fen=100)
    first = w.svc.lock_in(ALICE, raw(plan_id=p1), "key")
    again = w.svc.lock_in(ALICE, raw(plan_id=p1), "key")
    assert again.replayed and (again.status, again.body) == (first.status, first.body)
    with pytest.raises(AppError) as e:
        w.svc.lock_in(ALICE, raw(plan_id=p2), "key")
    assert e.value.status == 422 and e.value.code == "idempotency_key_reused"
    assert len(w.repo.memberships) == 1


def test_provider_failure_on_freeze_locks_nothing(w: World) -> None:
    plan_id = w.plan()
    w.provider.fail_next.append("freeze")
    with pytest.raises(AppError) as e:
        w.svc.lock_in(ALICE, raw(plan_id=plan_id), "k")
    assert e.value.status >= 500
    assert w.repo.memberships == {}
    assert w.svc.lock_in(ALICE, raw(plan_id=plan_id), "k").status == 201  # the claim was released: the retry runs


# ---------------------------------------------------------------- properties

money = st.integers(min_value=0, max_value=10**9)
percent = st.integers(min_value=1, max_value=50)
cap = st.none() | st.integers(min_value=1, max_value=10**6)


@given(money, percent, cap)
def test_allowed_discount_bounds(list_price: int, pct: int, max_per_order: int | None) -> None:
    d = allowed_discount(list_price, pct, max_per_order)
    assert 0 <= d <= list_price
    if max_per_order is not None:
        assert d <= max_per_order
    exact = list_price * pct / 100
    uncapped = allowed_discount(list_price, pct, None)
    # rounded down to the fen: never above the exact share, never more than 1 fen below it
    assert uncapped <= exact < uncapped + 1
    assert d == min(uncapped, max_per_order) if max_per_order is not None else d == uncapped


@given(st.integers(min_value=100, max_value=100_000), st.integers(min_value=0, max_value=10**7))
def test_shortfall_never_negative_nor_above_fee(fee: int, savings: int) -> None:
    s = shortfall(fee, savings)
    assert 0 <= s <= fee
    assert s == fee - savings if savings < fee else s == 0


@given(st.lists(st.tuples(st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=10**6)),
                max_size=40), percent, cap, st.integers(min_value=100, max_value=100_000))
def test_savings_and_refund_arithmetic(payments: list[tuple[int, int]], pct: int, max_per_order: int | None,
                                       fee: int) -> None:
    """Member payments at list prices: counted savings are the allowed discounts, each at most
    1 fen below the exact percentage when uncapped; the refund is between 0 and the fee and
    the fee splits exactly into refund and capture."""
    savings = 0
    for list_price, _ in payments:
        d = allowed_discount(list_price, pct, max_per_order)
        exact = list_price * pct / 100
        if max_per_order is None or exact <= max_per_order:
            assert exact - d < 1
        savings += d
    refund = shortfall(fee, savings)
    assert 0 <= refund <= fee
    plan = Plan("pln", "mch", "p", fee, 30, pct, 7, T0, max_per_order)
    m = new_membership("mbs", plan, "ptn", "c", T0)
    entries = [lock_entry(m, T0), refund_entry(m, refund, T0)]
    assert all(e.balanced for e in entries)
    b = fee_balance(entries)
    assert b.consistent and b.refunded == refund and b.captured == fee - refund and b.held == 0


@given(st.integers(min_value=100, max_value=100_000), st.integers(min_value=0, max_value=10**6),
       st.integers(min_value=0, max_value=60 * DAY))
def test_refundable_is_the_shortfall_only_inside_the_window(fee: int, savings: int, elapsed: int) -> None:
    plan = Plan("pln", "mch", "p", fee, 30, 10, 7, T0)
    m: Membership = new_membership("mbs", plan, "ptn", "c", T0)
    from dataclasses import replace

    m = replace(m, savings_fen=savings)
    now = T0 + timedelta(seconds=elapsed)
    r = m.refundable_at(now)
    assert 0 <= r <= fee
    inside = m.ends_at <= now < m.refund_deadline
    assert r == (shortfall(fee, savings) if inside else 0)
    assert fee_balance([lock_entry(m, T0), capture_entry(m, now)]).captured == fee

"""The payments use cases on the in-memory fake with a fixed business clock (no DynamoDB)."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.auth import Principal, terminal_signature
from chalicelib.clock import FixedClock
from chalicelib.config import Config
from chalicelib.cursors import CursorSigner
from chalicelib.errors import (
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
    Unauthorized,
)
from chalicelib.memberships.domain import ACTIVE, REFUNDED, Membership, MembershipTerms
from chalicelib.onboarding.domain import Merchant, Store, Terminal
from chalicelib.onboarding.service import OnboardingService
from chalicelib.payments.callbacks import CallbackReply, CallbackRequest
from chalicelib.payments.domain import (
    FLAG_MEMBERSHIP_CLOSED,
    FLAG_NOT_ENTITLED,
    FLAG_OVER_ALLOWANCE,
    cumulative_reversal,
)
from chalicelib.payments.figures import PaymentFigures
from chalicelib.payments.models import payment_pk
from chalicelib.payments.service import PaymentsService
from chalicelib.payments.terminal import TerminalVerifier
from tests.fakes.memberships import FakeMemberSavings, InMemoryMembershipRepository
from tests.fakes.onboarding import FakeTerminalGuards, InMemoryOnboardingRepository
from tests.fakes.payments import InMemoryPaymentsRepository

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
ADMIN = Principal("admin", "admin")
BUYER = "2088000000000001"
SECRET = "s" * 43
_ERRORS: dict[int, type[AppError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
                                      409: Conflict, 413: PayloadTooLarge, 422: Invalid, 503: StorageUnavailable}


def raise_for(reply: CallbackReply) -> dict[str, Any]:
    """The answer's body, or the error it answers raised again (so tests read like the use case)."""
    if reply.status == 200:
        assert isinstance(reply.body, dict)
        return reply.body
    assert isinstance(reply.body, dict)
    raise _ERRORS[reply.status](reply.body["message"], code=reply.body["code"])


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        self.onboarding_repo = InMemoryOnboardingRepository()
        self.onboarding_repo.add_merchant(Merchant("mch_1", "ptn_1", "Noodles", "restaurant", T0),
                                          [Store("sto_1", "mch_1", "Main")], T0)
        self.onboarding_repo.add_terminal(Terminal("tml_1", "mch_1", "ptn_1", "sto_1", "qr", SECRET, T0))
        self.members = InMemoryMembershipRepository()
        self.member_savings = FakeMemberSavings(self.members)
        self.repo = InMemoryPaymentsRepository(FakeTerminalGuards(self.onboarding_repo), self.member_savings)
        onboarding = OnboardingService(self.onboarding_repo, self.clock)
        config = Config.from_env({"YUNDIAN_STAGE": "local"})
        self.svc = PaymentsService(self.repo, self.clock, config, onboarding, self.member_savings,
                                   TerminalVerifier(self.onboarding_repo))
        self.figures = PaymentFigures(self.repo, self.clock, config, onboarding, self.member_savings,
                                      CursorSigner("unit-test-secret"))

    @property
    def logs(self) -> list[Any]:
        """What the callback log holds, oldest first (every record there was written)."""
        return [SimpleNamespace(written=True, outcome=r.outcome, status=r.status) for r in self.repo.logged()]

    def _signed(self, path: str, raw: bytes, nonce: str | None) -> CallbackRequest:
        now = time.time()
        ts, nonce = str(int(now)), nonce or secrets.token_hex(8)
        headers = {"x-yundian-terminal": "tml_1", "x-yundian-timestamp": ts, "x-yundian-nonce": nonce.ljust(16, "0"),
                   "x-yundian-signature": terminal_signature(SECRET, "POST", path, ts, nonce.ljust(16, "0"), raw)}
        return CallbackRequest("terminal", "POST", path, headers, raw, now)

    def pay(self, out_trade_no: str = "o1", amount: int = 1000, *, paid_at: datetime | None = None,
            nonce: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"out_trade_no": out_trade_no, "amount_fen": amount, "buyer_id": BUYER,
                "paid_at": (paid_at or self.clock.now()).isoformat(), **extra}
        raw = json.dumps(body).encode()
        return raise_for(self.svc.terminal_payment(self._signed("/v1/terminal/payments", raw, nonce)))

    def refund(self, amount: int, request_no: str = "r1", out_trade_no: str = "o1", *,
               nonce: str | None = None) -> dict[str, Any]:
        raw = json.dumps({"out_trade_no": out_trade_no, "out_request_no": request_no, "amount_fen": amount}).encode()
        return raise_for(self.svc.terminal_refund(self._signed("/v1/terminal/refunds", raw, nonce)))

    def dashboard(self, date: str | None = None) -> dict[str, Any]:
        return self.figures.dashboard(ADMIN, "mch_1", date)

    def member(self, *, percent: int = 10, cap: int | None = None, status: str = ACTIVE) -> str:
        start = self.clock.now() - timedelta(days=1)
        self.members.add_membership(Membership(
            "mbr_1", "mch_1", "ptn_1", BUYER, "pln_1", "Monthly", status, 3000, percent, cap, 0,
            start, start + timedelta(days=30), start + timedelta(days=37), start))
        return "mbr_1"

    def savings(self) -> int:
        return self.members.memberships["mbr_1"].savings_fen

    def payment(self, out_trade_no: str = "o1") -> Any:
        p, _ = self.repo.load_payment("mch_1", out_trade_no)
        assert p is not None
        return p


@pytest.fixture
def w() -> World:
    return World()


def code_of(exc: pytest.ExceptionInfo[AppError]) -> str | None:
    return exc.value.code


# ---------------------------------------------------------------- payments


def test_a_payment_is_recorded_once_and_a_repeat_is_a_duplicate(w: World) -> None:
    first = w.pay(amount=1234)
    assert first["duplicate"] is False and first["member_savings_fen"] == 0
    again = w.pay(amount=1234)
    assert again == {"payment_id": first["payment_id"], "duplicate": True, "member_savings_fen": 0}
    day = w.dashboard()["day"]
    assert (day["gmv_fen"], day["payments"], day["customers"]) == (1234, 1, 1)
    # both are logged; the duplicate in the same write that claims its nonce
    assert [(e.written, e.outcome, e.status) for e in w.logs[:2]] == [(True, "recorded", 200), (True, "duplicate", 200)]


def test_the_same_out_trade_no_with_other_content_is_a_conflict(w: World) -> None:
    w.pay(amount=1000)
    with pytest.raises(Conflict) as e:
        w.pay(amount=999, nonce="n-conflict")
    assert code_of(e) == "payment_conflict"
    assert w.payment().amount_fen == 1000
    with pytest.raises(Unauthorized) as e2:  # the refused request still used its nonce
        w.pay(amount=1000, nonce="n-conflict")
    assert code_of(e2) == "replayed_nonce"


def test_paid_at_may_be_at_most_300_s_ahead_of_the_business_clock(w: World) -> None:
    assert w.pay("o-edge", paid_at=T0 + timedelta(seconds=300))["duplicate"] is False
    with pytest.raises(Invalid) as e:
        w.pay("o-late", paid_at=T0 + timedelta(seconds=301))
    assert code_of(e) == "paid_at_in_future"
    assert w.repo.load_payment("mch_1", "o-late") == (None, {})
    w.clock.advance(1)  # the business clock, not the wall clock, decides
    assert w.pay("o-late", paid_at=T0 + timedelta(seconds=301))["duplicate"] is False


def test_a_replayed_nonce_or_a_revoked_terminal_is_401_and_records_nothing(w: World) -> None:
    w.pay("o1", nonce="n1")
    with pytest.raises(Unauthorized) as e:
        w.pay("o2", nonce="n1")
    assert code_of(e) == "replayed_nonce"
    with pytest.raises(Invalid):
        w.pay("o3", nonce="n3", paid_at=T0 + timedelta(hours=1))
    with pytest.raises(Unauthorized) as e:  # a 4xx before the transaction still claims the nonce
        w.pay("o3", nonce="n3")
    assert code_of(e) == "replayed_nonce"
    w.onboarding_repo.revoke_terminal("tml_1", T0)
    with pytest.raises(Unauthorized) as e:
        w.pay("o4")
    assert code_of(e) == "terminal_revoked"
    with pytest.raises(Unauthorized) as e:  # a duplicate from a revoked terminal too
        w.pay("o1")
    assert code_of(e) == "terminal_revoked"
    assert w.dashboard()["day"]["payments"] == 1


# ---------------------------------------------------------------- refunds


def test_refund_rules_and_codes(w: World) -> None:
    with pytest.raises(NotFound) as nf:
        w.refund(100, out_trade_no="o-none")
    assert code_of(nf) == "payment_not_found"
    w.pay(amount=1000)
    r1 = w.refund(300, "r1")
    assert r1["duplicate"] is False and r1["refunded_total_fen"] == 300
    assert r1["refund_id"].startswith("ref_")
    assert w.refund(200, "r2")["refunded_total_fen"] == 500
    replay = w.refund(300, "r1")  # a replay answers the CURRENT refunded total
    assert replay == {"refund_id": r1["refund_id"], "duplicate": True, "refunded_total_fen": 500}
    with pytest.raises(Conflict) as c:
        w.refund(301, "r1")
    assert code_of(c) == "refund_conflict"
    with pytest.raises(Conflict) as over:
        w.refund(501, "r3")
    assert code_of(over) == "refund_exceeds_payment"
    assert w.refund(500, "r3")["refunded_total_fen"] == 1000
    with pytest.raises(Conflict) as over:
        w.refund(1, "r4")
    assert code_of(over) == "refund_exceeds_payment"
    assert w.payment().refunded_fen == 1000
    assert w.dashboard()["day"]["refunds_fen"] == 1000


def test_a_refund_that_loses_a_race_reads_again_and_applies_to_the_new_total(w: World) -> None:
    w.pay(amount=1000)
    real_load = w.repo.load_payment
    raced = []

    def load_then_race(merchant_id: str, out_trade_no: str) -> Any:
        read = real_load(merchant_id, out_trade_no)
        if not raced:  # another refund commits between this read and the transaction
            raced.append(True)
            w.refund(600, "r-other")
        return read

    w.repo.load_payment = load_then_race  # type: ignore[method-assign]
    with pytest.raises(Conflict) as e:
        w.refund(600, "r-mine")
    assert code_of(e) == "refund_exceeds_payment"
    assert w.refund(400, "r-mine")["refunded_total_fen"] == 1000


# ---------------------------------------------------------------- business days


def test_a_payment_counts_on_its_shanghai_day_and_a_refund_on_the_day_it_is_recorded(w: World) -> None:
    late = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # 07:30 on 11 March in Shanghai
    w.clock.set(late + timedelta(minutes=1))
    w.pay(amount=1000, paid_at=late)
    assert w.dashboard()["date"] == "2026-03-11"
    assert w.dashboard("2026-03-10")["day"]["payments"] == 0
    assert w.dashboard("2026-03-11")["day"]["gmv_fen"] == 1000
    w.clock.set(datetime(2026, 3, 31, 16, 30, tzinfo=UTC))  # 00:30 on 1 April in Shanghai
    w.refund(400)
    april = w.dashboard()
    assert april["date"] == "2026-04-01"
    assert april["day"] == {"gmv_fen": -400, "payments": 0, "refunds_fen": 400, "customers": 0}
    assert april["month"]["refunds_fen"] == 400
    march = w.dashboard("2026-03-11")
    assert march["day"] == {"gmv_fen": 1000, "payments": 1, "refunds_fen": 0, "customers": 1}
    assert march["month"]["gmv_fen"] == 1000
    with pytest.raises(Invalid) as e:
        w.dashboard("2026-3-1")
    assert code_of(e) == "invalid_date"


# ---------------------------------------------------------------- member savings


def test_member_savings_are_counted_within_the_allowance(w: World) -> None:
    w.member(percent=10)
    r = w.pay("o1", amount=900, discount_fen=100)  # 10 % of 1000
    assert r["member_savings_fen"] == 100
    assert w.savings() == 100
    assert w.repo.flags[payment_pk("mch_1", "o1")] == ()
    assert w.dashboard()["members"] == {"active": 1, "locked_fees_fen": 3000, "savings_fen": 100}


def test_a_discount_over_the_allowance_or_without_membership_is_flagged_not_counted(w: World) -> None:
    assert w.pay("o1", amount=900, discount_fen=100)["member_savings_fen"] == 0
    assert w.repo.flags[payment_pk("mch_1", "o1")] == (FLAG_NOT_ENTITLED,)
    w.member(percent=10)
    assert w.pay("o2", amount=900, discount_fen=101)["member_savings_fen"] == 0  # allowance of 1001 is 100
    assert w.repo.flags[payment_pk("mch_1", "o2")] == (FLAG_OVER_ALLOWANCE,)
    assert w.savings() == 0
    assert w.dashboard()["day"]["gmv_fen"] == 1800


def test_a_membership_closed_meanwhile_records_the_payment_flagged_without_savings(w: World) -> None:
    w.member(percent=10)
    real_membership_at = w.member_savings.membership_at

    def read_then_close(merchant_id: str, buyer_id: str, at: datetime) -> MembershipTerms | None:
        terms = real_membership_at(merchant_id, buyer_id, at)
        from dataclasses import replace

        w.members.add_membership(replace(w.members.memberships["mbr_1"], status=REFUNDED))
        return terms

    w.member_savings.membership_at = read_then_close  # type: ignore[method-assign]
    r = w.pay("o1", amount=900, discount_fen=100)
    assert r["duplicate"] is False and r["member_savings_fen"] == 0
    assert w.repo.flags[payment_pk("mch_1", "o1")] == (FLAG_MEMBERSHIP_CLOSED,)
    assert w.payment().membership_id is None
    assert w.savings() == 0


def test_refunds_reverse_savings_in_proportion(w: World) -> None:
    w.member(percent=10)
    w.pay(amount=900, discount_fen=100)
    w.refund(300, "r1")
    assert w.savings() == 100 - 33  # floor(100 × 300 / 900)
    w.refund(1, "r2")
    assert w.savings() == 100 - 33  # floor(100 × 301 / 900) is still 33
    w.refund(599, "r3")
    assert w.savings() == 0 and w.payment().savings_reversed_fen == 100


def test_savings_are_frozen_once_the_membership_is_closed(w: World) -> None:
    from dataclasses import replace

    w.member(percent=10)
    w.pay(amount=900, discount_fen=100)
    w.members.add_membership(replace(w.members.memberships["mbr_1"], status=REFUNDED))
    assert w.refund(900)["refunded_total_fen"] == 900
    assert w.savings() == 100 and w.payment().savings_reversed_fen == 0


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 100), st.lists(st.integers(1, 5000), min_size=1, max_size=6))
def test_reversed_savings_always_follow_the_refunded_share(amount: int, percent: int, refunds: list[int]) -> None:
    w = World()
    w.member(percent=100)
    discount = amount * percent // 100
    saved = w.pay(amount=amount, discount_fen=discount)["member_savings_fen"]
    assert saved == discount
    total = 0
    for i, fen in enumerate(refunds):
        if total + fen > amount:
            with pytest.raises(Conflict):
                w.refund(fen, f"r{i}")
            continue
        total += fen
        assert w.refund(fen, f"r{i}")["refunded_total_fen"] == total
        assert w.payment().savings_reversed_fen == cumulative_reversal(saved, total, amount)
        assert w.savings() == saved - cumulative_reversal(saved, total, amount)
    if total == amount:
        assert w.savings() == 0


# ---------------------------------------------------------------- callback log


def test_the_recording_transaction_logs_the_callback(w: World) -> None:
    w.pay("o1")
    w.clock.advance(1)  # the log sorts by the time received (a fixed clock would tie)
    w.refund(100, "r1", "o1")
    logged = w.figures.callbacks(ADMIN, "mch_1", {})["callbacks"]
    assert [(c["path"], c["outcome"], c["out_trade_no"], c["status"]) for c in logged] == [
        ("/v1/terminal/refunds", "recorded", "o1", 200), ("/v1/terminal/payments", "recorded", "o1", 200)]

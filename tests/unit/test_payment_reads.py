"""`PaymentReads` on fakes: query parsing, the day a query resolves to, cursors bound to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.auth import Principal
from chalicelib.clock import FixedClock
from chalicelib.cursors import CursorSigner
from chalicelib.errors import AppError, NotFound
from chalicelib.ids import new_id
from chalicelib.onboarding.domain import Merchant
from chalicelib.payments.domain import PaymentFacts
from chalicelib.payments.ports import NewPayment
from chalicelib.payments.reading import PaymentReads, parse_limit
from tests.fakes.memberships import FakeMemberSavings, InMemoryMembershipRepository
from tests.fakes.onboarding import FakeTerminalGuards, InMemoryOnboardingRepository
from tests.fakes.payments import FakePaymentReads, InMemoryPaymentsRepository

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # 23:30 on 2026-03-10 in Shanghai
ADMIN = Principal("admin-1", "admin")
MERCHANT = Principal("m-1", "merchant", merchant_id="mch_1")


class Merchants:
    """The one merchant `mch_1` of partner `ptn_1`, with onboarding's viewer rule."""

    def merchant_for(self, who: Principal, merchant_id: str) -> Merchant:
        if merchant_id != "mch_1":
            raise NotFound("no merchant", code="merchant_not_found")
        who.require_merchant("mch_1", "ptn_1")
        return Merchant("mch_1", "ptn_1", "Noodles", "restaurant", NOW)

    def merchant_by_seller(self, seller_id: str) -> Merchant | None:
        return None


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(NOW)
        self.repo = InMemoryPaymentsRepository(FakeTerminalGuards(InMemoryOnboardingRepository()),
                                               FakeMemberSavings(InMemoryMembershipRepository()))
        self.reads = PaymentReads(FakePaymentReads(self.repo), Merchants(), self.clock, TZ, CursorSigner("s" * 40))

    def pay(self, paid_at: datetime) -> str:
        otn = new_id("o")
        f = PaymentFacts("mch_1", "ptn_1", "terminal", otn, 100, "2088000000000001", paid_at)
        day = paid_at.astimezone(TZ).date().isoformat()
        assert self.repo.record_payment(NewPayment(f, new_id("pay"), day, 0, None, (), paid_at), None, None, None).ok
        return otn


@pytest.fixture
def w() -> World:
    return World()


def error(fn: object, *args: object) -> tuple[int, str]:
    with pytest.raises(AppError) as e:
        fn(*args)  # type: ignore[operator]
    return e.value.status, e.value.code


@pytest.mark.parametrize("text", ["0", "201", "-1", "+5", " 5", "5 ", "²", "٣", "５", "1e2", "", "9" * 40, "0x10"])
def test_a_limit_is_1_to_200_in_ascii_digits(text: str) -> None:
    assert error(parse_limit, text) == (422, "invalid_value")


def test_a_limit_defaults_to_50() -> None:
    assert (parse_limit(None), parse_limit("1"), parse_limit("200"), parse_limit("007")) == (50, 1, 200, 7)


@pytest.mark.parametrize("text", ["2026-3-10", "2026-02-30", "１２３４-01-01", "", "today", "0001-01-01",
                                  "9999-12-31", "2026-03-10T00:00"])
def test_a_bad_date_is_invalid_date(w: World, text: str) -> None:
    assert error(w.reads.day, ADMIN, "mch_1", {"date": text}) == (422, "invalid_date")


def test_the_day_defaults_to_today_in_the_business_time_zone(w: World) -> None:
    today = w.pay(NOW - timedelta(minutes=30))  # 23:00 Shanghai, 2026-03-10
    w.pay(NOW + timedelta(minutes=31))  # 00:01 Shanghai, the next day
    w.pay(datetime(2026, 3, 9, 15, 59, tzinfo=UTC))  # 23:59 Shanghai, the day before
    got = w.reads.day(ADMIN, "mch_1", {})
    assert [p["out_trade_no"] for p in got["payments"]] == [today] and got["next_cursor"] is None
    assert w.reads.day(ADMIN, "mch_1", {"date": "2026-03-10"}) == got


def test_a_cursor_for_a_defaulted_day_is_refused_once_today_is_another_day(w: World) -> None:
    for minutes in (10, 20):
        w.pay(NOW - timedelta(minutes=minutes))
    first = w.reads.day(MERCHANT, "mch_1", {"limit": "1"})
    cursor = first["next_cursor"]
    assert cursor
    second = w.reads.day(MERCHANT, "mch_1", {"limit": "1", "cursor": cursor})
    assert second["payments"] != first["payments"] and second["next_cursor"] is None
    assert w.reads.day(MERCHANT, "mch_1", {"cursor": cursor, "date": "2026-03-10", "limit": "5"}) == second
    w.clock.advance(3600)  # 00:30 on 2026-03-11 in Shanghai
    assert error(w.reads.day, MERCHANT, "mch_1", {"limit": "1", "cursor": cursor}) == (400, "invalid_cursor")
    assert error(w.reads.day, ADMIN, "mch_1", {"date": "2026-03-10", "cursor": cursor}) == (400, "invalid_cursor")


def test_viewers_and_unknown_payments(w: World) -> None:
    otn = w.pay(NOW)
    assert w.reads.one(MERCHANT, "mch_1", otn)["out_trade_no"] == otn
    assert error(w.reads.one, Principal("m-2", "merchant", merchant_id="mch_2"), "mch_1", otn) == (
        403, "forbidden_tenant")
    assert error(w.reads.one, ADMIN, "mch_2", otn) == (404, "merchant_not_found")
    for missing in ("o-missing", "x" * 65, "a#b", "é", "x" * 3000):
        assert error(w.reads.one, ADMIN, "mch_1", missing) == (404, "payment_not_found")

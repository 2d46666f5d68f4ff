"""One contract for `PaymentReadStore`, run against the in-memory fake (`FakePaymentReads`) and
`DynamoPaymentReads` on DynamoDB Local, side by side. Each world records its payments and refunds
through its own payments repository (what the read side must then show) and confirms a payment
its own way (confirmation is the payments area's write, seeded here as its result).

The DynamoDB world writes to the shared tables of the run (`services`): its payments are recorded
through the repository with their aggregates, for merchants of their own, in 2001 — no contest round
and no business day of any other test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.bootstrap import Services
from chalicelib.ids import new_id
from chalicelib.payments.domain import FLAG_NOT_ENTITLED, PaymentFacts, RecordedPayment, business_day
from chalicelib.payments.dynamo_reads import DynamoPaymentReads
from chalicelib.payments.models import PAYMENT_SK, PaymentModel, payment_pk
from chalicelib.payments.ports import (
    NewPayment,
    NewRefund,
    PagePosition,
    PaymentReadStore,
    PaymentsRepository,
    PaymentView,
)
from chalicelib.payments.reading import day_bounds
from tests.fakes.memberships import FakeMemberSavings, InMemoryMembershipRepository
from tests.fakes.onboarding import FakeTerminalGuards, InMemoryOnboardingRepository
from tests.fakes.payments import FakePaymentReads, InMemoryPaymentsRepository

TZ_NAME = "Asia/Shanghai"
DAY = date(2001, 3, 10)
Confirm = Callable[[str, str, datetime, datetime], None]


class World:
    def __init__(self, repo: PaymentsRepository, reads: PaymentReadStore, confirm: Confirm, tz: Any) -> None:
        self.repo = repo
        self.reads = reads
        self.confirm = confirm  # (merchant, out_trade_no, confirmed_at, platform_paid_at): as confirmation leaves it
        self.tz = tz


def _fake_world(tz: Any) -> World:
    repo = InMemoryPaymentsRepository(FakeTerminalGuards(InMemoryOnboardingRepository()),
                                      FakeMemberSavings(InMemoryMembershipRepository()))

    def confirm(merchant_id: str, out_trade_no: str, at: datetime, platform_paid_at: datetime) -> None:
        pk = payment_pk(merchant_id, out_trade_no)
        p: RecordedPayment = repo.payments[pk]
        repo.payments[pk] = replace(p, channels=(p.source, "alipay"), confirmed_at=at,
                                    platform_paid_at=platform_paid_at, platform_amount_fen=p.amount_fen)

    return World(repo, FakePaymentReads(repo), confirm, tz)


def _dynamo_world(services: Services) -> World:
    def confirm(merchant_id: str, out_trade_no: str, at: datetime, platform_paid_at: datetime) -> None:
        item = PaymentModel.get(payment_pk(merchant_id, out_trade_no), PAYMENT_SK, consistent_read=True)
        item.update(actions=[PaymentModel.channels.set([item.source, "alipay"]), PaymentModel.confirmed_at.set(at),
                             PaymentModel.platform_paid_at.set(platform_paid_at),
                             PaymentModel.platform_amount_fen.set(item.amount_fen)])

    return World(services.payments_repo, DynamoPaymentReads(), confirm, services.config.tz)


@pytest.fixture(params=["fake", "dynamodb"])
def world(request: pytest.FixtureRequest) -> World:
    if request.param == "fake":
        return _fake_world(ZoneInfo(TZ_NAME))
    return _dynamo_world(request.getfixturevalue("services"))


# ---------------------------------------------------------------- builders


def mid() -> str:
    return new_id("mch")


def pay(world: World, merchant_id: str, paid_at: datetime, *, out_trade_no: str | None = None, amount: int = 1000,
        discount: int = 0, trade_no: str | None = None, flags: tuple[str, ...] = ()) -> NewPayment:
    f = PaymentFacts(merchant_id=merchant_id, partner_id="ptn_reads", source="terminal",
                     out_trade_no=out_trade_no or new_id("o"), amount_fen=amount, buyer_id="2088000000000001",
                     paid_at=paid_at, discount_fen=discount, trade_no=trade_no, store_id="sto_1")
    new = NewPayment(f, new_id("pay"), business_day(paid_at, world.tz), 0, None, flags, paid_at + timedelta(seconds=1))
    assert world.repo.record_payment(new, None, None, None).ok
    return new


def refund(world: World, new: NewPayment, amount: int) -> None:
    p, _ = world.repo.load_payment(new.facts.merchant_id, new.facts.out_trade_no)
    assert p is not None
    key = new_id("r")
    at = new.facts.paid_at + timedelta(hours=1)
    r = NewRefund(p, f"REF#terminal#{key}", new_id("ref"), key, "terminal", amount, at, business_day(at, world.tz), 0)
    assert world.repo.record_refund(r, None, None, None).ok


def bounds(world: World, day: date = DAY) -> tuple[datetime, datetime]:
    return day_bounds(day, world.tz)


def walk(world: World, merchant_id: str, limit: int, day: date = DAY) -> list[list[str]]:
    """Every page of the day, following the last payment of each, as out_trade_nos."""
    pages: list[list[str]] = []
    after: PagePosition | None = None
    while True:
        page = world.reads.day_page(merchant_id, *bounds(world, day), limit, after)
        assert len(page.payments) <= limit
        pages.append([p.out_trade_no for p in page.payments])
        if not page.more:
            return pages
        assert len(page.payments) == limit  # a page that says more follow is full
        last = page.payments[-1]
        after = PagePosition(last.paid_at, last.out_trade_no)
        assert len(pages) < 100


# ---------------------------------------------------------------- one payment


def test_a_payment_reads_as_recorded_with_its_refunds(world: World) -> None:
    m = mid()
    at = bounds(world)[0] + timedelta(hours=3, microseconds=250)
    new = pay(world, m, at, amount=900, discount=100, trade_no="2001031022001", flags=(FLAG_NOT_ENTITLED,))
    refund(world, new, 300)
    refund(world, new, 200)
    got = world.reads.payment(m, new.facts.out_trade_no)
    assert got == PaymentView(
        payment_id=new.payment_id, merchant_id=m, out_trade_no=new.facts.out_trade_no, trade_no="2001031022001",
        amount_fen=900, discount_fen=100, buyer_id="2088000000000001", paid_at=at, platform_paid_at=None,
        refunded_fen=500, member_savings_fen=0, savings_reversed_fen=0, channels=("terminal",), confirmed_at=None,
        flags=(FLAG_NOT_ENTITLED,))
    assert got is not None and got.paid_at.utcoffset() == timedelta(0)
    assert world.reads.payment(m, "o-missing") is None
    assert world.reads.payment(mid(), new.facts.out_trade_no) is None  # another merchant's number


def test_a_confirmed_payment_shows_its_channels_and_the_platform_time(world: World) -> None:
    m = mid()
    at = bounds(world)[0] + timedelta(hours=5)
    new = pay(world, m, at)
    confirmed_at, platform_at = at + timedelta(seconds=40), at + timedelta(seconds=3)
    world.confirm(m, new.facts.out_trade_no, confirmed_at, platform_at)
    got = world.reads.payment(m, new.facts.out_trade_no)
    assert got is not None
    assert (got.channels, got.confirmed_at, got.platform_paid_at, got.paid_at) == (
        ("terminal", "alipay"), confirmed_at, platform_at, at)
    assert got.trade_no is None and got.flags == ()


# ---------------------------------------------------------------- a business day


def test_a_day_is_its_payments_in_the_business_time_zone_latest_first(world: World) -> None:
    m = mid()
    since, until = bounds(world)
    assert (since, until) == (datetime(2001, 3, 9, 16, tzinfo=UTC), datetime(2001, 3, 10, 16, tzinfo=UTC))
    tick = timedelta(microseconds=1)
    first = pay(world, m, since)  # 00:00:00.000000 in Shanghai
    last = pay(world, m, until - tick)  # 23:59:59.999999
    middle = pay(world, m, since + timedelta(hours=12))
    pay(world, m, since - tick)  # the day before
    pay(world, m, until)  # the day after
    pay(world, mid(), since + timedelta(hours=1))  # another merchant
    page = world.reads.day_page(m, since, until, 50, None)
    assert [p.out_trade_no for p in page.payments] == [n.facts.out_trade_no for n in (last, middle, first)]
    assert not page.more
    assert world.reads.day_page(m, *bounds(world, DAY + timedelta(days=1)), 50, None).payments[0].paid_at == until
    assert world.reads.day_page(mid(), since, until, 50, None).payments == ()


def test_pages_visit_every_payment_once_with_refunds_interleaved(world: World) -> None:
    m = mid()
    since = bounds(world)[0]
    made = [pay(world, m, since + timedelta(minutes=10 * i)) for i in range(9)]
    for i, new in enumerate(made):
        for _ in range(i % 3):  # refund items sit at their payment's paid_at in the index
            refund(world, new, 100)
    newest_first = [n.facts.out_trade_no for n in reversed(made)]
    for limit in (1, 2, 3, 4, 8, 9, 10, 200):
        pages = walk(world, m, limit)
        assert [o for page in pages for o in page] == newest_first, limit
        assert len(pages) == max(1, -(-len(made) // limit)), limit  # no empty last page
    one = world.reads.day_page(m, *bounds(world), 9, None)
    assert not one.more and all(isinstance(p, PaymentView) for p in one.payments)


def test_refunds_never_fill_a_page(world: World) -> None:
    """A payment with many refunds ahead of the rest: DynamoDB's Limit counts the refund items it
    reads before the filter drops them, so the read goes on until the page is full."""
    m = mid()
    since = bounds(world)[0]
    older = pay(world, m, since + timedelta(hours=1))
    newer = pay(world, m, since + timedelta(hours=2), amount=5000)
    for _ in range(6):
        refund(world, newer, 100)
    page = world.reads.day_page(m, *bounds(world), 2, None)
    assert [p.out_trade_no for p in page.payments] == [newer.facts.out_trade_no, older.facts.out_trade_no]
    assert not page.more
    page = world.reads.day_page(m, *bounds(world), 1, None)
    assert [p.out_trade_no for p in page.payments] == [newer.facts.out_trade_no] and page.more


def test_payments_at_the_same_instant_are_each_visited_once(world: World) -> None:
    m = mid()
    at = bounds(world)[0] + timedelta(hours=9)
    same = {pay(world, m, at).facts.out_trade_no for _ in range(5)}
    before = pay(world, m, at - timedelta(seconds=1)).facts.out_trade_no
    after = pay(world, m, at + timedelta(seconds=1)).facts.out_trade_no
    for limit in (1, 2, 3):
        visited = [o for page in walk(world, m, limit) for o in page]
        assert visited[0] == after and visited[-1] == before, limit
        assert len(visited) == 7 and set(visited[1:-1]) == same, limit

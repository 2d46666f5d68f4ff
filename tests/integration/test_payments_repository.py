"""One contract for the payments repository, run against the in-memory fake (what the unit
tests use) and the PynamoDB adapter on DynamoDB Local, so the two cannot drift.

Terminals and memberships belong to other areas: each world seeds them its own way (the fake's
seeding methods; the onboarding repository and the membership table on DynamoDB Local)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import storage
from chalicelib.bootstrap import bootstrap
from chalicelib.clock import OffsetClock
from chalicelib.config import Config
from chalicelib.errors import Unauthorized
from chalicelib.ids import new_id
from chalicelib.memberships.domain import ACTIVE, EXPIRED, REFUNDED, SETTLED, Membership, MembershipTerms
from chalicelib.memberships.models import MembershipModel, member_key
from chalicelib.onboarding.domain import Terminal, TerminalGuard
from chalicelib.payments.domain import (
    FLAG_MEMBERSHIP_CLOSED,
    FLAG_NOT_ENTITLED,
    PaymentFacts,
    PlatformReport,
    RecordedPayment,
)
from chalicelib.payments.dynamo import DynamoPaymentsRepository
from chalicelib.payments.dynamo_history import DynamoPaymentHistory
from chalicelib.payments.models import PAYMENT_SK, PaymentModel, payment_pk
from chalicelib.payments.ports import (
    Aggregate,
    CallbackRecord,
    NewPayment,
    NewRefund,
    PaymentRecord,
    PaymentsRepository,
    SavingsPayment,
    WriteResult,
    received_key,
)
from chalicelib.payments.service import raise_guard_failure
from chalicelib.storage import create_tables
from chalicelib.tables import ALL_MODELS
from tests.fakes.memberships import FakeMemberSavings, InMemoryMembershipRepository
from tests.fakes.onboarding import FakeTerminalGuards, InMemoryOnboardingRepository
from tests.fakes.payments import FakePaymentHistory, InMemoryPaymentsRepository

T0 = datetime(2026, 3, 10, 2, 0, 5, tzinfo=UTC)  # 10:00:05 in Shanghai
D1, D2 = "2026-03-10", "2026-03-11"
# Nonce claims whose expiry must outlive the test: DynamoDB Local's TTL sweeper deletes items whose
# `expires_at` lies in the real past at moments of its own, which made claims at T0 flaky.
LIVE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


class World:
    """A repository with the terminals and memberships it checks."""

    def __init__(self, repo: PaymentsRepository, savings_port: Any, add_terminal: Callable[[str], None],
                 revoke_terminal: Callable[[str], None], add_membership: Callable[[Membership], None],
                 set_status: Callable[[str, str], None], savings: Callable[[str], int],
                 flags: Callable[[str, str], tuple[str, ...]]) -> None:
        self.repo = repo
        self.history: Any = None  # the PaymentHistory other areas read, over the same payments
        self.savings_port = savings_port  # the memberships area's MemberSavings the repository writes through
        self.add_terminal = add_terminal
        self.revoke_terminal = revoke_terminal
        self.add_membership = add_membership
        self.set_status = set_status
        self.savings = savings
        self.flags = flags


def _fake_world() -> World:
    onboarding = InMemoryOnboardingRepository()
    members = InMemoryMembershipRepository()
    savings = FakeMemberSavings(members)
    repo = InMemoryPaymentsRepository(FakeTerminalGuards(onboarding), savings)

    def set_status(mid: str, status: str) -> None:
        members.add_membership(replace(members.memberships[mid], status=status))

    world = World(repo, savings, lambda tid: onboarding.add_terminal(_terminal(tid)),
                  lambda tid: onboarding.revoke_terminal(tid, T0), members.add_membership,
                  set_status, lambda mid: members.memberships[mid].savings_fen,
                  lambda m, otn: repo.flags[payment_pk(m, otn)])
    world.history = FakePaymentHistory(repo)
    return world


def _terminal(tid: str) -> Terminal:
    return Terminal(tid, "mch_x", "ptn_x", "sto_x", "qr", "s" * 43, T0)


def _dynamo_world(services: Any) -> World:
    onboarding = services.onboarding_repo

    def add_terminal(tid: str) -> None:
        onboarding.add_terminal(_terminal(tid))

    def add_membership(m: Membership) -> None:
        MembershipModel(
            m.membership_id, merchant_id=m.merchant_id, partner_id=m.partner_id, customer_id=m.customer_id,
            member_key=member_key(m.merchant_id, m.customer_id), plan_id=m.plan_id, plan_name=m.plan_name,
            status=m.status, fee_fen=m.fee_fen, discount_percent=m.discount_percent,
            max_discount_per_order_fen=m.max_discount_per_order_fen, savings_fen=m.savings_fen,
            starts_at=m.starts_at, ends_at=m.ends_at, refund_deadline=m.refund_deadline, created_at=m.created_at,
        ).save()

    def set_status(mid: str, status: str) -> None:
        MembershipModel(mid).update(actions=[MembershipModel.status.set(status)])

    def savings(mid: str) -> int:
        return int(MembershipModel.get(mid, consistent_read=True).savings_fen)

    def flags(m: str, otn: str) -> tuple[str, ...]:
        return tuple(PaymentModel.get(payment_pk(m, otn), PAYMENT_SK, consistent_read=True).flags or ())

    repo = services.payments_repo
    assert isinstance(repo, DynamoPaymentsRepository)
    world = World(repo, services.payments.savings, add_terminal, lambda tid: onboarding.revoke_terminal(tid, T0),
                  add_membership, set_status, savings, flags)
    world.history = DynamoPaymentHistory()
    return world


@pytest.fixture(scope="module")
def own_tables(test_config: Config) -> Config:
    """This suite seeds memberships and terminals directly (no fee ledger), which the audit of
    the shared tables would rightly flag: it gets tables of its own."""
    config = dataclasses.replace(test_config, table_prefix=f"{test_config.table_prefix}repo-")
    storage.bind(config, ALL_MODELS, rebind=True)  # these tables, for a moment
    create_tables(ALL_MODELS)
    storage.bind(test_config, ALL_MODELS, rebind=True)
    return config


@pytest.fixture(params=["fake", "dynamodb"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "fake":
        yield _fake_world()
        return
    test_config: Config = request.getfixturevalue("test_config")
    services = bootstrap(request.getfixturevalue("own_tables"), clock=OffsetClock(), rebind_tables=True)
    try:
        yield _dynamo_world(services)
    finally:
        storage.bind(test_config, ALL_MODELS, rebind=True)  # back to the shared tables


@pytest.fixture
def repo(world: World) -> PaymentsRepository:
    return world.repo


# ---------------------------------------------------------------- builders


def facts(merchant_id: str, out_trade_no: str | None = None, *, amount: int = 1000, buyer: str = "2088000000000001",
          paid_at: datetime = T0, discount: int = 0, terminal_id: str | None = None) -> PaymentFacts:
    return PaymentFacts(merchant_id=merchant_id, partner_id="ptn_1", source="terminal",
                        out_trade_no=out_trade_no or new_id("o"), amount_fen=amount, buyer_id=buyer,
                        paid_at=paid_at, discount_fen=discount, store_id="sto_1", terminal_id=terminal_id)


def new_payment(f: PaymentFacts, *, day: str = D1, savings: int = 0, membership_id: str | None = None,
                flags: tuple[str, ...] = ()) -> NewPayment:
    return NewPayment(f, new_id("pay"), day, savings, membership_id, flags, T0 + timedelta(seconds=1))


def recorded(new: NewPayment, **over: Any) -> RecordedPayment:
    f = new.facts
    return replace(RecordedPayment(
        payment_id=new.payment_id, merchant_id=f.merchant_id, partner_id=f.partner_id,
        out_trade_no=f.out_trade_no, source=f.source, content_hash=f.content_hash, amount_fen=f.amount_fen,
        buyer_id=f.buyer_id, paid_at=f.paid_at, member_savings_fen=new.member_savings_fen,
        membership_id=new.membership_id, channels=(f.source,)), **over)


def new_refund(p: RecordedPayment, amount: int, *, key: str | None = None, day: str = D2,
               reversed_fen: int = 0) -> NewRefund:
    key = key or new_id("r")
    return NewRefund(p, f"REF#terminal#{key}", new_id("ref"), key, "terminal", amount,
                     T0 + timedelta(days=1), day, reversed_fen)


def load(repo: PaymentsRepository, new: NewPayment) -> tuple[RecordedPayment | None, dict[str, int]]:
    return repo.load_payment(new.facts.merchant_id, new.facts.out_trade_no)


def current(repo: PaymentsRepository, new: NewPayment) -> RecordedPayment:
    p, _ = load(repo, new)
    assert p is not None
    return p


def membership(merchant_id: str, customer: str = "2088000000000001", *, status: str = ACTIVE,
               starts_at: datetime = T0 - timedelta(days=1), days: int = 30, fee: int = 3000) -> Membership:
    return Membership(new_id("mbr"), merchant_id, "ptn_1", customer, "pln_1", "Monthly", status, fee, 10, None, 0,
                      starts_at, starts_at + timedelta(days=days), starts_at + timedelta(days=days + 7),
                      starts_at)


def entry(merchant_id: str | None, at: datetime = T0, **over: Any) -> CallbackRecord:
    e = CallbackRecord("terminal", "/v1/terminal/payments", received_key(at, new_id("r")[-8:]), '{"a":1}', 7,
                       {"content-type": "application/json"}, status=200, outcome="recorded",
                       merchant_id=merchant_id, terminal_id="tml_1")
    return replace(e, **over)


def claim(repo: PaymentsRepository, guard: TerminalGuard) -> None:
    """Claim a nonce on its own, as the service does: 401 if it cannot be claimed."""
    raise_guard_failure(repo.claim_guard(guard, None))


def logged_keys(repo: PaymentsRepository, log_key: str) -> list[str]:
    return [c["received"] for c in repo.callbacks(log_key)]


def mid() -> str:
    return new_id("mch")


# ---------------------------------------------------------------- payments


def test_a_new_payment_is_recorded_with_its_day_and_month_aggregates(repo: PaymentsRepository) -> None:
    m = mid()
    new = new_payment(facts(m, amount=1234))
    assert repo.record_payment(new, None, None, None) == WriteResult(True)
    assert load(repo, new) == (recorded(new), {})
    assert repo.day_figures(m, D1) == Aggregate(1234, 1, 0, 1)
    assert repo.month_figures(m, "2026-03") == Aggregate(1234, 1, 0, 1)
    assert repo.day_figures(m, D2) == Aggregate()
    assert repo.load_payment(m, "o_missing") == (None, {})


def test_a_taken_key_fails_with_the_recorded_payment_and_writes_nothing(repo: PaymentsRepository) -> None:
    m = mid()
    first = new_payment(facts(m, amount=1000))
    first_log = entry(m)
    assert repo.record_payment(first, None, first_log, None).ok
    assert first_log.received in logged_keys(repo, m)
    again = new_payment(replace(first.facts, amount_fen=999, buyer_id="2088000000000002"), day=D2)
    again_log = entry(m, outcome="other")
    result = repo.record_payment(again, None, again_log, None)
    assert not result.ok
    assert result.failed == {"payment"}
    assert result.existing == recorded(first)
    assert again_log.received not in logged_keys(repo, m)
    assert load(repo, first) == (recorded(first), {})
    assert repo.day_figures(m, D1) == Aggregate(1000, 1, 0, 1)
    assert repo.day_figures(m, D2) == Aggregate()
    assert [c["outcome"] for c in repo.callbacks(m)] == ["recorded"]


def test_customers_are_counted_once_per_day_and_per_month(repo: PaymentsRepository) -> None:
    m = mid()
    a, b = "2088000000000001", "2088000000000002"
    for buyer, day in ((a, D1), (a, D1), (a, D2), (b, D2)):
        assert repo.record_payment(new_payment(facts(m, amount=100, buyer=buyer), day=day), None, None, None).ok
    assert repo.day_figures(m, D1) == Aggregate(200, 2, 0, 1)
    assert repo.day_figures(m, D2) == Aggregate(200, 2, 0, 2)
    assert repo.month_figures(m, "2026-03") == Aggregate(400, 4, 0, 2)
    assert repo.month_figures(m, "2026-04") == Aggregate()


def test_concurrent_recordings_of_one_payment_let_exactly_one_through(repo: PaymentsRepository) -> None:
    m = mid()
    f = facts(m)
    n = 8
    barrier = threading.Barrier(n)
    results: list[tuple[NewPayment, WriteResult]] = []
    lock = threading.Lock()

    def record() -> None:
        new = new_payment(f)
        barrier.wait()
        r = repo.record_payment(new, None, None, None)
        with lock:
            results.append((new, r))

    threads = [threading.Thread(target=record) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [new for new, r in results if r.ok]
    assert len(winners) == 1
    assert all(r.failed == {"payment"} and r.existing == recorded(winners[0]) for _, r in results if not r.ok)
    assert repo.day_figures(m, D1) == Aggregate(1000, 1, 0, 1)


# ---------------------------------------------------------------- terminal guard


def test_a_nonce_is_claimed_once_and_a_replay_writes_nothing(world: World) -> None:
    repo, m, tid = world.repo, mid(), new_id("tml")
    world.add_terminal(tid)
    guard = TerminalGuard(tid, new_id("n"), LIVE)
    first = new_payment(facts(m, terminal_id=tid))
    assert repo.record_payment(first, guard, None, None).ok
    second = new_payment(facts(m, terminal_id=tid))
    result = repo.record_payment(second, guard, None, None)
    assert (result.ok, result.failed) == (False, {"nonce"})
    assert load(repo, second) == (None, {})
    assert repo.day_figures(m, D1).payments == 1
    with pytest.raises(Unauthorized) as e:
        claim(repo, replace(guard, at=LIVE + timedelta(seconds=600, microseconds=900_000)))
    assert e.value.code == "replayed_nonce"
    refund = repo.record_refund(new_refund(current(repo, first), 100), guard, None, None)
    assert (refund.ok, refund.failed) == (False, {"nonce"})
    assert current(repo, first).refunded_fen == 0


def test_claim_guard_alone_and_the_nonce_expires(world: World) -> None:
    repo, tid = world.repo, new_id("tml")
    world.add_terminal(tid)
    guard = TerminalGuard(tid, new_id("n"), LIVE)
    claim(repo, guard)
    with pytest.raises(Unauthorized) as e:
        claim(repo, replace(guard, at=LIVE + timedelta(seconds=600)))
    assert e.value.code == "replayed_nonce"
    claim(repo, replace(guard, terminal_id=tid, nonce=new_id("n")))  # another nonce
    claim(repo, replace(guard, at=LIVE + timedelta(seconds=601)))  # expired (lazy TTL): claimable
    with pytest.raises(Unauthorized):
        claim(repo, replace(guard, at=LIVE + timedelta(seconds=602)))


def test_a_revoked_or_unknown_terminal_fails_and_writes_nothing(world: World) -> None:
    repo, m, tid = world.repo, mid(), new_id("tml")
    world.add_terminal(tid)
    first = new_payment(facts(m, terminal_id=tid))
    assert repo.record_payment(first, TerminalGuard(tid, new_id("n"), T0), None, None).ok
    world.revoke_terminal(tid)
    late = new_payment(facts(m, terminal_id=tid))
    result = repo.record_payment(late, TerminalGuard(tid, new_id("n"), T0), None, None)
    assert (result.ok, result.failed) == (False, {"terminal"})
    assert load(repo, late) == (None, {})
    with pytest.raises(Unauthorized) as e:
        claim(repo, TerminalGuard(tid, new_id("n"), T0))
    assert e.value.code == "terminal_revoked"
    # every failed condition is reported: the revocation and the taken key together
    dup = repo.record_payment(new_payment(first.facts), TerminalGuard(tid, new_id("n"), T0), None, None)
    assert dup.failed == {"terminal", "payment"} and dup.existing == recorded(first)
    refund = repo.record_refund(new_refund(current(repo, first), 10), TerminalGuard(tid, new_id("n"), T0), None, None)
    assert (refund.ok, refund.failed) == (False, {"terminal"})
    unknown = new_id("tml")
    result = repo.record_payment(new_payment(facts(m)), TerminalGuard(unknown, new_id("n"), T0), None, None)
    assert result.failed == {"terminal"}
    assert repo.day_figures(m, D1) == Aggregate(1000, 1, 0, 1)


# ---------------------------------------------------------------- refunds


def test_a_refund_moves_the_payment_and_the_aggregates_of_its_own_day(repo: PaymentsRepository) -> None:
    m = mid()
    new = new_payment(facts(m, amount=1000))
    assert repo.record_payment(new, None, None, None).ok
    r = new_refund(current(repo, new), 300, day=D2)
    assert repo.record_refund(r, None, None, None) == WriteResult(True)
    assert load(repo, new) == (recorded(new, refunded_fen=300), {r.refund_sk: 300})
    assert repo.day_figures(m, D1) == Aggregate(1000, 1, 0, 1)
    assert repo.day_figures(m, D2) == Aggregate(-300, 0, 300, 0)
    assert repo.month_figures(m, "2026-03") == Aggregate(700, 1, 300, 1)


def test_refunds_add_up_to_the_refunded_total_up_to_the_whole_amount(repo: PaymentsRepository) -> None:
    m = mid()
    new = new_payment(facts(m, amount=1000))
    assert repo.record_payment(new, None, None, None).ok
    a = new_refund(current(repo, new), 300)
    assert repo.record_refund(a, None, None, None).ok
    b = new_refund(current(repo, new), 700)
    assert repo.record_refund(b, None, None, None).ok
    assert load(repo, new) == (recorded(new, refunded_fen=1000), {a.refund_sk: 300, b.refund_sk: 700})
    assert repo.month_figures(m, "2026-03") == Aggregate(0, 1, 1000, 1)


def test_a_refund_is_conditional_on_the_refunded_total_read(repo: PaymentsRepository) -> None:
    m = mid()
    new = new_payment(facts(m, amount=1000))
    assert repo.record_payment(new, None, None, None).ok
    read = current(repo, new)
    assert repo.record_refund(new_refund(read, 600), None, None, None).ok
    stale = repo.record_refund(new_refund(read, 600), None, None, None)  # raced: the total moved
    assert (stale.ok, stale.failed, stale.existing) == (False, {"payment"}, None)
    assert current(repo, new).refunded_fen == 600
    assert repo.day_figures(m, D2) == Aggregate(-600, 0, 600, 0)


def test_a_refund_key_is_used_once(repo: PaymentsRepository) -> None:
    m = mid()
    new = new_payment(facts(m, amount=1000))
    assert repo.record_payment(new, None, None, None).ok
    assert repo.record_refund(new_refund(current(repo, new), 100, key="r1"), None, None, None).ok
    again = repo.record_refund(new_refund(current(repo, new), 100, key="r1"), None, None, None)
    assert (again.ok, again.failed) == (False, {"refund"})
    assert load(repo, new)[1] == {"REF#terminal#r1": 100}
    assert current(repo, new).refunded_fen == 100


def test_a_refund_of_an_unrecorded_payment_fails(repo: PaymentsRepository) -> None:
    m = mid()
    ghost = recorded(new_payment(facts(m)))
    result = repo.record_refund(new_refund(ghost, 100), None, None, None)
    assert (result.ok, result.failed) == (False, {"payment"})
    assert repo.load_payment(m, ghost.out_trade_no) == (None, {})
    assert repo.day_figures(m, D2) == Aggregate()


# ---------------------------------------------------------------- memberships


def test_member_savings_are_applied_and_reversed_while_the_membership_is_open(world: World) -> None:
    repo, m = world.repo, mid()
    mem = membership(m)
    world.add_membership(mem)
    new = new_payment(facts(m, amount=900, discount=100), savings=100, membership_id=mem.membership_id)
    assert repo.record_payment(new, None, None, None).ok
    assert world.savings(mem.membership_id) == 100
    r = new_refund(current(repo, new), 450, reversed_fen=50)
    assert repo.record_refund(r, None, None, None).ok
    assert world.savings(mem.membership_id) == 50
    assert current(repo, new) == recorded(new, refunded_fen=450, savings_reversed_fen=50)
    world.set_status(mem.membership_id, EXPIRED)  # expired: savings still move
    new2 = new_payment(facts(m, amount=900, discount=100), savings=100, membership_id=mem.membership_id)
    assert repo.record_payment(new2, None, None, None).ok
    assert world.savings(mem.membership_id) == 150


@pytest.mark.parametrize("status", [REFUNDED, SETTLED])
def test_a_closed_membership_refuses_savings_and_nothing_is_written(world: World, status: str) -> None:
    repo, m = world.repo, mid()
    mem = membership(m)
    world.add_membership(mem)
    paid = new_payment(facts(m, amount=900, discount=100), savings=100, membership_id=mem.membership_id)
    assert repo.record_payment(paid, None, None, None).ok
    world.set_status(mem.membership_id, status)
    new = new_payment(facts(m, amount=900, discount=100), savings=100, membership_id=mem.membership_id)
    result = repo.record_payment(new, None, None, None)
    assert (result.ok, result.failed) == (False, {"membership"})
    assert load(repo, new) == (None, {})
    refund = repo.record_refund(new_refund(current(repo, paid), 900, reversed_fen=100), None, None, None)
    assert (refund.ok, refund.failed) == (False, {"membership"})
    assert world.savings(mem.membership_id) == 100
    assert repo.day_figures(m, D1) == Aggregate(900, 1, 0, 1)
    # the same payment and refund without savings go through (what the service retries with)
    retry = replace(new, member_savings_fen=0, membership_id=None, flags=(FLAG_MEMBERSHIP_CLOSED,))
    assert repo.record_payment(retry, None, None, None).ok
    assert world.flags(m, new.facts.out_trade_no) == (FLAG_MEMBERSHIP_CLOSED,)
    assert world.flags(m, paid.facts.out_trade_no) == ()
    assert repo.record_refund(new_refund(current(repo, paid), 900), None, None, None).ok
    assert world.savings(mem.membership_id) == 100


def test_an_unknown_membership_refuses_savings(repo: PaymentsRepository) -> None:
    m = mid()
    new = new_payment(facts(m, discount=100), savings=100, membership_id=new_id("mbr"))
    result = repo.record_payment(new, None, None, None)
    assert (result.ok, result.failed) == (False, {"membership"})


def test_flags_are_recorded_with_the_payment(world: World) -> None:
    m = mid()
    new = new_payment(facts(m, discount=100), flags=(FLAG_NOT_ENTITLED,))
    assert world.repo.record_payment(new, None, None, None).ok
    assert world.flags(m, new.facts.out_trade_no) == (FLAG_NOT_ENTITLED,)


def test_membership_at_is_the_one_started_last_by_then(world: World) -> None:
    m, buyer = mid(), "2088000000000009"
    old = membership(m, buyer, starts_at=T0 - timedelta(days=40))
    recent = membership(m, buyer, starts_at=T0 - timedelta(days=5), status=REFUNDED)
    for x in (old, recent, membership(mid(), buyer), membership(m, "2088000000000008")):
        world.add_membership(x)
    lookup = world.savings_port.membership_at
    assert lookup(m, buyer, T0 - timedelta(days=41)) is None
    assert lookup(m, buyer, T0 - timedelta(days=10)) == MembershipTerms(
        old.membership_id, ACTIVE, old.starts_at, old.ends_at, 10, None)
    got = lookup(m, buyer, T0)
    assert got is not None and (got.membership_id, got.status) == (recent.membership_id, REFUNDED)


def test_members_summary_counts_memberships_active_now(world: World) -> None:
    repo, m = world.repo, mid()
    active = membership(m, fee=3000)
    world.add_membership(active)
    world.add_membership(membership(m, "2088000000000002", fee=5000, status=EXPIRED))
    world.add_membership(membership(m, "2088000000000003", starts_at=T0 - timedelta(days=31)))  # past its end
    assert repo.record_payment(new_payment(facts(m, discount=100), savings=100, membership_id=active.membership_id),
                               None, None, None).ok
    summary = world.savings_port.summary
    assert summary(m, T0) == {"active": 1, "locked_fees_fen": 3000, "savings_fen": 100}
    assert summary(mid(), T0) == {"active": 0, "locked_fees_fen": 0, "savings_fen": 0}


# ---------------------------------------------------------------- callback log


def test_callback_pages_resume_strictly_before_the_last_received_across_log_keys(
        repo: PaymentsRepository) -> None:
    m, other = mid(), mid()
    made = [entry(m if i % 2 else other, T0 + timedelta(seconds=i), out_trade_no=f"o{i}") for i in range(7)]
    for e in made:
        repo.log_callback(e)
    newest = [e.received for e in reversed(made)]
    seen: list[str] = []
    before: str | None = None
    while True:
        page = repo.callback_page([m, other], 3, before)
        seen += [r.received for r in page.records]
        if not page.more:
            break
        before = page.records[-1].received
    assert seen == newest
    only = repo.callback_page([m], 10, made[5].received)
    assert [r.out_trade_no for r in only.records] == ["o3", "o1"] and not only.more
    assert repo.callback_page([m], 3, None).more is False
    assert repo.callback_page([m], 2, None).more is True


def test_a_day_series_answers_each_day_as_day_figures(repo: PaymentsRepository) -> None:
    m = mid()
    assert repo.record_payment(new_payment(facts(m, amount=1234)), None, None, None).ok
    days = [D1, D2, "2026-03-12"]
    assert repo.day_series(m, days) == [repo.day_figures(m, d) for d in days] == [
        Aggregate(1234, 1, 0, 1), Aggregate(), Aggregate()]
    assert repo.day_series(m, []) == []


def test_the_callback_log_is_newest_first_per_merchant(repo: PaymentsRepository) -> None:
    m = mid()
    for i in range(3):
        e = entry(m, T0 + timedelta(seconds=i), out_trade_no=f"o{i}", code=None if i else "replayed_nonce")
        repo.log_callback(e)
        assert e.received in logged_keys(repo, m)
    logged = repo.callbacks(m)
    assert [c["out_trade_no"] for c in logged] == ["o2", "o1", "o0"]
    assert logged[2] == {"received": logged[2]["received"], "received_at": logged[2]["received"].split("#")[0],
                         "channel": "terminal", "merchant_id": m, "source": "terminal", "path": "/v1/terminal/payments",
                         "status": 200, "code": "replayed_nonce", "outcome": "recorded", "terminal_id": "tml_1",
                         "out_trade_no": "o0", "headers": {"content-type": "application/json"},
                         "body": '{"a":1}', "body_bytes": 7}
    assert logged[0]["received"].startswith("2026-03-10T02:00:07.000000+00:00#")
    assert [c["out_trade_no"] for c in repo.callbacks(m, limit=2)] == ["o2", "o1"]
    # `unknown#alipay` is shared with every other test of the run: log it as the newest
    anonymous = entry(None, datetime.now(UTC) + timedelta(days=1), source="alipay", status=401, outcome="rejected")
    repo.log_callback(anonymous)
    assert anonymous.received in [c["received"] for c in repo.callbacks("unknown#alipay")]
    assert len(repo.callbacks(m)) == 3


def test_a_recording_transaction_logs_its_callback(repo: PaymentsRepository) -> None:
    m = mid()
    new = new_payment(facts(m))
    log = entry(m, new.recorded_at, out_trade_no=new.facts.out_trade_no)
    assert repo.record_payment(new, None, log, None).ok
    r = new_refund(current(repo, new), 10)
    rlog = entry(m, r.recorded_at, path="/v1/terminal/refunds", out_trade_no=new.facts.out_trade_no)
    assert repo.record_refund(r, None, rlog, None).ok
    assert {log.received, rlog.received} <= set(logged_keys(repo, m))
    logged = repo.callbacks(m)
    assert [c["path"] for c in logged] == ["/v1/terminal/refunds", "/v1/terminal/payments"]
    assert logged[1]["received"] == log.received and log.received.startswith("2026-03-10T02:00:06")


# ---------------------------------------------------------------- the read side other areas use


def test_payment_history_reads_what_was_recorded(world: World) -> None:
    repo, history, m = world.repo, world.history, mid()
    buyer, other = "2088000000000011", "2088000000000012"
    early = new_payment(facts(m, "o-early", amount=300, buyer=buyer, paid_at=T0 - timedelta(days=3)))
    small = new_payment(facts(m, "o-small", amount=50, buyer=other, paid_at=T0 - timedelta(days=4)))
    late = new_payment(facts(m, "o-late", amount=900, buyer=buyer, paid_at=T0))
    for new in (early, small, late):
        assert repo.record_payment(new, None, None, None).ok
    assert repo.record_refund(new_refund(current(repo, late), 200), None, None, None).ok

    def record(new: NewPayment, refunded: int = 0) -> PaymentRecord:
        f = new.facts
        return PaymentRecord(m, f.partner_id, f.out_trade_no, f.buyer_id, f.amount_fen, f.paid_at, refunded)

    def by_no(records: list[PaymentRecord]) -> list[PaymentRecord]:
        return sorted(records, key=lambda r: r.out_trade_no)

    week = (T0 - timedelta(days=7), T0 + timedelta(seconds=1))
    assert by_no(history.merchant_payments(m, *week)) == by_no([record(early), record(small), record(late, 200)])
    assert history.merchant_payments(m, T0 - timedelta(days=3), T0) == [record(early)]  # until is exclusive
    assert history.merchant_payments(mid(), *week) == []
    assert by_no(history.buyer_payments(m, buyer, *week)) == by_no([record(early), record(late, 200)])
    assert history.buyer_payments(m, buyer, T0 - timedelta(days=1), T0) == [record(late, 200)]  # until inclusive
    assert history.earliest_qualifying(m, 100) == record(early)
    assert history.earliest_qualifying(m, 1) == record(small)
    assert history.earliest_qualifying(m, 100, before=T0 - timedelta(days=3)) is None
    assert history.earliest_qualifying(m, 10_000) is None
    mine = [r for r in history.payments_between(*week) if r.merchant_id == m]
    assert by_no(mine) == by_no([record(early), record(small), record(late, 200)])
    assert {r.out_trade_no for r in history.all_payments() if r.merchant_id == m} == {"o-early", "o-small", "o-late"}


def test_payment_history_sums_savings_per_membership(world: World) -> None:
    repo, m = world.repo, mid()
    mem = membership(m)
    world.add_membership(mem)
    new = new_payment(facts(m, amount=900, discount=100), savings=100, membership_id=mem.membership_id)
    assert repo.record_payment(new, None, None, None).ok
    assert repo.record_refund(new_refund(current(repo, new), 450, reversed_fen=50), None, None, None).ok
    assert world.history.savings_by_membership()[mem.membership_id] == 50


def _confirm(world: World, merchant_id: str, out_trade_no: str, at: datetime) -> None:
    """Seed what a confirmation leaves on a payment (the confirmation itself is the payments area's write)."""
    pk = payment_pk(merchant_id, out_trade_no)
    if isinstance(world.repo, InMemoryPaymentsRepository):
        world.repo.payments[pk] = replace(world.repo.payments[pk], confirmed_at=at, platform_paid_at=at)
    else:
        PaymentModel(pk, PAYMENT_SK).update(actions=[PaymentModel.confirmed_at.set(at),
                                                     PaymentModel.platform_paid_at.set(at)])


def test_payment_history_lists_the_payments_that_counted_a_memberships_savings(world: World) -> None:
    repo, history, m = world.repo, world.history, mid()
    mem, other = membership(m, starts_at=T0 - timedelta(days=5)), membership(m, "2088000000000002")
    world.add_membership(mem)
    world.add_membership(other)
    first = new_payment(facts(m, "o-first", amount=900, discount=100, paid_at=T0 - timedelta(days=2)),
                        savings=100, membership_id=mem.membership_id)
    second = new_payment(facts(m, "o-second", amount=450, discount=50, paid_at=T0 - timedelta(days=1)),
                         savings=50, membership_id=mem.membership_id)
    plain = new_payment(facts(m, "o-plain", paid_at=T0 - timedelta(days=1)))  # no savings: not in the statement
    theirs = new_payment(facts(m, "o-theirs", amount=900, discount=100, buyer="2088000000000002"),
                         savings=100, membership_id=other.membership_id)
    for new in (second, plain, theirs, first):
        assert repo.record_payment(new, None, None, None).ok
    assert repo.record_refund(new_refund(current(repo, first), 450, reversed_fen=50), None, None, None).ok
    assert repo.record_refund(new_refund(current(repo, second), 450, reversed_fen=50), None, None, None).ok
    _confirm(world, m, "o-second", T0)

    got = history.membership_payments(mem.membership_id)
    assert got == [
        SavingsPayment(first.payment_id, m, "o-first", first.facts.paid_at, 100, 50, confirmed=False),
        SavingsPayment(second.payment_id, m, "o-second", second.facts.paid_at, 50, 0, confirmed=True),
    ]  # oldest first; refund items (which carry the membership too) are not payments
    assert sum(s.savings_fen for s in got) == world.savings(mem.membership_id) == 50
    assert [s.savings_fen for s in history.membership_payments(other.membership_id)] == [100]
    assert history.membership_payments(new_id("mbr")) == []


# ---------------------------------------------------------------- platform reports and confirmation


def report_of(new: NewPayment, *, verified: bool, platform_id: str = "2088000000000777") -> PlatformReport:
    f = new.facts
    return PlatformReport("alipay", platform_id, f.merchant_id, f.out_trade_no, f.amount_fen, f.buyer_id,
                          f.paid_at - timedelta(seconds=30), "2026031022001", verified)


def test_a_platform_reported_payment_is_confirmed_through_a_verified_binding_once(repo: PaymentsRepository) -> None:
    m = mid()
    new = new_payment(replace(facts(m), source="alipay"))
    report = report_of(new, verified=True)
    assert repo.record_payment(new, None, None, None, report).ok
    p = current(repo, new)
    assert p.confirmed and p.platform_paid_at == report.paid_at and p.platform_amount_fen == new.facts.amount_fen
    assert p.channels == ("alipay",) and p.paid_at == new.facts.paid_at
    again = repo.record_payment(new_payment(new.facts), None, None, None, report)
    assert again.failed == {"payment", "platform"}
    assert repo.add_platform_report(p, report, T0).failed == {"platform"}  # a redelivery changes nothing
    assert repo.day_figures(m, D1).payments == 1


def test_a_claimed_binding_leaves_the_payment_pending_until_confirmed(repo: PaymentsRepository) -> None:
    m, pid = mid(), new_id("2088")
    new = new_payment(facts(m))
    assert repo.record_payment(new, None, None, None).ok
    report = report_of(new, verified=False, platform_id=pid)
    assert repo.add_platform_report(current(repo, new), report, T0).ok
    p = current(repo, new)
    assert p.channels == ("terminal", "alipay") and not p.confirmed
    assert repo.pending_reports("alipay", pid, 10) == [report]
    assert repo.confirm_pending(report, T0 + timedelta(minutes=1))
    assert current(repo, new).confirmed_at == T0 + timedelta(minutes=1)
    assert repo.pending_reports("alipay", pid, 10) == []
    assert not repo.confirm_pending(report, T0 + timedelta(minutes=2))  # once
    stale = repo.add_platform_report(p, report_of(new, verified=True), T0)  # read before the confirmation
    assert not stale.ok


def test_a_pending_report_that_disagrees_is_dropped_unconfirmed(repo: PaymentsRepository) -> None:
    m, pid = mid(), new_id("2088")
    new = new_payment(facts(m, amount=1000))
    assert repo.record_payment(new, None, None, None).ok
    report = replace(report_of(new, verified=False, platform_id=pid), amount_fen=999)
    assert repo.add_platform_report(current(repo, new), report, T0).ok
    assert not repo.confirm_pending(report, T0)
    assert repo.pending_reports("alipay", pid, 10) == [] and not current(repo, new).confirmed
    repo.flag_payment(m, new.facts.out_trade_no, "platform_conflict")
    repo.flag_payment(m, new.facts.out_trade_no, "platform_conflict")


def test_the_terminals_discount_counts_when_the_platform_reported_first(world: World) -> None:
    repo, m = world.repo, mid()
    mem = membership(m)
    world.add_membership(mem)
    new = new_payment(replace(facts(m, amount=900), source="alipay"))
    assert repo.record_payment(new, None, None, None, report_of(new, verified=True)).ok
    assert repo.record_refund(new_refund(current(repo, new), 300), None, None, None).ok  # a refund came first too
    terminal = facts(m, new.facts.out_trade_no, amount=900, discount=100, terminal_id="tml_1")
    joined = repo.add_terminal_report(current(repo, new), terminal, 100, mem.membership_id, None, None, T0)
    assert joined.ok
    p = current(repo, new)
    assert p.channels == ("alipay", "terminal") and p.member_savings_fen == 100
    assert p.savings_reversed_fen == 33 and world.savings(mem.membership_id) == 67  # floor(100 × 300 / 900)
    assert not repo.add_terminal_report(p, terminal, 100, mem.membership_id, None, None, T0).ok  # once
    assert world.savings(mem.membership_id) == 67


def test_confirmation_tasks_are_kept_until_done(repo: PaymentsRepository) -> None:
    pid = new_id("2088")
    repo.add_confirm_task("alipay", pid)
    repo.add_confirm_task("alipay", pid)
    assert ("alipay", pid) in repo.confirm_tasks()
    repo.done_confirm_task("alipay", pid)
    assert ("alipay", pid) not in repo.confirm_tasks()


def test_payment_history_lists_a_merchants_confirmed_payments_by_the_platforms_time(world: World) -> None:
    repo, history, m = world.repo, world.history, mid()
    late = new_payment(replace(facts(m, "o-conf", amount=800, paid_at=T0 - timedelta(days=2)), source="alipay"))
    report = replace(report_of(late, verified=True), paid_at=T0)  # the platform's time, not the terminal's
    assert repo.record_payment(late, None, None, None, report).ok
    unconfirmed = new_payment(facts(m, "o-unconf", amount=700, paid_at=T0))
    assert repo.record_payment(unconfirmed, None, None, None).ok
    got = history.merchant_confirmed_payments(m, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [(r.out_trade_no, r.confirmed, r.platform_paid_at, r.platform_amount_fen) for r in got] == [
        ("o-conf", True, T0, 800)]
    assert history.merchant_confirmed_payments(m, T0 - timedelta(days=3), T0) == []  # until is exclusive

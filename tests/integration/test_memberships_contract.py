"""One contract, two implementations: every test runs on the in-memory fakes (tests/fakes) and on
the DynamoDB adapters (chalicelib/memberships/dynamo.py) on DynamoDB Local, so they cannot drift.

Covers `MembershipRepository` (plans, the conditional lock / expire / settle / refund transitions
and the races they lose, the one-active guard, due, for_member), `MemberSavings` (decide,
contribute through a real `storage.run_transaction` or a `FakeTx`, summary, all_savings) and
`MembershipHistory`. The tables are shared by the whole run: every test uses ids of its own and
times in 2001, before anything else's."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from pynamodb.attributes import UTCDateTimeAttribute

from chalicelib import storage
from chalicelib.config import Config
from chalicelib.errors import Conflict
from chalicelib.memberships.domain import (
    ACTIVE,
    EXPIRED,
    REFUNDED,
    SETTLED,
    Membership,
    Plan,
    capture_entry,
    lock_entry,
    new_membership,
    refund_entry,
)
from chalicelib.memberships.dynamo import DynamoMembershipRepository
from chalicelib.memberships.dynamo_shared import DynamoMemberSavings, DynamoMembershipHistory
from chalicelib.memberships.models import MembershipModel
from chalicelib.memberships.ports import MembershipHistory, MembershipRecord, MembershipRepository
from chalicelib.onboarding.domain import ListPosition, list_order
from chalicelib.payments.domain import FLAG_NOT_ENTITLED, FLAG_OVER_ALLOWANCE
from chalicelib.payments.ports import NO_SAVINGS, MemberSavings, SavingsDecision
from chalicelib.storage import GuardModel
from chalicelib.tables import ALL_MODELS
from tests.fakes.memberships import FakeMemberSavings, FakeMembershipHistory, InMemoryMembershipRepository
from tests.fakes.tx import FakeTx

T0 = datetime(2001, 1, 1, 4, 0, tzinfo=UTC)
DAY = timedelta(days=1)

Contribution = Callable[[Any], None]  # adds items to a `storage.Tx` or a `FakeTx`


@dataclass
class Side:
    name: str
    repo: MembershipRepository
    savings: MemberSavings
    history: MembershipHistory
    commit: Callable[[list[Contribution]], frozenset[str]]  # one transaction → the failed labels
    failing: Contribution  # a contribution whose condition fails (label `other`)


def _fake() -> Side:
    repo = InMemoryMembershipRepository()

    def commit(parts: list[Contribution]) -> frozenset[str]:
        tx = FakeTx()
        for part in parts:
            part(tx)
        return tx.commit()

    return Side("fake", repo, FakeMemberSavings(repo), FakeMembershipHistory(repo), commit,
                lambda tx: tx.require("other", lambda: False))


def _dynamo(config: Config) -> Side:
    conn = storage.bind(config, ALL_MODELS)

    def commit(parts: list[Contribution]) -> frozenset[str]:
        def build(tx: storage.Tx) -> None:
            for part in parts:
                part(tx)

        return storage.run_transaction(conn, build).failed

    def failing(tx: storage.Tx) -> None:
        tx.check("other", GuardModel, f"contract#absent#{secrets.token_hex(6)}", GuardModel.key.exists())

    return Side("dynamo", DynamoMembershipRepository(conn), DynamoMemberSavings(conn), DynamoMembershipHistory(),
                commit, failing)


@pytest.fixture(params=["fake", "dynamo"])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    if request.param == "fake":
        yield _fake()
    else:
        yield _dynamo(request.getfixturevalue("test_config"))


def uid(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def a_plan(merchant_id: str | None = None, *, at: datetime = T0, fee: int = 3000, percent: int = 10,
           cap: int | None = None, days: int = 30, window: int = 7) -> Plan:
    return Plan(uid("pln"), merchant_id or uid("mch"), "Monthly", fee, days, percent, window, at, cap)


def locked(side: Side, plan: Plan, customer: str | None = None, *, at: datetime = T0,
           partner: str = "ptn_c") -> Membership:
    m = new_membership(uid("mbs"), plan, partner, customer or uid("cus"), at)
    return side.repo.lock(m, lock_entry(m, at), f"ref-{m.membership_id}", at)


def kinds(side: Side, membership_id: str) -> list[str]:
    return sorted(e.kind for e in side.repo.all_entries() if e.membership_id == membership_id)


# ---------------------------------------------------------------- plans


def test_plans_are_stored_listed_oldest_first_and_unique(side: Side) -> None:
    mch = uid("mch")
    later = a_plan(mch, at=T0 + DAY, cap=500)
    first = a_plan(mch)
    side.repo.add_plan(later)
    side.repo.add_plan(first)
    side.repo.add_plan(a_plan())  # another merchant's
    assert side.repo.get_plan(later.plan_id) == later
    assert side.repo.get_plan("pln_missing") is None
    assert side.repo.list_plans(mch) == [first, later]
    with pytest.raises(Conflict):
        side.repo.add_plan(replace(first, name="Other"))
    assert side.repo.get_plan(first.plan_id) == first


# ---------------------------------------------------------------- lock-in and the guard


def test_lock_stores_the_membership_its_entry_and_the_guard(side: Side) -> None:
    plan = a_plan()
    m = locked(side, plan)
    assert (m.status, m.savings_fen) == (ACTIVE, 0)
    assert side.repo.get(m.membership_id) == m
    assert side.repo.get("mbs_missing") is None
    assert side.repo.active_holder(plan.merchant_id, m.customer_id) == m.membership_id
    assert side.repo.active_holder(plan.merchant_id, uid("cus")) is None
    assert kinds(side, m.membership_id) == ["LOCK"]
    again = side.repo.lock(replace(m, plan_name="changed"), lock_entry(m, T0), "ref", T0)
    assert again == m  # the same lock-in, re-run: the stored one


def test_a_second_lock_in_while_active_is_already_member(side: Side) -> None:
    plan = a_plan()
    m = locked(side, plan)
    other = new_membership(uid("mbs"), plan, "ptn_c", m.customer_id, T0 + DAY)
    with pytest.raises(Conflict) as e:
        side.repo.lock(other, lock_entry(other, T0 + DAY), "ref", T0 + DAY)
    assert e.value.code == "already_member"
    assert side.repo.get(other.membership_id) is None and kinds(side, other.membership_id) == []
    assert side.repo.active_holder(plan.merchant_id, m.customer_id) == m.membership_id


def test_a_lock_in_with_a_taken_id_of_another_customer_conflicts(side: Side) -> None:
    m = locked(side, a_plan())
    intruder = replace(m, customer_id=uid("cus"))
    with pytest.raises(Conflict):
        side.repo.lock(intruder, lock_entry(intruder, T0), "ref", T0)
    assert side.repo.get(m.membership_id) == m


def test_a_lock_in_after_the_holder_ended_takes_the_guard_over(side: Side) -> None:
    plan = a_plan()
    old = locked(side, plan)
    now = old.ends_at + timedelta(seconds=1)  # the job has not expired it yet
    new = locked(side, plan, old.customer_id, at=now)
    assert side.repo.active_holder(plan.merchant_id, old.customer_id) == new.membership_id
    assert side.repo.get(old.membership_id).status == EXPIRED  # type: ignore[union-attr]
    assert side.repo.get(new.membership_id).status == ACTIVE  # type: ignore[union-attr]
    assert not side.repo.expire(old)  # already moved by the lock-in
    assert side.repo.active_holder(plan.merchant_id, old.customer_id) == new.membership_id


def test_concurrent_lock_ins_of_one_customer_let_one_win(side: Side) -> None:
    plan = a_plan()
    customer = uid("cus")
    candidates = [new_membership(uid("mbs"), plan, "ptn_c", customer, T0) for _ in range(6)]

    def attempt(m: Membership) -> str:
        try:
            side.repo.lock(m, lock_entry(m, T0), "ref", T0)
            return "won"
        except Conflict as e:
            return e.code

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, candidates))
    assert results.count("won") == 1 and set(results) == {"won", "already_member"}, results
    winner = candidates[results.index("won")]
    assert side.repo.active_holder(plan.merchant_id, customer) == winner.membership_id
    assert [m.membership_id for m in side.repo.for_customer(customer)] == [winner.membership_id]


# ---------------------------------------------------------------- transitions


def test_expire_releases_the_guard_once(side: Side) -> None:
    plan = a_plan()
    m = locked(side, plan)
    assert side.repo.expire(m)
    assert side.repo.get(m.membership_id).status == EXPIRED  # type: ignore[union-attr]
    assert side.repo.active_holder(plan.merchant_id, m.customer_id) is None
    assert not side.repo.expire(m)  # lost: no longer active


def test_settle_only_from_expired_once(side: Side) -> None:
    m = locked(side, a_plan())
    at = m.refund_deadline
    assert not side.repo.settle(m, capture_entry(m, at), at)  # still active
    assert side.repo.expire(m)
    expired = side.repo.get(m.membership_id)
    assert expired is not None
    assert side.repo.settle(expired, capture_entry(expired, at), at)
    stored = side.repo.get(m.membership_id)
    assert stored is not None
    assert (stored.status, stored.settled_at, stored.provider_pending) == (SETTLED, at, "capture")
    assert not side.repo.settle(expired, capture_entry(expired, at), at)  # lost: already settled
    assert kinds(side, m.membership_id) == ["CAPTURE", "LOCK"]
    side.repo.provider_done(m.membership_id, "refund")  # not what is pending: nothing
    assert side.repo.get(m.membership_id).provider_pending == "capture"  # type: ignore[union-attr]
    side.repo.provider_done(m.membership_id, "capture")
    assert side.repo.get(m.membership_id).provider_pending is None  # type: ignore[union-attr]


def test_refund_wins_only_against_the_status_and_savings_it_read(side: Side) -> None:
    plan = a_plan()
    m = locked(side, plan)
    assert side.repo.expire(m)
    read = side.repo.get(m.membership_id)
    assert read is not None
    at = read.ends_at + DAY
    # savings move between the read and the refund
    assert side.commit([lambda tx: side.savings.contribute(tx, m.membership_id, 100, at)]) == frozenset()
    assert not side.repo.refund(read, 3000, refund_entry(read, 3000, at), at, "k1")
    fresh = side.repo.get(m.membership_id)
    assert fresh is not None and fresh.savings_fen == 100
    assert side.repo.refund(fresh, 2900, refund_entry(fresh, 2900, at), at, "k1")
    stored = side.repo.get(m.membership_id)
    assert stored is not None
    assert (stored.status, stored.refund_fen, stored.refunded_at, stored.provider_pending, stored.refund_key) == (
        REFUNDED, 2900, at, "refund", "k1")
    assert not side.repo.refund(fresh, 2900, refund_entry(fresh, 2900, at), at, "k2")  # lost: refunded
    assert side.repo.get(m.membership_id).refund_key == "k1"  # type: ignore[union-attr]
    assert kinds(side, m.membership_id) == ["LOCK", "REFUND"]


def test_refunding_an_active_membership_releases_its_guard(side: Side) -> None:
    plan = a_plan()
    m = locked(side, plan)
    assert side.repo.refund(m, 3000, refund_entry(m, 3000, T0), T0, None)
    assert side.repo.active_holder(plan.merchant_id, m.customer_id) is None
    assert side.repo.get(m.membership_id).refund_key is None  # type: ignore[union-attr]


def test_concurrent_refunds_from_one_read_let_one_win(side: Side) -> None:
    m = locked(side, a_plan())
    assert side.repo.expire(m)
    read = side.repo.get(m.membership_id)
    assert read is not None
    at = read.ends_at + DAY
    with ThreadPoolExecutor(5) as pool:
        won = list(pool.map(lambda i: side.repo.refund(read, 3000, refund_entry(read, 3000, at), at, f"k{i}"),
                            range(5)))
    assert won.count(True) == 1, won
    assert side.repo.get(m.membership_id).refund_key == f"k{won.index(True)}"  # type: ignore[union-attr]


# ---------------------------------------------------------------- reading


def test_for_customer_and_for_member_newest_first(side: Side) -> None:
    plan = a_plan()
    customer = uid("cus")
    first = locked(side, plan, customer)
    assert side.repo.expire(first)
    second = locked(side, plan, customer, at=T0 + 40 * DAY)
    elsewhere = locked(side, a_plan(), customer, at=T0 + 5 * DAY)
    assert [m.membership_id for m in side.repo.for_customer(customer)] == [
        second.membership_id, elsewhere.membership_id, first.membership_id]
    ids = [m.membership_id for m in side.repo.for_member(plan.merchant_id, customer, T0 + 40 * DAY)]
    assert ids == [second.membership_id, first.membership_id]
    ids = [m.membership_id for m in side.repo.for_member(plan.merchant_id, customer, T0 + 39 * DAY)]
    assert ids == [first.membership_id]
    assert side.repo.for_member(plan.merchant_id, customer, T0 - timedelta(seconds=1)) == []


def test_due_lists_each_next_step_once_it_is_due(side: Side) -> None:
    # memberships of a year of their own, so nothing else's is due before them
    year = T0 - timedelta(days=365 * 2 + secrets.randbelow(300))
    plan = a_plan(at=year, days=10, window=5)
    active = locked(side, plan, at=year)
    to_expire = locked(side, plan, at=year)
    to_settle = locked(side, plan, at=year)
    mine = {active.membership_id, to_expire.membership_id, to_settle.membership_id}

    def due(at: datetime) -> set[str]:
        return {m.membership_id for m in side.repo.due(at, 10_000)} & mine

    assert due(year + 9 * DAY) == set()
    assert due(active.ends_at) == mine
    for m in (to_expire, to_settle):
        assert side.repo.expire(m)
    assert due(active.ends_at) == {active.membership_id}  # the others are due at their deadline
    settled_at = to_settle.refund_deadline
    assert due(settled_at) == mine
    expired = side.repo.get(to_settle.membership_id)
    assert expired is not None and side.repo.settle(expired, capture_entry(expired, settled_at), settled_at)
    assert to_settle.membership_id in due(settled_at)  # the capture is pending at the provider
    side.repo.provider_done(to_settle.membership_id, "capture")
    assert due(settled_at + DAY) == {active.membership_id, to_expire.membership_id}


def test_audit_scans_see_every_membership_and_entry(side: Side) -> None:
    m = locked(side, a_plan())
    assert m in side.repo.all_memberships()
    assert lock_entry(m, T0) in side.repo.all_entries()


# ---------------------------------------------------------------- MemberSavings


def test_decide_counts_a_discount_within_a_holding_membership(side: Side) -> None:
    plan = a_plan(percent=10, cap=150)
    m = locked(side, plan)
    at = T0 + DAY
    assert side.savings.decide(plan.merchant_id, m.customer_id, 900, 100, at) == SavingsDecision(
        100, m.membership_id)
    assert side.savings.decide(plan.merchant_id, m.customer_id, 900, 101, at).flags == (FLAG_OVER_ALLOWANCE,)
    assert side.savings.decide(plan.merchant_id, m.customer_id, 1900, 151, at).flags == (FLAG_OVER_ALLOWANCE,)
    assert side.savings.decide(plan.merchant_id, m.customer_id, 1000, 0, at) == NO_SAVINGS
    assert side.savings.decide(plan.merchant_id, uid("cus"), 900, 100, at).flags == (FLAG_NOT_ENTITLED,)
    assert side.savings.decide(plan.merchant_id, m.customer_id, 900, 100, T0 - DAY).flags == (FLAG_NOT_ENTITLED,)
    assert side.savings.decide(plan.merchant_id, m.customer_id, 900, 100, m.ends_at).flags == (FLAG_NOT_ENTITLED,)
    assert side.repo.expire(m)
    # expired but unsettled: a payment made during the period still counts
    assert side.savings.decide(plan.merchant_id, m.customer_id, 900, 100, at).counted_fen == 100
    stored = side.repo.get(m.membership_id)
    assert stored is not None and side.repo.refund(stored, 3000, refund_entry(stored, 3000, at), at, None)
    assert side.savings.decide(plan.merchant_id, m.customer_id, 900, 100, at).flags == (FLAG_NOT_ENTITLED,)


def test_decide_without_a_discount_reads_nothing(side: Side, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_reading(*args: Any) -> None:
        raise AssertionError("read the membership")

    monkeypatch.setattr(side.savings, "membership_at", no_reading)
    assert side.savings.decide("mch", "cus", 1000, 0, T0) is NO_SAVINGS


def test_contribute_moves_savings_in_the_callers_transaction(side: Side) -> None:
    m = locked(side, a_plan())
    at = T0 + DAY

    def add(delta: int, now: datetime = at) -> Contribution:
        return lambda tx: side.savings.contribute(tx, m.membership_id, delta, now)

    assert side.commit([add(250)]) == frozenset()
    assert side.commit([add(-50)]) == frozenset()  # a reversal
    assert side.repo.get(m.membership_id).savings_fen == 200  # type: ignore[union-attr]
    assert side.commit([add(999), side.failing]) == {"other"}  # all or nothing
    assert side.repo.get(m.membership_id).savings_fen == 200  # type: ignore[union-attr]
    assert side.savings.all_savings()[m.membership_id] == 200
    # expired, before the refund deadline: still moving
    assert side.repo.expire(m)
    assert side.commit([add(10, m.refund_deadline - timedelta(seconds=1))]) == frozenset()
    # at or after the refund deadline: frozen, even though the job has not settled it yet
    assert side.commit([add(10, m.refund_deadline)]) == {"membership"}
    assert side.repo.get(m.membership_id).savings_fen == 210  # type: ignore[union-attr]


def test_contribute_fails_on_a_refunded_or_missing_membership(side: Side) -> None:
    m = locked(side, a_plan())
    assert side.repo.refund(m, 3000, refund_entry(m, 3000, T0), T0, None)
    assert side.commit([lambda tx: side.savings.contribute(tx, m.membership_id, 100, T0 + DAY)]) == {"membership"}
    assert side.repo.get(m.membership_id).savings_fen == 0  # type: ignore[union-attr]
    missing = uid("mbs")
    assert side.commit([lambda tx: side.savings.contribute(tx, missing, 100, T0)]) == {"membership"}
    assert side.repo.get(missing) is None


def test_summary_counts_the_memberships_active_now(side: Side) -> None:
    plan = a_plan(fee=3000, days=30)
    a = locked(side, plan)
    b = locked(side, replace(plan, fee_fen=2000), at=T0 + 10 * DAY)
    gone = locked(side, plan)
    assert side.repo.expire(gone)
    locked(side, a_plan())  # another merchant's
    assert side.commit([lambda tx: side.savings.contribute(tx, a.membership_id, 120, T0 + DAY)]) == frozenset()
    assert side.savings.summary(plan.merchant_id, T0 + 11 * DAY) == {
        "active": 2, "locked_fees_fen": 5000, "savings_fen": 120}
    # past its ends_at a membership is no longer active, whether or not the job ran
    assert side.savings.summary(plan.merchant_id, a.ends_at) == {
        "active": 1, "locked_fees_fen": 2000, "savings_fen": 0}
    assert side.savings.summary(plan.merchant_id, b.ends_at) == {"active": 0, "locked_fees_fen": 0, "savings_fen": 0}


# ---------------------------------------------------------------- MembershipHistory


def test_history_for_partners_and_windows(side: Side) -> None:
    p1, p2, p3 = uid("ptn"), uid("ptn"), uid("ptn")
    day0 = T0 - timedelta(days=400 + secrets.randbelow(300))
    plan = a_plan(at=day0)
    ms = [locked(side, plan, at=day0, partner=p1), locked(side, plan, at=day0 + DAY, partner=p1),
          locked(side, plan, at=day0 + 2 * DAY, partner=p2), locked(side, plan, at=day0, partner=p3)]
    rec = [MembershipRecord(m.membership_id, m.merchant_id, m.partner_id, m.created_at) for m in ms]

    def by_id(records: list[MembershipRecord]) -> list[MembershipRecord]:
        mine = {r.membership_id for r in rec}
        return sorted((r for r in records if r.membership_id in mine), key=lambda r: r.membership_id)

    assert by_id(side.history.for_partners([p1, p2, p1], day0, day0 + 2 * DAY)) == by_id(rec[:2])  # half-open
    assert by_id(side.history.for_partners([p2], day0, day0 + 3 * DAY)) == [rec[2]]
    assert side.history.for_partners([], day0, day0 + 3 * DAY) == []
    assert by_id(side.history.between(day0 + DAY, day0 + 3 * DAY)) == by_id(rec[1:3])
    assert by_id(side.history.all()) == by_id(rec)


def test_history_reads_a_stream_image(side: Side) -> None:
    created = T0 + timedelta(hours=3, microseconds=5)
    image = {"membership_id": "mbs_x", "merchant_id": "mch_x", "partner_id": "ptn_x", "customer_id": "c",
             "status": "active", "fee_fen": 3000, "created_at": UTCDateTimeAttribute().serialize(created)}
    assert side.history.from_stream_image(image) == MembershipRecord("mbs_x", "mch_x", "ptn_x", created)
    assert side.history.from_stream_image({"pk": "x", "sk": "PAY", "membership_id": "mbs_x"}) is None
    assert side.history.from_stream_image({"key": "active_member#a#b"}) is None


# ---------------------------------------------------------------- the adapter only


def test_a_stored_membership_item_reads_back_from_its_image(test_config: Config) -> None:
    side = _dynamo(test_config)
    m = locked(side, a_plan())
    raw = MembershipModel.get(m.membership_id).serialize()
    image = {k: TypeDeserializer().deserialize(v) for k, v in raw.items()}
    assert side.history.from_stream_image(image) == MembershipRecord.of(m)


def test_decide_finds_a_fresh_membership_while_the_index_lags(test_config: Config,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    side = _dynamo(test_config)
    plan = a_plan()
    m = locked(side, plan)
    monkeypatch.setattr(MembershipModel.member_index, "query", lambda *a, **k: iter(()))  # not indexed yet
    assert side.savings.decide(plan.merchant_id, m.customer_id, 900, 100, T0 + DAY).counted_fen == 100


# ---------------------------------------------------------------- a merchant's list (reads for people)


def test_merchant_page_newest_first_by_shown_status_page_by_page(side: Side) -> None:
    plan = a_plan()  # 30 days, a 7-day refund window
    oldest = locked(side, plan, at=T0 - 10 * DAY)  # at `now`: past its refund deadline, settled by the clock
    first = locked(side, plan, at=T0)  # at `now`: past its end, expired by the clock
    refunded = locked(side, plan, at=T0 + timedelta(hours=1))
    assert side.repo.refund(refunded, 3000, refund_entry(refunded, 3000, T0 + DAY), T0 + DAY, None)
    newest = locked(side, plan, at=T0 + 20 * DAY)  # at `now`: active
    locked(side, a_plan())  # another merchant's
    now = T0 + 31 * DAY

    def ids(status: str | None, limit: int = 10, after: Any = None) -> tuple[list[str], bool]:
        page = side.repo.merchant_page(plan.merchant_id, status, now, limit, after)
        return [m.membership_id for m in page.items], page.more

    everyone = [newest.membership_id, refunded.membership_id, first.membership_id, oldest.membership_id]
    assert ids(None) == (everyone, False)
    assert ids(ACTIVE) == ([newest.membership_id], False)
    assert ids(EXPIRED) == ([first.membership_id], False)
    assert ids(REFUNDED) == ([refunded.membership_id], False)
    assert ids(SETTLED) == ([oldest.membership_id], False)

    page = side.repo.merchant_page(plan.merchant_id, None, now, 3, None)
    assert [m.membership_id for m in page.items] == everyone[:3] and page.more
    last = page.items[-1]
    after = ListPosition(list_order(last.created_at, last.membership_id), last.membership_id)
    assert ids(None, 3, after) == (everyone[3:], False)
    # a filtered list reads on past what the filter drops until its page is full
    assert ids(SETTLED, 1) == ([oldest.membership_id], False)
    both = side.repo.merchant_page(plan.merchant_id, None, now, 10, None).items
    assert both[0] == side.repo.get(newest.membership_id)

"""The contest use cases on in-memory fakes, for contests that count confirmed payments only
(revision 2): rankings follow confirmations arriving as stream MODIFY records, settlement and
the audit recompute with the same rule, backfills count by the platform's time, and contests
stored before the rule keep revision 1.

Confirmation itself is the payments area's (a verified notification through a verified binding
sets `confirmed_at`, `platform_paid_at` and `platform_amount_fen` on the payment item); here the
payment's records and stream images are written as that would leave them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from boto3.dynamodb.types import TypeSerializer
from pynamodb.attributes import UTCDateTimeAttribute

from chalicelib.auth import Principal
from chalicelib.clock import FixedClock
from chalicelib.contests.documents import contest_doc
from chalicelib.contests.service import ContestService
from chalicelib.payments.dynamo_history import DynamoPaymentHistory
from chalicelib.payments.ports import PaymentRecord
from tests.fakes.admin_trail import InMemoryAdminTrail
from tests.fakes.contests import InMemoryContestRepository, InMemoryStateStore
from tests.fakes.memberships import FakeMembershipHistory, InMemoryMembershipRepository
from tests.fakes.payments import FakePaymentHistory

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 3, 1, tzinfo=TZ)
ADMIN = Principal("admin-1", "admin")
WEIGHTS = {"merchants_onboarded": 10, "active_merchants": 5, "gmv_yuan": 1, "new_members": 2}
_SER = TypeSerializer()
_DT = UTCDateTimeAttribute()


class StreamedHistory(FakePaymentHistory):
    """The fake history, reading stream images with the payments adapter's own decoder."""

    def from_stream_image(self, image: dict[str, Any]) -> PaymentRecord | None:
        return DynamoPaymentHistory().from_stream_image(image)


@dataclass
class Directory:
    """`PartnerDirectory`: partner id -> (name, merchant ids)."""

    partners: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def partner_names(self, partner_ids: Iterable[str]) -> dict[str, str]:
        return {p: self.partners[p][0] for p in partner_ids if p in self.partners}

    def all_partner_ids(self) -> list[str]:
        return list(self.partners)

    def merchants_of(self, partner_ids: Iterable[str]) -> list[str]:
        return [m for p in partner_ids if p in self.partners for m in self.partners[p][1]]


@dataclass
class World:
    svc: ContestService
    history: StreamedHistory
    clock: FixedClock

    def record(self, r: PaymentRecord, old: PaymentRecord | None = None) -> dict[str, Any]:
        """Record (or, with `old`, change) a payment and deliver its stream record."""
        self.history.add(r)
        record: dict[str, Any] = {"eventName": "MODIFY" if old else "INSERT", "dynamodb": {"NewImage": image(r)}}
        if old is not None:
            record["dynamodb"]["OldImage"] = image(old)
        self.deliver(record)
        return record

    def confirm(self, r: PaymentRecord, at: datetime,
                amount: int | None = None) -> tuple[PaymentRecord, dict[str, Any]]:
        """The payments area confirming a recorded payment: a MODIFY of its item."""
        done = replace(r, confirmed=True, platform_paid_at=at,
                       platform_amount_fen=r.amount_fen if amount is None else amount)
        return done, self.record(done, old=r)

    def deliver(self, *records: dict[str, Any]) -> None:
        self.svc.handle_payment_stream({"Records": list(records)})

    def create(self, **over: Any) -> str:
        body = {"name": "Cup", "starts_at": START.isoformat(), "round_days": 7, "rounds": 2, "weights": WEIGHTS,
                **over}
        return str(self.svc.create(ADMIN, json.dumps(body).encode())["contest_id"])

    def board(self, cid: str, n: int) -> list[tuple[str, dict[str, Any]]]:
        """Rank the round now (a minute after the last ranking) and read its leaderboard."""
        self.svc.rank_round(self.svc.contest(cid), n, self.clock.advance(60))
        body = self.svc.leaderboard(ADMIN, cid, str(n), None)
        return [(e["partner_id"], e["metrics"]) for e in body["entries"]]

    def settle(self, cid: str, n: int) -> list[tuple[str, dict[str, Any]]]:
        body = self.svc.settle(ADMIN, cid, str(n))
        return [(e["partner_id"], e["metrics"]) for e in body["entries"]]

    def audit_ok(self) -> bool:
        """The counters equal their recomputation from the recorded payments."""
        return bool(self.svc.audit_check()["ok"])


def image(r: PaymentRecord) -> dict[str, Any]:
    """The payment item's stream image, as DynamoDB sends it."""
    item: dict[str, Any] = {
        "pk": f"{r.merchant_id}#{r.out_trade_no}", "sk": "PAY", "kind": "payment", "merchant_id": r.merchant_id,
        "partner_id": r.partner_id, "out_trade_no": r.out_trade_no, "buyer_id": r.buyer_id,
        "amount_fen": r.amount_fen, "paid_at": _DT.serialize(r.paid_at), "refunded_fen": r.refunded_fen,
    }
    if r.confirmed:
        assert r.platform_paid_at is not None
        item.update(confirmed_at=_DT.serialize(r.platform_paid_at + timedelta(seconds=3)),
                    platform_paid_at=_DT.serialize(r.platform_paid_at), platform_amount_fen=r.platform_amount_fen)
    return {k: _SER.serialize(v) for k, v in item.items()}


@pytest.fixture
def world() -> World:
    history = StreamedHistory()
    clock = FixedClock(START + timedelta(days=1))
    directory = Directory({"p_a": ("Alpha", ["A1", "A2"]), "p_b": ("Beta", ["B1"])})
    svc = ContestService(repo=InMemoryContestRepository(), state=InMemoryStateStore(), payments=history,
                         memberships=FakeMembershipHistory(InMemoryMembershipRepository()), partners=directory,
                         trail=InMemoryAdminTrail(), clock=clock, tz=TZ, shards=4)
    return World(svc, history, clock)


def pay(mid: str, otn: str, amount: int, at: datetime, buyer: str = "u1") -> PaymentRecord:
    partner = "p_b" if mid.startswith("B") else "p_a"
    return PaymentRecord(mid, partner, otn, buyer, amount, at)


def test_contests_count_confirmed_payments_unless_created_with_the_rule_off(world: World) -> None:
    c = world.svc.create(ADMIN, json.dumps({"name": "Cup", "starts_at": START.isoformat(), "round_days": 7,
                                            "rounds": 1, "weights": WEIGHTS}).encode())
    assert c["rules"]["require_platform_confirmation"] is True
    assert world.svc.get(ADMIN, c["contest_id"])["rules"]["require_platform_confirmation"] is True
    off = world.create(rules={"require_platform_confirmation": False, "min_payment_fen": 1})
    assert world.svc.get(ADMIN, off)["rules"] == {
        "active_merchant_min_payments": 10, "min_payment_fen": 1,
        "max_counted_payments_per_buyer_per_merchant_per_day": 3, "require_platform_confirmation": False}


def test_a_confirmation_after_the_ranking_moves_the_next_ranking_and_redelivery_changes_nothing(
        world: World) -> None:
    cid = world.create()
    d1 = START + timedelta(days=1, hours=10)
    p = pay("A1", "o1", 5000, d1)
    insert = world.record(p)
    assert world.board(cid, 1) == []  # reported by the terminal only: nothing counts yet

    confirmed, modify = world.confirm(p, d1 + timedelta(seconds=2), amount=4000)
    got = world.board(cid, 1)
    assert [(pid, m["gmv_fen"], m["counted_payments"], m["merchants_onboarded"]) for pid, m in got] \
        == [("p_a", 4000, 1, 1)]  # the platform's amount

    world.deliver(insert, modify, modify, insert)  # redelivered, in any order
    assert world.board(cid, 1) == got
    assert world.audit_ok()


def test_a_payment_backdated_into_an_ended_round_counts_at_the_platforms_time(world: World) -> None:
    cid = world.create()
    world.clock.set(START + timedelta(days=9))  # round 1 has ended
    now = world.clock.now()
    # a terminal posts a payment "from round 1"; the platform paid it now, in round 2
    p = pay("A1", "o1", 900_000, START + timedelta(days=2))
    world.record(p)
    world.confirm(p, now, amount=1000)
    # and one backdated by a month, whose recorded time is outside every round of the contest
    q = pay("B1", "o2", 700, START - timedelta(days=30))
    world.record(q)
    world.confirm(q, now, amount=700)
    assert world.board(cid, 1) == []
    assert [(pid, m["gmv_fen"]) for pid, m in world.board(cid, 2)] == [("p_a", 1000), ("p_b", 700)]
    assert world.settle(cid, 1) == []
    world.clock.set(START + timedelta(days=15))
    settled = world.settle(cid, 2)
    assert [(pid, m["gmv_fen"], m["counted_payments"]) for pid, m in settled] == [("p_a", 1000, 1), ("p_b", 700, 1)]
    # their first recorded payments are in round 1 (A1) and before the contest (B1): no onboarding
    assert [m["merchants_onboarded"] for _, m in settled] == [0, 0]
    assert world.audit_ok()


def test_a_confirmation_recorded_after_the_round_ended_counts_until_settlement(world: World) -> None:
    cid = world.create(rounds=1)
    d1 = START + timedelta(days=2, hours=9)
    late = pay("A1", "o1", 3000, d1)
    world.record(late)
    after = pay("A2", "o2", 2000, d1, buyer="u2")
    world.record(after)
    world.clock.set(START + timedelta(days=8))
    assert world.board(cid, 1) == []
    world.confirm(late, d1)  # the binding was verified after the round ended: it counts
    settled = world.settle(cid, 1)
    assert [(pid, m["gmv_fen"], m["merchants_onboarded"]) for pid, m in settled] == [("p_a", 3000, 1)]
    world.confirm(after, d1)  # after settlement: the counters follow, the result does not
    assert world.settle(cid, 1) == settled
    assert world.audit_ok()


def test_a_contest_stored_before_the_rule_keeps_counting_what_terminals_report(world: World) -> None:
    doc = contest_doc(world.svc.contest(world.create(rounds=1)))
    legacy_id = "cst_legacy"
    doc.update(contest_id=legacy_id)
    del doc["rules"]["require_platform_confirmation"]  # as stored by revision 1
    world.svc.repo.add_contest(legacy_id, doc)
    world.svc.catalog.invalidate()
    d1 = START + timedelta(days=2)
    p = pay("A1", "o1", 5000, d1)
    world.record(p)
    world.confirm(p, d1 + timedelta(days=3), amount=100)  # changes nothing for it
    assert [(pid, m["gmv_fen"]) for pid, m in world.board(legacy_id, 1)] == [("p_a", 5000)]
    world.clock.set(START + timedelta(days=8))
    assert [(pid, m["gmv_fen"], m["merchants_onboarded"]) for pid, m in world.settle(legacy_id, 1)] \
        == [("p_a", 5000, 1)]
    assert world.audit_ok()


def test_a_contest_created_late_backfills_confirmed_payments_by_the_platforms_time(world: World) -> None:
    world.clock.set(START + timedelta(days=3))
    d1 = START + timedelta(days=1)
    for r in (
        replace(pay("A1", "o1", 50, d1 - timedelta(days=10)), confirmed=True, platform_paid_at=d1,
                platform_amount_fen=1500),  # recorded as 10 days before the contest
        pay("A1", "o2", 9000, d1),  # never confirmed
        replace(pay("B1", "o3", 800, d1), confirmed=True, platform_paid_at=d1, platform_amount_fen=800),
    ):
        world.history.add(r)  # recorded before the contest existed (no stream record for it)
    cid = world.create(rounds=1)
    m = world.svc.state.counters(cid, 1, {"p_a": [0, 1, 2, 3], "p_b": [0, 1, 2, 3]})
    assert {pid: (x.gmv_fen, x.counted_payments, x.merchants_onboarded) for pid, x in m.items()} \
        == {"p_a": (1500, 1, 0), "p_b": (800, 1, 1)}
    assert world.audit_ok()

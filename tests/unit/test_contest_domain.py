"""The contest metrics on hand-computed fixtures (revision 1, and revision 2's confirmed payments
only), and the stream-fed counters against the pure recomputation for generated payment
sequences (any order, duplicates, growing refunds, late confirmations, racing writers)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.contests import domain
from chalicelib.contests.aggregator import ContestAggregator
from chalicelib.contests.documents import contest_doc, contest_from_doc, public_contest
from chalicelib.contests.domain import Contest, MembershipFact, PaymentFact, Prize, Rules, Weights
from chalicelib.contests.ports import Commit
from tests.fakes.contests import InMemoryStateStore

TZ = ZoneInfo("Asia/Shanghai")


def t(s: str) -> datetime:
    return datetime.fromisoformat(s)


CONTEST = Contest(
    contest_id="cst_1", name="Spring", starts_at=t("2024-03-01T00:00:00+08:00"), round_days=7, rounds=2,
    weights=Weights(Decimal(10), Decimal(5), Decimal("0.5"), Decimal(2)),
    rules=Rules(active_merchant_min_payments=2, min_payment_fen=100,
                max_counted_payments_per_buyer_per_merchant_per_day=2, require_platform_confirmation=False),
    prizes=(Prize(1, 1, "gold"), Prize(2, 3, "silver")),
)


def pay(mid: str, pid: str, otn: str, buyer: str, amount: int, at: str, refunded: int = 0) -> PaymentFact:
    return PaymentFact(mid, pid, otn, buyer, amount, t(at), refunded)


PAYMENTS = [
    # partner A, merchant A1: first counted payment before the contest (not onboarded in it)
    pay("A1", "p_a", "a0", "u1", 500, "2024-02-20T09:00:00+08:00"),
    # one buyer's day at A1: 50 takes no slot; cap 2 keeps 1000 and 2000 (refunded 500); 3000 is over the cap
    pay("A1", "p_a", "a1", "u1", 1000, "2024-03-02T10:00:00+08:00"),
    pay("A1", "p_a", "a2", "u1", 50, "2024-03-02T10:30:00+08:00"),
    pay("A1", "p_a", "a3", "u1", 2000, "2024-03-02T11:00:00+08:00", refunded=500),
    pay("A1", "p_a", "a4", "u1", 3000, "2024-03-02T12:00:00+08:00"),
    pay("A1", "p_a", "a5", "u2", 400, "2024-03-03T10:00:00+08:00"),
    # A2: 99 is below the minimum; 100 (the minimum itself) is its first counted payment → onboarded
    pay("A2", "p_a", "b1", "u3", 99, "2024-03-04T10:00:00+08:00"),
    pay("A2", "p_a", "b2", "u3", 100, "2024-03-05T10:00:00+08:00"),
    # A1 in round 2
    pay("A1", "p_a", "a6", "u1", 1000, "2024-03-08T10:00:00+08:00"),
    # partner B: one payment fully refunded, one not
    pay("B1", "p_b", "c1", "u4", 2000, "2024-03-06T10:00:00+08:00", refunded=2000),
    pay("B1", "p_b", "c2", "u5", 1000, "2024-03-06T11:00:00+08:00"),
    # partner E: business days in Asia/Shanghai, not UTC: 23:50 is the previous day; the cap of 2
    # keeps 00:10 and 00:20 (tie at 00:20 broken by out_trade_no: e2 before e3)
    pay("E1", "p_e", "e0", "u7", 1000, "2024-03-01T23:50:00+08:00"),
    pay("E1", "p_e", "e3", "u7", 1000, "2024-03-02T00:20:00+08:00"),
    pay("E1", "p_e", "e2", "u7", 1000, "2024-03-02T00:20:00+08:00"),
    pay("E1", "p_e", "e1", "u7", 1000, "2024-03-02T00:10:00+08:00"),
]


def members(pid: str, mid: str, n: int, at: str) -> list[MembershipFact]:
    return [MembershipFact(f"{pid}-{at}-{i}", mid, pid, t(at)) for i in range(n)]


MEMBERSHIPS = (members("p_b", "B1", 5, "2024-03-04T10:00:00+08:00")
               + members("p_c", "C1", 15, "2024-03-05T10:00:00+08:00")
               + members("p_d", "D1", 15, "2024-03-05T10:00:00+08:00")
               + members("p_b", "B1", 1, "2024-03-09T10:00:00+08:00"))


def test_hand_computed_round_1_metrics_scores_and_ties() -> None:
    m = domain.round_metrics(CONTEST, 1, PAYMENTS, MEMBERSHIPS, TZ)
    assert (m["p_a"].merchants_onboarded, m["p_a"].active_merchants, m["p_a"].gmv_fen, m["p_a"].new_members) \
        == (1, 1, 1000 + 1500 + 400 + 100, 0)
    assert (m["p_b"].merchants_onboarded, m["p_b"].active_merchants, m["p_b"].gmv_fen, m["p_b"].new_members) \
        == (1, 1, 1000, 5)
    assert (m["p_e"].merchants_onboarded, m["p_e"].active_merchants, m["p_e"].gmv_fen) == (1, 1, 3000)
    assert m["p_c"].new_members == 15 and m["p_c"].gmv_fen == 0
    board = domain.rank(CONTEST, m, {"p_a": "Alpha"})
    # every score is 30: A 10+5+15, B 10+5+5+10, E 10+5+15, C and D 2×15
    assert [e.score for e in board] == [Decimal(30)] * 5
    # ties: higher GMV first (A and E 30 yuan, B 10, C and D 0), then partner id ascending
    assert [e.partner_id for e in board] == ["p_a", "p_e", "p_b", "p_c", "p_d"]
    assert [e.rank for e in board] == [1, 2, 3, 4, 5]
    assert board[0].name == "Alpha" and board[1].name == "p_e"
    assert domain.winners(board, CONTEST.prizes) == [
        {"rank": 1, "partner_id": "p_a", "prize": "gold"},
        {"rank": 2, "partner_id": "p_e", "prize": "silver"},
        {"rank": 3, "partner_id": "p_b", "prize": "silver"},
    ]
    assert board[0].as_dict()["metrics"]["gmv_yuan"] == 30


def test_hand_computed_round_2() -> None:
    m = domain.round_metrics(CONTEST, 2, PAYMENTS, MEMBERSHIPS, TZ)
    assert m["p_a"].key() == (0, 0, 1000, 0, 1)  # one counted payment: not active, not onboarded
    assert m["p_b"].new_members == 1
    board = domain.rank(CONTEST, m, {})
    assert [(e.partner_id, e.score) for e in board] == [("p_a", Decimal(5)), ("p_b", Decimal(2))]


def test_wash_trading_one_buyer_fifty_payments_a_day_counts_three() -> None:
    c = Contest("c", "n", t("2024-03-01T00:00:00+08:00"), 7, 1, Weights(gmv_yuan=Decimal(1)),
                Rules(require_platform_confirmation=False))
    ps = [pay("M", "P", f"o{i:02d}", "u", 1000, f"2024-03-02T10:{i:02d}:00+08:00") for i in range(50)]
    m = domain.round_metrics(c, 1, ps, [], TZ)
    assert m["P"].counted_payments == 3 and m["P"].gmv_fen == 3000


def test_round_windows() -> None:
    w = CONTEST.window(2)
    assert (w.starts_at, w.ends_at) == (t("2024-03-08T00:00:00+08:00"), t("2024-03-15T00:00:00+08:00"))
    assert CONTEST.round_of(t("2024-03-07T23:59:59+08:00")) == 1
    assert CONTEST.round_of(t("2024-03-15T00:00:00+08:00")) is None


def test_bucket_late_earlier_payment_displaces_the_latest() -> None:
    cap = 2
    s1 = domain.Slot("b", t("2024-03-02T11:00:00+08:00"), 100)
    s2 = domain.Slot("c", t("2024-03-02T12:00:00+08:00"), 200)
    change = domain.apply_to_bucket([s1, s2], domain.Slot("a", t("2024-03-02T09:00:00+08:00"), 300), cap)
    assert change.added and change.added.out_trade_no == "a"
    assert change.removed == s2
    again = domain.apply_to_bucket(change.slots, domain.Slot("a", t("2024-03-02T09:00:00+08:00"), 300), cap)
    assert not again.changed
    displaced_again = domain.apply_to_bucket(change.slots, s2, cap)
    assert not displaced_again.changed


# ---------------------------------------------------------------- stream counters == recomputation

START = t("2024-03-01T00:00:00+08:00")
payment_st = st.tuples(
    st.sampled_from(["M1", "M2", "M3"]),  # merchant (M1, M2 → partner P1; M3 → P2)
    st.sampled_from(["u1", "u2"]),
    st.integers(min_value=0, max_value=400),  # amount
    st.integers(min_value=-30, max_value=4 * 24 * 60 + 30),  # minutes from start (before, during, after)
    st.integers(min_value=0, max_value=3),  # refund steps
)


@settings(max_examples=150, deadline=None)
@given(st.lists(payment_st, min_size=1, max_size=30), st.integers(min_value=0, max_value=2**32),
       st.integers(min_value=0, max_value=3), st.sampled_from([1, 2, 3]))
def test_stream_counters_equal_recomputation(raw, seed, n_members, cap) -> None:  # type: ignore[no-untyped-def]
    contest = Contest("c1", "n", START, 2, 2, Weights(Decimal(1), Decimal(1), Decimal(1), Decimal(1)),
                      rules=Rules(active_merchant_min_payments=2, min_payment_fen=100,
                                  max_counted_payments_per_buyer_per_merchant_per_day=cap,
                                  require_platform_confirmation=False))
    rng = random.Random(seed)
    partner = {"M1": "P1", "M2": "P1", "M3": "P2"}
    images: list[PaymentFact | MembershipFact] = []
    finals: list[PaymentFact] = []
    for i, (mid, buyer, amount, minutes, steps) in enumerate(raw):
        # whole minutes give same-time ties, broken by out_trade_no
        at = START + timedelta(minutes=(minutes // 7) * 7)
        refunds = sorted(rng.randint(0, amount) for _ in range(steps))
        versions = [PaymentFact(mid, partner[mid], f"o{i}", buyer, amount, at, r) for r in [0, *refunds]]
        finals.append(versions[-1])
        images.extend(versions)
        images.extend(rng.sample(versions, k=min(2, len(versions))))  # redelivered records
    ms = [MembershipFact(f"m{i}", "M1", "P1", START + timedelta(hours=30 * i)) for i in range(n_members)]
    images.extend(ms + ms)
    rng.shuffle(images)

    store = InMemoryStateStore()
    agg = ContestAggregator(store, TZ, shards=4)
    for img in images:
        if isinstance(img, PaymentFact):
            agg.apply_payment(img, [contest])
        else:
            agg.apply_membership(img, [contest])

    stored = store.all_counters()
    for n in (1, 2):
        expected = domain.round_metrics(contest, n, finals, ms, TZ)
        for pid in ("P1", "P2"):
            want = expected.get(pid, domain.Metrics()).key()
            got = stored.get(("c1", n, pid), domain.Metrics()).key()
            assert got == want, (n, pid, got, want)


# ---------------------------------------------------------------- revision 2: confirmed payments only

CONFIRMED = Contest(
    contest_id="cst_2", name="Confirmed", starts_at=t("2024-03-01T00:00:00+08:00"), round_days=7, rounds=2,
    weights=Weights(Decimal(10), Decimal(5), Decimal("0.5"), Decimal(2)),
    rules=Rules(active_merchant_min_payments=2, min_payment_fen=100,
                max_counted_payments_per_buyer_per_merchant_per_day=2),
)
REVISION_1 = replace(CONFIRMED, rules=replace(CONFIRMED.rules, require_platform_confirmation=False))


def conf(mid: str, pid: str, otn: str, buyer: str, amount: int, at: str, platform_at: str | None = None,
         platform_amount: int | None = None, refunded: int = 0) -> PaymentFact:
    """A payment as first recorded (`amount`, `at`: usually the terminal's word), confirmed by a
    platform at `platform_at` for `platform_amount` (default: the same amount) when given."""
    if platform_at is None:
        return PaymentFact(mid, pid, otn, buyer, amount, t(at), refunded)
    return PaymentFact(mid, pid, otn, buyer, amount, t(at), refunded, confirmed=True,
                       platform_paid_at=t(platform_at),
                       platform_amount_fen=amount if platform_amount is None else platform_amount)


def metrics_of(contest: Contest, n: int, payments: list[PaymentFact], pid: str) -> tuple[int, int, int, int]:
    m = domain.round_metrics(contest, n, payments, [], TZ).get(pid, domain.Metrics())
    return (m.merchants_onboarded, m.active_merchants, m.gmv_fen, m.counted_payments)


def test_new_contests_require_confirmation_stored_ones_without_the_rule_keep_revision_1() -> None:
    assert Rules().require_platform_confirmation is True
    doc = contest_doc(CONFIRMED)
    assert doc["rules"]["require_platform_confirmation"] is True
    assert contest_from_doc(doc) == CONFIRMED
    assert contest_from_doc(contest_doc(REVISION_1)) == REVISION_1
    legacy = {**doc, "rules": {k: v for k, v in doc["rules"].items() if k != "require_platform_confirmation"}}
    assert contest_from_doc(legacy).rules.require_platform_confirmation is False
    assert public_contest(contest_from_doc(legacy))["rules"] == {
        "active_merchant_min_payments": 2, "min_payment_fen": 100,
        "max_counted_payments_per_buyer_per_merchant_per_day": 2, "require_platform_confirmation": False}


def test_a_terminal_backdating_into_an_ended_round_gains_nothing() -> None:
    # the terminal says round 1 and 900 yuan; the platform says round 2 and 10 yuan
    ps = [conf("K1", "p_k", "k1", "u1", 90_000, "2024-03-03T10:00:00+08:00", "2024-03-09T10:00:00+08:00", 1000)]
    assert metrics_of(CONFIRMED, 1, ps, "p_k") == (0, 0, 0, 0)
    # counted at the platform's time and amount; its first recorded payment is in round 1, which
    # has no confirmed payment of it: not onboarded anywhere (backdating forfeits, never gains)
    assert metrics_of(CONFIRMED, 2, ps, "p_k") == (0, 0, 1000, 1)
    # the revision-1 rule believed the terminal
    assert metrics_of(REVISION_1, 1, ps, "p_k") == (1, 0, 90_000, 1)
    assert metrics_of(REVISION_1, 2, ps, "p_k") == (0, 0, 0, 0)


def test_unconfirmed_payments_count_nothing() -> None:
    invented = [conf("I1", "p_i", f"i{n}", f"u{n}", 50_000, "2024-03-02T10:00:00+08:00") for n in range(5)]
    assert domain.round_metrics(CONFIRMED, 1, invented, [], TZ) == {}
    assert metrics_of(REVISION_1, 1, invented, "p_i") == (1, 1, 250_000, 5)


def test_platform_amount_net_of_refunds_minimum_and_cap_by_platform_day() -> None:
    ps = [
        # refunds reduce the platform's amount, whatever the terminal said
        conf("A1", "p_a", "a1", "u1", 5000, "2024-03-02T10:00:00+08:00", "2024-03-02T10:00:05+08:00", 1000,
             refunded=300),
        # fully refunded (more than the platform's amount): counts, GMV 0
        conf("A1", "p_a", "a2", "u2", 5000, "2024-03-02T11:00:00+08:00", "2024-03-02T11:00:05+08:00", 800,
             refunded=5000),
        # below the minimum by the platform's amount: no slot
        conf("A1", "p_a", "a3", "u3", 500, "2024-03-02T12:00:00+08:00", "2024-03-02T12:00:05+08:00", 50),
        # one buyer's platform day (the terminal spread it over three days): the cap of 2 keeps two
        conf("A1", "p_a", "a4", "u4", 100, "2024-03-03T10:00:00+08:00", "2024-03-05T10:00:00+08:00"),
        conf("A1", "p_a", "a5", "u4", 100, "2024-03-04T10:00:00+08:00", "2024-03-05T11:00:00+08:00"),
        conf("A1", "p_a", "a6", "u4", 100, "2024-03-05T12:00:00+08:00", "2024-03-05T12:00:00+08:00"),
    ]
    assert metrics_of(CONFIRMED, 1, ps, "p_a") == (1, 1, 700 + 0 + 100 + 100, 4)


def test_onboarding_is_the_round_of_the_first_recorded_payment_with_a_confirmed_one_in_it() -> None:
    r1, r1b, r2 = "2024-03-02T10:00:00+08:00", "2024-03-03T10:00:00+08:00", "2024-03-09T10:00:00+08:00"
    ps = [
        # A: first recorded payment 0.5 yuan, unconfirmed; a confirmed counted one in the same round
        conf("A", "p1", "a1", "u1", 50, r1), conf("A", "p1", "a2", "u2", 1000, r1b, r1b),
        # B: first recorded in round 1 (a claimed binding, never verified), confirmed only in round
        # 2: a late verification does not move its onboarding into round 2
        conf("B", "p2", "b1", "u1", 1000, r1), conf("B", "p2", "b2", "u1", 1000, r2, r2),
        # C: notified in round 1 through a claimed binding, confirmed when the binding was verified
        # (whenever that was, before settlement): onboarded in round 1
        conf("C", "p3", "c1", "u1", 1000, r1, r1),
        # D: first recorded before the contest: never onboarded in it
        conf("D", "p4", "d0", "u1", 1000, "2024-02-20T10:00:00+08:00", "2024-02-20T10:00:00+08:00"),
        conf("D", "p4", "d1", "u1", 1000, r1, r1),
        # E: an invented payment dated before the real first one makes round 1 its first, which
        # has no confirmed payment: an invented payment can forfeit an onboarding, never gain one
        conf("E", "p5", "e0", "u1", 1000, r1), conf("E", "p5", "e1", "u1", 1000, r2, r2),
    ]
    onboarded = {pid: (metrics_of(CONFIRMED, 1, ps, pid)[0], metrics_of(CONFIRMED, 2, ps, pid)[0])
                 for pid in ("p1", "p2", "p3", "p4", "p5")}
    assert onboarded == {"p1": (1, 0), "p2": (0, 0), "p3": (1, 0), "p4": (0, 0), "p5": (0, 0)}
    # which payment is first follows `paid_at` as first recorded, not the platform's time
    first = domain.first_payments(ps, CONFIRMED.rules)
    assert {m: p.out_trade_no for m, p in first.items()} == {"A": "a1", "B": "b1", "C": "c1", "D": "d0", "E": "e0"}


def test_a_repeated_fact_keeps_its_confirmation_and_largest_refund() -> None:
    plain = conf("A", "p", "o1", "u", 1000, "2024-03-02T10:00:00+08:00", refunded=300)
    confirmed = conf("A", "p", "o1", "u", 1000, "2024-03-02T10:00:00+08:00", "2024-03-02T10:00:01+08:00", 900)
    for order in ([plain, confirmed], [confirmed, plain]):
        (one,) = domain.unique(order)
        assert (one.confirmed, one.platform_amount_fen, one.refunded_fen) == (True, 900, 300)


def test_onboarding_moves() -> None:
    on, off = CONFIRMED.rules, REVISION_1.rules
    assert domain.onboarding_moves(on, None, 1, {1: 0}, {1: 1}) == {1: 1}
    assert domain.onboarding_moves(on, None, 1, {1: 0}, {1: 0}) == {}
    assert domain.onboarding_moves(on, 2, 1, {1: 3, 2: 1}, {1: 3, 2: 1}) == {2: -1, 1: 1}
    assert domain.onboarding_moves(on, 2, 1, {1: 0, 2: 1}, {1: 0, 2: 1}) == {2: -1}
    assert domain.onboarding_moves(on, 1, 1, {1: 1}, {1: 0}) == {1: -1}
    assert domain.onboarding_moves(on, 1, None, {1: 1}, {1: 1}) == {1: -1}
    assert domain.onboarding_moves(off, 2, 1, {}, {}) == {2: -1, 1: 1}
    assert domain.onboarding_moves(off, 1, 1, {1: 0}, {1: 5}) == {}


# ---------------------------------------------------------------- stream counters == recomputation, confirmed

confirmed_st = st.tuples(
    st.sampled_from(["M1", "M2", "M3"]),
    st.sampled_from(["u1", "u2"]),
    st.integers(min_value=0, max_value=400),  # amount as first recorded
    st.integers(min_value=-30, max_value=4 * 24 * 60 + 30),  # paid_at, minutes from start
    st.one_of(st.none(), st.tuples(st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60),  # platform skew
                                   st.integers(min_value=0, max_value=400))),  # platform amount
    st.integers(min_value=0, max_value=3),  # refund steps
    st.booleans(),  # confirmed when first recorded (platform first), or later (a MODIFY)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(confirmed_st, min_size=1, max_size=30), st.integers(min_value=0, max_value=2**32),
       st.sampled_from([1, 2, 3]), st.booleans())
def test_stream_counters_equal_recomputation_with_confirmation(raw, seed, cap, seeded) -> None:  # type: ignore[no-untyped-def]
    """Payments recorded unconfirmed and confirmed later (or confirmed from the start), the
    platform's time anywhere around the terminal's (backdated, post-dated), refunds growing,
    every image in any order and redelivered, with and without history to seed first payments."""
    contest = Contest("c2", "n", START, 2, 2, Weights(Decimal(1), Decimal(1), Decimal(1), Decimal(1)),
                      rules=Rules(active_merchant_min_payments=2, min_payment_fen=100,
                                  max_counted_payments_per_buyer_per_merchant_per_day=cap))
    rng = random.Random(seed)
    partner = {"M1": "P1", "M2": "P1", "M3": "P2"}
    images: list[PaymentFact] = []
    finals: list[PaymentFact] = []
    for i, (mid, buyer, amount, minutes, platform, steps, confirmed_first) in enumerate(raw):
        at = START + timedelta(minutes=(minutes // 7) * 7)
        refunds = sorted(rng.randint(0, amount) for _ in range(steps))
        plain = PaymentFact(mid, partner[mid], f"o{i}", buyer, amount, at)
        versions = [replace(plain, refunded_fen=r) for r in [0, *refunds]]
        if platform is not None:
            skew, platform_amount = platform
            confirm = {"confirmed": True, "platform_paid_at": at + timedelta(minutes=(skew // 7) * 7),
                       "platform_amount_fen": platform_amount}
            # the confirmation lands at some point of the payment's history (from the first image on)
            k = 0 if confirmed_first else rng.randint(1, len(versions))
            versions = versions[:k] + [replace(v, **confirm) for v in versions[k:] or versions[-1:]]
        finals.append(versions[-1])
        images.extend(versions)
        images.extend(rng.sample(versions, k=min(2, len(versions))))
    rng.shuffle(images)

    def history(merchant_id: str, min_fen: int) -> PaymentFact | None:
        return min((p for p in finals if p.merchant_id == merchant_id and p.amount_fen >= min_fen),
                   key=lambda p: p.order, default=None)

    store = InMemoryStateStore()
    agg = ContestAggregator(store, TZ, shards=4, seed_first=history if seeded else None)
    for img in images:
        agg.apply_payment(img, [contest])

    stored = store.all_counters()
    for n in (1, 2):
        expected = domain.round_metrics(contest, n, finals, [], TZ)
        for pid in ("P1", "P2"):
            want = expected.get(pid, domain.Metrics()).key()
            got = stored.get(("c2", n, pid), domain.Metrics()).key()
            assert got == want, (n, pid, got, want)


class RacingStore(InMemoryStateStore):
    """Lets another writer commit between a writer's reads and its first commit (once)."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: list[Callable[[], None]] = []

    def commit(self, commit: Commit) -> bool:
        while self.meanwhile:
            self.meanwhile.pop()()
        return super().commit(commit)


@pytest.mark.parametrize("first_commits", ["first_payment_moves", "round_gets_its_first_count"])
def test_racing_first_payment_and_first_counted_payment_both_count(first_commits: str) -> None:
    """A merchant's first recorded payment moving into round 1 and its first confirmed payment of
    round 1, decided concurrently: whichever commits first, the other re-reads (a condition check
    on the row it decided by), and the merchant ends up onboarded in round 1 exactly once."""
    contest = replace(CONFIRMED, contest_id="cst_race")
    later = conf("R", "p_r", "r2", "u1", 1000, "2024-03-09T10:00:00+08:00")  # unconfirmed, round 2
    backdated = conf("R", "p_r", "r0", "u1", 1000, "2024-03-02T09:00:00+08:00")  # unconfirmed, round 1
    # recorded after `later` by the terminal's clock, paid in round 1 by the platform's: it leaves the
    # first payment where it is, but gives round 1 its first counted payment
    confirmed = conf("R", "p_r", "r1", "u2", 1000, "2024-03-10T10:00:00+08:00", "2024-03-02T10:00:00+08:00")
    store = RacingStore()
    agg = ContestAggregator(store, TZ, shards=4)
    agg.apply_payment(later, [contest])
    ahead, behind = (backdated, confirmed) if first_commits == "first_payment_moves" else (confirmed, backdated)
    store.meanwhile.append(lambda: ContestAggregator(store, TZ, shards=4).apply_payment(ahead, [contest]))
    agg.apply_payment(behind, [contest])
    got = store.all_counters()[("cst_race", 1, "p_r")]
    want = domain.round_metrics(contest, 1, [later, backdated, confirmed], [], TZ)["p_r"]
    assert got.key() == want.key() and got.merchants_onboarded == 1

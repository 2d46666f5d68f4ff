"""The contest metrics on a hand-computed fixture, and the stream-fed counters against the pure
recomputation for generated payment sequences (any order, duplicates, growing refunds)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.contests import domain
from chalicelib.contests.aggregator import ContestAggregator
from chalicelib.contests.domain import Contest, MembershipFact, PaymentFact, Prize, Rules, Weights
from tests.fakes.contests import InMemoryStateStore

TZ = ZoneInfo("Asia/Shanghai")


def t(s: str) -> datetime:
    return datetime.fromisoformat(s)


CONTEST = Contest(
    contest_id="cst_1", name="Spring", starts_at=t("2024-03-01T00:00:00+08:00"), round_days=7, rounds=2,
    weights=Weights(Decimal(10), Decimal(5), Decimal("0.5"), Decimal(2)),
    rules=Rules(active_merchant_min_payments=2, min_payment_fen=100,
                max_counted_payments_per_buyer_per_merchant_per_day=2),
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
    c = Contest("c", "n", t("2024-03-01T00:00:00+08:00"), 7, 1, Weights(gmv_yuan=Decimal(1)))
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
                                  max_counted_payments_per_buyer_per_merchant_per_day=cap))
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

"""The demo's last 30 days as plain data (no AWS, no services): who paid what where and when, who
locked a membership, what was refunded. `localdev.demo_play` acts it out through the services.

The story is the same every time (a seeded `random.Random`), placed so that its last day is
today in the business time zone; events later than `now` are left out. Shops are named by a
short key: `lw` (Lao Wang Noodles) and `ll` (Little Leaf Tea) of the Hangzhou partner, `sb`
(Sea Breeze Dumplings) of the Ningbo one.

Buyers are platform user ids: `2088…` pay with Alipay, `o…` (openids) with WeChat Pay; which
platform could confirm a payment follows from that. Some are regulars (repeat buyers), the rest
walk in once. The buyers the `make run` banner and scripts use (`2088000000000042`,
`oDemoBuyer0000000000000000042`) are members of Lao Wang's plan, so their logins show one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

DAYS = 30  # payments on the last 30 business days, today included
DAY = timedelta(days=1)
STORY_SEED = 20260101

# how a payment reaches us: the terminal and the platform (confirmed through a verified
# binding), the terminal alone (never confirmed), or the platform's notification alone
BOTH, TERMINAL, PLATFORM = "both", "terminal", "platform"


def openid(n: int) -> str:
    return f"oDemoBuyer{n:019d}"


ALIPAY_DEMO_BUYER = "2088000000000042"  # scripts/alipay_notify.py's and the banner's customer
WECHAT_DEMO_BUYER = openid(42)  # scripts/wechatpay_notify.py's


@dataclass(frozen=True)
class ShopHabits:
    prices_fen: tuple[int, ...]  # list prices of what it sells (one to three per payment)
    per_day: tuple[int, int]  # payments per day, inclusive range
    hours: tuple[tuple[int, int], ...]  # opening hours (local), [from, to) each
    regulars: tuple[tuple[str, int], ...]  # (buyer, weight)
    walk_in_weight: int
    reports: tuple[tuple[str, int], ...]  # (how it is reported, weight)
    first_day: int = DAYS - 1  # days before today of its first payment


HABITS: dict[str, ShopHabits] = {
    "lw": ShopHabits(
        prices_fen=(1800, 2200, 2600, 2800, 3200, 3600, 600, 800),
        per_day=(2, 3), hours=((11, 14), (17, 21)),
        regulars=((ALIPAY_DEMO_BUYER, 6), ("2088000000001001", 3), ("2088000000001002", 2),
                  ("2088000000001003", 4), ("2088000000001004", 1), ("2088000000001005", 2),
                  (WECHAT_DEMO_BUYER, 5), (openid(101), 3), (openid(102), 1), (openid(103), 2)),
        walk_in_weight=5, reports=((BOTH, 70), (TERMINAL, 22), (PLATFORM, 8))),
    "ll": ShopHabits(
        prices_fen=(900, 1200, 1500, 1800, 2400),
        per_day=(0, 1), hours=((10, 20),),
        regulars=(("2088000000001001", 2), ("2088000000001006", 2), (openid(101), 2), (openid(104), 1)),
        walk_in_weight=3, reports=((BOTH, 50), (TERMINAL, 50))),
    "sb": ShopHabits(
        prices_fen=(1500, 2000, 2500, 1200, 4200),
        per_day=(0, 2), hours=((7, 10), (11, 14)),
        regulars=(("2088000000002001", 3), ("2088000000002002", 1), (openid(201), 3), (openid(202), 2)),
        walk_in_weight=3, reports=((BOTH, 85), (TERMINAL, 15)), first_day=24),
}


@dataclass(frozen=True)
class Sale:
    """A buyer pays `list_fen` (before any member discount, which the terminal's offer tells)."""

    at: datetime
    shop: str
    out_trade_no: str
    list_fen: int
    buyer: str
    report: str  # BOTH | TERMINAL | PLATFORM
    platform_first: bool = False  # BOTH: the platform's notification arrives before the terminal's report


@dataclass(frozen=True)
class LockIn:
    """A customer locks the shop's plan (a membership starting then)."""

    at: datetime
    shop: str
    customer: str


@dataclass(frozen=True)
class Refund:
    """The shop refunds part of a sale: its terminal reports it, and the platform too."""

    at: datetime
    shop: str
    out_trade_no: str
    amount_fen: int  # at most what the buyer paid (list price less the member discount)
    request_no: str


@dataclass(frozen=True)
class MemberRefund:
    """After its period a member asks back the shortfall (fee − savings)."""

    at: datetime
    shop: str
    customer: str


Event = Sale | LockIn | Refund | MemberRefund

# (shop, customer, days before today, local time): who locks a membership when
LOCK_INS = (
    ("lw", "2088000000001005", 33, time(12, 5)),  # its period is over: it asks back the shortfall
    ("lw", ALIPAY_DEMO_BUYER, 24, time(11, 40)),
    ("lw", WECHAT_DEMO_BUYER, 20, time(18, 20)),
    ("sb", "2088000000002001", 16, time(8, 10)),
    ("lw", "2088000000001003", 9, time(12, 30)),
    ("lw", openid(103), 3, time(19, 5)),
)
MEMBER_REFUNDS = (("lw", "2088000000001005", 2, time(10, 15)),)
# sales refunded later: (shop, buyer, days before today, time, list price, refund fen, refunded after)
REFUNDED_SALES = (
    ("lw", ALIPAY_DEMO_BUYER, 8, time(12, 15), 4800, 1200, timedelta(hours=26)),  # a member's, partly
    ("lw", openid(101), 5, time(19, 5), 3600, 3600, timedelta(minutes=35)),  # all of it
)


def story(today: date, tz: tzinfo, now: datetime, seed: int = STORY_SEED) -> list[Event]:
    """The events of the last `DAYS` days up to `now`, in time order."""
    rng = random.Random(seed)
    events: list[Event] = []
    walk_ins = iter(range(1, 10**6))
    for ago in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=ago)
        for shop, habits in HABITS.items():
            if ago > habits.first_day:
                continue
            count = rng.randint(*habits.per_day)
            times = sorted(_time_in(rng, day, habits.hours, tz) for _ in range(count))
            if ago == 0:
                times = _so_far(times, day, now, tz)
            for seq, at in enumerate(times, start=1):
                buyer = _buyer(rng, shop, habits, next(walk_ins))
                report = _pick(rng, habits.reports)
                items = rng.choice((1, 1, 2, 2, 3))
                list_fen = sum(rng.choice(habits.prices_fen) for _ in range(items))
                events.append(Sale(at, shop, f"{shop}-{day:%Y%m%d}-{seq:02d}", list_fen, buyer, report,
                                   platform_first=report == BOTH and rng.random() < 0.2))
    for shop, customer, ago, hhmm in LOCK_INS:
        events.append(LockIn(_at(today - timedelta(days=ago), hhmm, tz), shop, customer))
    for shop, customer, ago, hhmm in MEMBER_REFUNDS:
        events.append(MemberRefund(_at(today - timedelta(days=ago), hhmm, tz), shop, customer))
    for n, (shop, buyer, ago, hhmm, list_fen, refund_fen, after) in enumerate(REFUNDED_SALES, start=1):
        day = today - timedelta(days=ago)
        sale = Sale(_at(day, hhmm, tz), shop, f"{shop}-{day:%Y%m%d}-r{n}", list_fen, buyer, BOTH)
        events += [sale, Refund(sale.at + after, shop, sale.out_trade_no, refund_fen, f"{sale.out_trade_no}-refund")]
    return sorted((e for e in events if e.at <= now), key=lambda e: e.at)


def _at(day: date, at: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def _so_far(times: list[datetime], day: date, now: datetime, tz: tzinfo) -> list[datetime]:
    """Today's sales happen so far: the day's times squeezed, in proportion, between 07:00 and a
    minute ago (none yet before 07:00), so that today's figures are not empty."""
    start, morning, until = _at(day, time(0), tz), _at(day, time(7), tz), now - timedelta(minutes=1)
    if until <= morning:
        return []
    return [(morning + (t - start) / DAY * (until - morning)).replace(microsecond=0) for t in times]


def _time_in(rng: random.Random, day: date, hours: tuple[tuple[int, int], ...], tz: tzinfo) -> datetime:
    start, end = rng.choice(hours)
    return _at(day, time(start), tz) + timedelta(seconds=rng.randrange((end - start) * 3600))


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _buyer(rng: random.Random, shop: str, habits: ShopHabits, n: int) -> str:
    """A regular, or someone walking in once (an Alipay or a WeChat user)."""
    walk_in = "walk-in"
    buyer = _pick(rng, (*habits.regulars, (walk_in, habits.walk_in_weight)))
    if buyer != walk_in:
        return buyer
    base = {"lw": 3000, "ll": 4000, "sb": 5000}[shop] * 1000 + n
    return f"2088{base:012d}" if rng.random() < 0.5 else openid(base)

"""The partner contest, as plain data and pure rules (no AWS).

This module is the reference definition of the contest metrics. Settlement, the audit check
and the tests all compute with it; the stream-fed counters (`chalicelib.contests.aggregator`)
use `as_counted`, `apply_to_bucket`, `first_transition` and `onboarding_moves` from here, so
both paths share one rule set.

Which payments a contest sees (`as_counted`): with `require_platform_confirmation` only the
payments a platform confirmed, each at the platform's time and amount; without it (contests
created before revision 2) every recorded payment, as its first reporter said.
Counted payments: amount ≥ `min_payment_fen`; per (merchant, buyer, business day in the
configured time zone) only the earliest `cap` qualifying payments count (ties by
`out_trade_no`); payments below the minimum take no slot.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

METRIC_NAMES = ("merchants_onboarded", "active_merchants", "gmv_yuan", "new_members")


@dataclass(frozen=True)
class Rules:
    active_merchant_min_payments: int = 10
    min_payment_fen: int = 100
    max_counted_payments_per_buyer_per_merchant_per_day: int = 3
    # Revision 2: only platform-confirmed payments count. True for contests created from then on;
    # a stored contest without the key predates it and keeps False (`REVISION_1_RULES`).
    require_platform_confirmation: bool = True

    @property
    def cap(self) -> int:
        return self.max_counted_payments_per_buyer_per_merchant_per_day


REVISION_1_RULES: dict[str, Any] = {"require_platform_confirmation": False}  # what older contests meant


@dataclass(frozen=True)
class Weights:
    merchants_onboarded: Decimal = Decimal(0)
    active_merchants: Decimal = Decimal(0)
    gmv_yuan: Decimal = Decimal(0)
    new_members: Decimal = Decimal(0)


@dataclass(frozen=True)
class Prize:
    rank_from: int
    rank_to: int
    prize: Any


@dataclass(frozen=True)
class RoundWindow:
    round: int
    starts_at: datetime
    ends_at: datetime

    def holds(self, t: datetime) -> bool:
        return self.starts_at <= t < self.ends_at


@dataclass(frozen=True)
class Contest:
    contest_id: str
    name: str
    starts_at: datetime
    round_days: int
    rounds: int
    weights: Weights
    rules: Rules = field(default_factory=Rules)
    prizes: tuple[Prize, ...] = ()
    created_at: datetime | None = None
    created_by: str | None = None

    def window(self, n: int) -> RoundWindow:
        if not 1 <= n <= self.rounds:
            raise ValueError(f"round {n} outside 1..{self.rounds}")
        span = timedelta(days=self.round_days)
        return RoundWindow(n, self.starts_at + (n - 1) * span, self.starts_at + n * span)

    def windows(self) -> list[RoundWindow]:
        return [self.window(n) for n in range(1, self.rounds + 1)]

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(days=self.round_days * self.rounds)

    def round_of(self, t: datetime) -> int | None:
        if t < self.starts_at or t >= self.ends_at:
            return None
        return int((t - self.starts_at) // timedelta(days=self.round_days)) + 1


class _Counted:
    """What a payment and a bucket slot share: their order within a buyer's day, and their
    amount net of refunds."""

    paid_at: datetime
    out_trade_no: str
    amount_fen: int
    refunded_fen: int

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.paid_at, self.out_trade_no)

    @property
    def net_fen(self) -> int:
        return self.amount_fen - min(max(self.refunded_fen, 0), self.amount_fen)


@dataclass(frozen=True)
class PaymentFact(_Counted):
    """A recorded payment, with the total refunded so far: `paid_at` and `amount_fen` as first
    recorded (usually the terminal's word), and the platform's own, once it confirmed them."""

    merchant_id: str
    partner_id: str
    out_trade_no: str
    buyer_id: str
    amount_fen: int
    paid_at: datetime
    refunded_fen: int = 0
    confirmed: bool = False
    platform_paid_at: datetime | None = None
    platform_amount_fen: int | None = None


@dataclass(frozen=True)
class MembershipFact:
    membership_id: str
    merchant_id: str
    partner_id: str
    created_at: datetime


@dataclass
class Metrics:
    merchants_onboarded: int = 0
    active_merchants: int = 0
    gmv_fen: int = 0
    new_members: int = 0
    counted_payments: int = 0

    @property
    def gmv_yuan(self) -> Decimal:
        return Decimal(self.gmv_fen) / 100

    @property
    def has_activity(self) -> bool:
        return self.counted_payments > 0 or self.new_members > 0 or self.merchants_onboarded > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "merchants_onboarded": self.merchants_onboarded,
            "active_merchants": self.active_merchants,
            "gmv_yuan": number(self.gmv_yuan),
            "new_members": self.new_members,
            "gmv_fen": self.gmv_fen,
            "counted_payments": self.counted_payments,
        }

    def add(self, other: Metrics) -> None:
        """Add another shard's (or payment's) counts to these."""
        self.merchants_onboarded += other.merchants_onboarded
        self.active_merchants += other.active_merchants
        self.gmv_fen += other.gmv_fen
        self.new_members += other.new_members
        self.counted_payments += other.counted_payments

    def key(self) -> tuple[int, int, int, int, int]:
        return (self.merchants_onboarded, self.active_merchants, self.gmv_fen, self.new_members,
                self.counted_payments)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metrics:
        return cls(int(d.get("merchants_onboarded", 0)), int(d.get("active_merchants", 0)),
                   int(d.get("gmv_fen", 0)), int(d.get("new_members", 0)), int(d.get("counted_payments", 0)))


@dataclass(frozen=True)
class Entry:
    rank: int
    partner_id: str
    name: str
    score: Decimal
    metrics: Metrics

    def as_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "partner_id": self.partner_id, "name": self.name,
                "score": number(self.score), "metrics": self.metrics.as_dict()}


def number(d: Decimal) -> int | float:
    """A Decimal as a JSON number: an int when integral."""
    return int(d) if d == d.to_integral_value() else float(d)


# ------------------------------------------------------------------ counted payments


def business_day(t: datetime, tz: tzinfo) -> date:
    return t.astimezone(tz).date()


def day_start(d: date, tz: tzinfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz)


def bucket_span(contest: Contest, tz: tzinfo) -> tuple[datetime, datetime]:
    """The times whose per-day cap can matter to the contest: whole business days overlapping it."""
    first = day_start(business_day(contest.starts_at, tz), tz)
    last = day_start(business_day(contest.ends_at, tz) + timedelta(days=1), tz)
    return first, last


def unique(payments: Iterable[PaymentFact]) -> list[PaymentFact]:
    """One fact per payment (merchant, out_trade_no). Facts only grow (refunds add up, a
    confirmation stays), so a repeated fact keeps the confirmed one and the largest refund."""
    seen: dict[tuple[str, str], PaymentFact] = {}
    for p in payments:
        key = (p.merchant_id, p.out_trade_no)
        old = seen.get(key)
        if old is None:
            seen[key] = p
            continue
        base = p if p.confirmed and not old.confirmed else old
        refunded = max(p.refunded_fen, old.refunded_fen)
        seen[key] = base if base.refunded_fen == refunded else replace(base, refunded_fen=refunded)
    return list(seen.values())


def as_counted(p: PaymentFact, rules: Rules) -> PaymentFact | None:
    """The payment as the contest sees it. Revision 1 (`require_platform_confirmation` false): as
    recorded. Confirmation rule: only a confirmed payment, at the platform's payment time and
    amount whatever the terminal said (refunds still reduce it); an unconfirmed one is None."""
    if not rules.require_platform_confirmation:
        return p
    if not p.confirmed or p.platform_paid_at is None or p.platform_amount_fen is None:
        return None
    return replace(p, paid_at=p.platform_paid_at, amount_fen=p.platform_amount_fen)


def counted_payments(payments: Iterable[PaymentFact], rules: Rules, tz: tzinfo) -> list[PaymentFact]:
    """The payments that count (as `as_counted` sees them): above the minimum and within the
    per-buyer-per-day cap."""
    buckets: dict[tuple[str, str, date], list[PaymentFact]] = defaultdict(list)
    for fact in unique(payments):
        p = as_counted(fact, rules)
        if p is not None and p.amount_fen >= rules.min_payment_fen:
            buckets[(p.merchant_id, p.buyer_id, business_day(p.paid_at, tz))].append(p)
    out: list[PaymentFact] = []
    for group in buckets.values():
        out.extend(sorted(group, key=lambda p: p.order)[: rules.cap])
    return sorted(out, key=lambda p: (p.merchant_id, p.order))


def first_min_fen(rules: Rules) -> int:
    """The smallest payment that can be a merchant's "first" for onboarding: revision 1 counts
    the first *counted* payment (≥ the minimum); the confirmation rule the first *recorded* one."""
    return 0 if rules.require_platform_confirmation else rules.min_payment_fen


def first_payments(payments: Iterable[PaymentFact], rules: Rules) -> dict[str, PaymentFact]:
    """Each merchant's first payment ever by (`paid_at` as first recorded, `out_trade_no`), among
    payments of at least `first_min_fen`. Revision 1: its first counted payment (with a cap of at
    least 1, the earliest qualifying payment of a day always takes that day's first slot).
    Confirmation rule: its first recorded payment, any channel, amount or confirmation."""
    floor = first_min_fen(rules)
    firsts: dict[str, PaymentFact] = {}
    for p in payments:
        if p.amount_fen < floor:
            continue
        old = firsts.get(p.merchant_id)
        if old is None or p.order < old.order:
            firsts[p.merchant_id] = p
    return firsts


def onboarded(rules: Rules, first_round: int | None, counted_in: Mapping[int, int]) -> int | None:
    """The round a merchant counts as onboarded in, given the round of its first payment (see
    `first_payments`) and its counted payments per round: revision 1, that round; confirmation
    rule, that round only if the merchant has a counted (so confirmed) payment in it — so neither
    an invented (unconfirmed) payment nor a late verification moves a merchant's onboarding."""
    if first_round is None:
        return None
    if rules.require_platform_confirmation and counted_in.get(first_round, 0) < 1:
        return None
    return first_round


def round_metrics(contest: Contest, round_no: int, payments: Iterable[PaymentFact],
                  memberships: Iterable[MembershipFact], tz: tzinfo) -> dict[str, Metrics]:
    """Metrics per partner in one round. `payments` must hold, per merchant, every payment that
    `as_counted` puts in the business days overlapping the round, and its first payment ever
    (`first_payments`) — or at least its earliest qualifying payment before those days."""
    w = contest.window(round_no)
    rules = contest.rules
    facts = unique(payments)
    out: dict[str, Metrics] = defaultdict(Metrics)
    per_merchant: dict[tuple[str, str], int] = defaultdict(int)
    for p in counted_payments(facts, rules, tz):
        if w.holds(p.paid_at):
            m = out[p.partner_id]
            m.counted_payments += 1
            m.gmv_fen += p.net_fen
            per_merchant[(p.partner_id, p.merchant_id)] += 1
    for (partner_id, _), n in per_merchant.items():
        if n >= rules.active_merchant_min_payments:
            out[partner_id].active_merchants += 1
    for p in first_payments(facts, rules).values():
        first_round = round_no if w.holds(p.paid_at) else None
        if onboarded(rules, first_round, {round_no: per_merchant.get((p.partner_id, p.merchant_id), 0)}):
            out[p.partner_id].merchants_onboarded += 1
    seen: set[str] = set()
    for ms in memberships:
        if ms.membership_id not in seen and w.holds(ms.created_at):
            seen.add(ms.membership_id)
            out[ms.partner_id].new_members += 1
    return dict(out)


# ------------------------------------------------------------------ score and ranking


def score(weights: Weights, m: Metrics) -> Decimal:
    return (weights.merchants_onboarded * m.merchants_onboarded + weights.active_merchants * m.active_merchants
            + weights.gmv_yuan * m.gmv_yuan + weights.new_members * m.new_members)


def rank(contest: Contest, metrics: dict[str, Metrics], names: dict[str, str]) -> list[Entry]:
    """The board: partners with activity, by score, then higher GMV, then partner id ascending."""
    rows = [(pid, m, score(contest.weights, m)) for pid, m in metrics.items() if m.has_activity]
    rows.sort(key=lambda r: (-r[2], -r[1].gmv_fen, r[0]))
    return [Entry(i, pid, names.get(pid, pid), s, m) for i, (pid, m, s) in enumerate(rows, start=1)]


def winners(entries: Sequence[Entry], prizes: Sequence[Prize]) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        for prize in prizes:
            if prize.rank_from <= e.rank <= prize.rank_to:
                out.append({"rank": e.rank, "partner_id": e.partner_id, "prize": prize.prize})
                break
    return out


# ------------------------------------------------------------------ incremental rules (stream path)


@dataclass(frozen=True)
class Slot(_Counted):
    """A payment kept in a (merchant, buyer, day) bucket."""

    out_trade_no: str
    paid_at: datetime
    amount_fen: int
    refunded_fen: int = 0


@dataclass(frozen=True)
class BucketChange:
    slots: tuple[Slot, ...]
    added: Slot | None = None  # newly counted
    removed: Slot | None = None  # displaced from the cap by an earlier payment
    refund_of: Slot | None = None  # a kept payment whose refunded total grew
    refund_delta_fen: int = 0  # how much its net amount fell

    @property
    def changed(self) -> bool:
        return self.added is not None or self.refund_delta_fen != 0


def apply_to_bucket(slots: Sequence[Slot], incoming: Slot, cap: int) -> BucketChange:
    """Fold one (possibly repeated, possibly late) qualifying payment into a bucket that keeps
    the earliest `cap` of them. Idempotent: the same fact twice changes nothing the second time;
    refunds only grow, so an older image never undoes a newer one."""
    kept = list(slots)
    for i, s in enumerate(kept):
        if s.out_trade_no == incoming.out_trade_no:
            if incoming.refunded_fen > s.refunded_fen:
                grown = replace(s, refunded_fen=incoming.refunded_fen)
                kept[i] = grown
                return BucketChange(tuple(kept), refund_of=grown, refund_delta_fen=s.net_fen - grown.net_fen)
            return BucketChange(tuple(kept))
    candidate = sorted([*kept, incoming], key=lambda s: s.order)
    if incoming not in candidate[:cap]:
        return BucketChange(tuple(kept))  # later than a full bucket (or already displaced)
    removed = candidate[cap] if len(candidate) > cap else None
    return BucketChange(tuple(candidate[:cap]), added=incoming, removed=removed)


def first_transition(current: tuple[datetime, str] | None,
                     incoming: tuple[datetime, str]) -> tuple[datetime, str] | None:
    """The merchant's new first payment (see `first_payments`) if `incoming` precedes `current`, else None."""
    if current is None or incoming < current:
        return incoming
    return None


def onboarding_moves(rules: Rules, first_before: int | None, first_after: int | None,
                     counted_before: Mapping[int, int], counted_after: Mapping[int, int]) -> dict[int, int]:
    """The ±1 of `merchants_onboarded` per round when a merchant's first payment moves (from
    round `first_before` to `first_after`) or its counted payments per round move (`counted_*`
    must hold the rounds of both firsts and every round whose count moved)."""
    before = onboarded(rules, first_before, counted_before)
    after = onboarded(rules, first_after, counted_after)
    if before == after:
        return {}
    moves = {r: 0 for r in (before, after) if r is not None}
    if before is not None:
        moves[before] -= 1
    if after is not None:
        moves[after] += 1
    return moves


def shard_of(merchant_id: str, shards: int) -> int:
    """Counter shard of a merchant: spreads a large partner's writes over `shards` items."""
    return zlib.crc32(merchant_id.encode()) % shards

"""Stream-fed contest counters: the write path that scales.

Each payment from the payments table's stream (and each new membership from the memberships
table's stream), as its owning area decodes it, is folded, per open contest, into small
versioned state rows and write-sharded counters, in ONE DynamoDB transaction per (record,
contest):

- the (contest, merchant, buyer, business day) bucket keeps the earliest `cap` qualifying
  payments; a late, earlier payment displaces the latest one (its counts and GMV move out);
- the (contest, merchant) row keeps the merchant's first payment ever — its first counted one
  (revision 1) or, with `require_platform_confirmation`, its first recorded one of any amount —
  seeded from the recorded payments the first time it is needed, so history before the contest
  counts;
- the (contest, round, merchant) row counts counted payments (for `active_merchants` and, with
  the confirmation rule, whether the round of the first payment has a counted one);
- the counters (contest, round, partner, shard) get ADD deltas; shard = crc32(merchant) % shards.

With the confirmation rule the buckets see a payment only once it is confirmed, at the platform's
time and amount (`domain.as_counted`): the payment item's MODIFY that records the confirmation is,
for such a contest, what an INSERT is for the others.

Every state row carries a version and is written on condition that it has not moved since it
was read (optimistic concurrency; conflicts re-read and retry); a row read only to decide (the
first-payment row when a round's count crosses 0↔1, merchant-round rows when the first payment
moves) is a condition check of the same transaction. A redelivered record finds its payment
already in the bucket (or already displaced) and changes nothing, so Lambda retries and
duplicate records never double count.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from chalicelib.contests.domain import (
    Contest,
    MembershipFact,
    PaymentFact,
    Slot,
    apply_to_bucket,
    as_counted,
    bucket_span,
    business_day,
    first_min_fen,
    first_transition,
    onboarding_moves,
    shard_of,
)
from chalicelib.contests.ports import Check, Commit, CounterKey, Put, StateStore
from chalicelib.errors import StorageUnavailable

Seeder = Callable[[str, int], PaymentFact | None]  # (merchant_id, min_fen) -> earliest of ≥ min_fen
Registrar = Callable[[str, int, str, int], None]  # (contest_id, round, partner_id, shard)

MAX_ATTEMPTS = 25
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"  # state rows' timestamps: UTC, microseconds, "+0000"


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime(_TS_FORMAT)


def _dt(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _slot_doc(s: Slot) -> dict[str, Any]:
    return {"o": s.out_trade_no, "t": _ts(s.paid_at), "a": s.amount_fen, "r": s.refunded_fen}


def _slot(d: dict[str, Any]) -> Slot:
    return Slot(str(d["o"]), _dt(d["t"]), int(d["a"]), int(d.get("r", 0)))


class ContestAggregator:
    def __init__(self, store: StateStore, tz: tzinfo, shards: int, seed_first: Seeder | None = None,
                 register: Registrar | None = None) -> None:
        self.store = store
        self.tz = tz
        self.shards = shards
        self._seed = seed_first or (lambda merchant_id, min_fen: None)
        self._register = register
        self._registered: set[tuple[str, int, str, int]] = set()

    # ---------------------------------------------------------------- payments

    def apply_payment(self, p: PaymentFact, contests: Iterable[Contest]) -> None:
        for contest in contests:
            self._retry(functools.partial(self._payment_once, contest, p))

    def _payment_once(self, c: Contest, p: PaymentFact) -> bool:
        rules = c.rules
        confirmation = rules.require_platform_confirmation
        seen = as_counted(p, rules)  # what the buckets count: None when the contest does not see it
        if seen is not None and seen.amount_fen < rules.min_payment_fen:
            seen = None  # takes no slot
        floor = first_min_fen(rules)
        lo, hi = bucket_span(c, self.tz)
        bkey = (f"B#{c.contest_id}#{p.merchant_id}#{p.buyer_id}#{business_day(seen.paid_at, self.tz)}"
                if seen is not None and lo <= seen.paid_at < hi else None)
        # The first-payment row: when this payment may be the merchant's first in the contest's
        # time, and (confirmation rule) whenever its counted payments may move, because its
        # onboarding then depends on the round of that first payment.
        may_be_first = p.amount_fen >= floor and p.paid_at < c.ends_at
        fkey = (f"F#{c.contest_id}#{p.merchant_id}"
                if may_be_first or (confirmation and bkey is not None) else None)
        if bkey is None and fkey is None:
            return True
        rows = self.store.read(k for k in (bkey, fkey) if k)
        commit = Commit()
        key = CounterKey(c.contest_id, 0, p.partner_id, shard_of(p.merchant_id, self.shards))

        def counter(round_no: int | None, name: str, delta: int) -> None:
            if round_no is not None:
                commit.add(CounterKey(key.contest_id, round_no, key.partner_id, key.shard), name, delta)

        per_round: dict[int, int] = defaultdict(int)  # this merchant's counted payments per round
        if bkey is not None and seen is not None:
            row = rows.get(bkey)
            slots = [_slot(d) for d in (row.data.get("slots", []) if row else [])]
            change = apply_to_bucket(slots, Slot(seen.out_trade_no, seen.paid_at, seen.amount_fen,
                                                 seen.refunded_fen), rules.cap)
            if change.changed:
                commit.puts.append(Put(bkey, row.version if row else None,
                                       {"slots": [_slot_doc(s) for s in change.slots]}))
                if change.added is not None:
                    r = c.round_of(change.added.paid_at)
                    counter(r, "counted_payments", 1)
                    counter(r, "gmv_fen", change.added.net_fen)
                    if r is not None:
                        per_round[r] += 1
                if change.removed is not None:
                    r = c.round_of(change.removed.paid_at)
                    counter(r, "counted_payments", -1)
                    counter(r, "gmv_fen", -change.removed.net_fen)
                    if r is not None:
                        per_round[r] -= 1
                if change.refund_of is not None:
                    counter(c.round_of(change.refund_of.paid_at), "gmv_fen", -change.refund_delta_fen)
        first_before: tuple[datetime, str] | None = None
        first_after: tuple[datetime, str] | None = None
        frow = rows.get(fkey) if fkey else None
        if fkey is not None:
            first_before = (_dt(frow.data["t"]), str(frow.data["o"])) if frow else None
            incoming: tuple[datetime, str] | None = p.order if p.amount_fen >= floor else None
            if frow is None:
                seed = self._seed(p.merchant_id, floor)
                if seed is not None and (incoming is None or seed.order < incoming):
                    incoming = seed.order
            new = first_transition(first_before, incoming) if incoming is not None else None
            first_after = new or first_before
            if new is not None:
                commit.puts.append(Put(fkey, frow.version if frow else None, {"t": _ts(new[0]), "o": new[1]}))
        first_moved = first_after != first_before
        round_before = c.round_of(first_before[0]) if first_before else None
        round_after = c.round_of(first_after[0]) if first_after else None

        moved = {r: d for r, d in per_round.items() if d}
        wanted = set(moved)
        if confirmation and round_before != round_after:  # moving within a round changes no onboarding
            wanted |= {r for r in (round_before, round_after) if r is not None}
        counts_before: dict[int, int] = {}
        counts_after: dict[int, int] = {}
        if wanted:
            mkeys = {r: f"M#{c.contest_id}#{r}#{p.merchant_id}" for r in wanted}
            mrows = self.store.read(mkeys.values())
            need = rules.active_merchant_min_payments
            for r in sorted(wanted):
                mrow = mrows.get(mkeys[r])
                old = int(mrow.data.get("n", 0)) if mrow else 0
                counts_before[r], counts_after[r] = old, old + moved.get(r, 0)
                if r in moved:
                    commit.puts.append(Put(mkeys[r], mrow.version if mrow else None, {"n": counts_after[r]}))
                    counter(r, "active_merchants", int(counts_after[r] >= need) - int(old >= need))
                else:  # read only for the onboarding decision: it must not have moved meanwhile
                    commit.checks.append(Check(mkeys[r], mrow.version if mrow else None))
        for r, d in onboarding_moves(rules, round_before, round_after, counts_before, counts_after).items():
            counter(r, "merchants_onboarded", d)
        crossed = any((counts_before[r] >= 1) != (counts_after[r] >= 1) for r in moved)
        if confirmation and fkey is not None and crossed and not first_moved:
            # the onboarding decision read the first-payment row: it must not have moved meanwhile
            commit.checks.append(Check(fkey, frow.version if frow else None))
        if commit.empty:
            return True
        self._ensure_registered(commit)
        return self.store.commit(commit)

    # ---------------------------------------------------------------- memberships

    def apply_membership(self, m: MembershipFact, contests: Iterable[Contest]) -> None:
        for contest in contests:
            self._retry(functools.partial(self._membership_once, contest, m))

    def _membership_once(self, c: Contest, m: MembershipFact) -> bool:
        r = c.round_of(m.created_at)
        if r is None:
            return True
        gkey = f"G#{c.contest_id}#{m.membership_id}"
        if self.store.read([gkey]):
            return True  # already counted
        commit = Commit(puts=[Put(gkey, None, {})])
        commit.add(CounterKey(c.contest_id, r, m.partner_id, shard_of(m.merchant_id, self.shards)),
                   "new_members", 1)
        self._ensure_registered(commit)
        return self.store.commit(commit)

    # ---------------------------------------------------------------- plumbing

    def _ensure_registered(self, commit: Commit) -> None:
        """Record (once per process) which counter shards a round has, before they exist, so the
        ranking job reads only the shards of partners with activity."""
        if self._register is None:
            return
        for key in commit.adds:
            ident = (key.contest_id, key.round, key.partner_id, key.shard)
            if ident not in self._registered:
                self._register(*ident)
                self._registered.add(ident)

    @staticmethod
    def _retry(attempt: Callable[[], bool]) -> None:
        for i in range(MAX_ATTEMPTS):
            if attempt():
                return
            time.sleep(min(0.001 * (2 ** min(i, 6)), 0.05))
        raise StorageUnavailable("contest state kept moving; the stream batch will be retried")

"""The memberships area's DynamoDB adapters:

- `DynamoMembershipRepository` (`ports.MembershipRepository`): plans, memberships, their fee
  ledger and the one-active-membership guard, each status change one conditional transaction;
- `DynamoMemberSavings` (`chalicelib.payments.ports.MemberSavings`): the savings rule for a
  payment, and the savings update this area contributes to the payments area's transaction;
- `DynamoMembershipHistory` (`ports.MembershipHistory`): the memberships the contest counts;
- `DynamoIdempotencyStore` (`idempotency.IdempotencyStore`): `Idempotency-Key` claims.

Each passes the same contract suite as its fake (tests/integration/test_memberships_contract.py,
test_idempotency_contract.py). Conditions here are the rules of `domain.py` written as
DynamoDB condition expressions; failed conditions come back as False or a domain `Conflict`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.errors import Conflict
from chalicelib.memberships.domain import (
    ACTIVE,
    EXPIRED,
    REFUNDED,
    SAVINGS_OPEN_STATUSES,
    SETTLED,
    LedgerEntry,
    Membership,
    MembershipTerms,
    Plan,
    already_member,
    members_summary,
    savings_decision,
)
from chalicelib.memberships.idempotency import DONE, IN_PROGRESS, Claim, IdempotencyRecord, Outcome
from chalicelib.memberships.models import (
    DUE_SHARDS,
    LedgerLine,
    MembershipLedgerModel,
    MembershipModel,
    PlanModel,
    active_guard_key,
    due_shard,
    member_key,
)
from chalicelib.memberships.models import IdempotencyRecordModel as Rec
from chalicelib.memberships.ports import MembershipRecord
from chalicelib.observability import logger
from chalicelib.onboarding.domain import ListPosition, Page, list_order
from chalicelib.payments.ports import NO_SAVINGS, SavingsDecision
from chalicelib.storage import (
    GuardModel,
    Tx,
    delete_if,
    run_transaction,
    save_if,
    update_if,
    with_retries,
)


def _plan(m: PlanModel) -> Plan:
    return Plan(
        plan_id=m.plan_id, merchant_id=m.merchant_id, name=m.name, fee_fen=int(m.fee_fen),
        period_days=int(m.period_days), discount_percent=int(m.discount_percent),
        refund_window_days=int(m.refund_window_days), created_at=m.created_at,
        max_discount_per_order_fen=None if m.max_discount_per_order_fen is None else int(m.max_discount_per_order_fen),
    )


def _membership(m: MembershipModel) -> Membership:
    cap = m.max_discount_per_order_fen
    return Membership(
        membership_id=m.membership_id, merchant_id=m.merchant_id, partner_id=m.partner_id,
        customer_id=m.customer_id, plan_id=m.plan_id, plan_name=m.plan_name, status=m.status,
        fee_fen=int(m.fee_fen), discount_percent=int(m.discount_percent),
        max_discount_per_order_fen=None if cap is None else int(cap), savings_fen=int(m.savings_fen or 0),
        starts_at=m.starts_at, ends_at=m.ends_at, refund_deadline=m.refund_deadline, created_at=m.created_at,
        refund_fen=None if m.refund_fen is None else int(m.refund_fen), refunded_at=m.refunded_at,
        settled_at=m.settled_at, provider_pending=m.provider_pending, refund_key=m.refund_key,
    )


def _entry_item(e: LedgerEntry, merchant_id: str) -> MembershipLedgerModel:
    return MembershipLedgerModel(
        e.membership_id, e.kind, merchant_id=merchant_id, at=e.at,
        lines=[LedgerLine(account=a, amount_fen=n) for a, n in e.lines],
    )


def _entry(m: MembershipLedgerModel) -> LedgerEntry:
    return LedgerEntry(m.membership_id, m.kind, tuple((ln.account, int(ln.amount_fen)) for ln in m.lines), m.at)


def _shown_as(status: str | None, now: datetime) -> Condition | None:
    """`Membership.status_at(now) == status` as a condition on the stored item."""
    open_ = MembershipModel.status.is_in(*SAVINGS_OPEN_STATUSES)  # active or expired, as stored
    if status == ACTIVE:
        return (MembershipModel.status == ACTIVE) & (MembershipModel.ends_at > now)
    if status == EXPIRED:
        return open_ & (MembershipModel.refund_deadline > now) & (
            (MembershipModel.status == EXPIRED) | (MembershipModel.ends_at <= now))
    if status == SETTLED:
        return (MembershipModel.status == SETTLED) | (open_ & (MembershipModel.refund_deadline <= now))
    if status == REFUNDED:
        return MembershipModel.status == REFUNDED
    return None


def _expiring(m: Membership) -> list[Action]:
    """`active` → `expired`: next due at the refund deadline."""
    return [MembershipModel.status.set(EXPIRED), MembershipModel.due_at.set(m.refund_deadline)]


# ---------------------------------------------------------------- the repository


class DynamoMembershipRepository:
    """`MembershipRepository` over the plans, memberships, membership_ledger and guards tables."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def backfill_list_order(self) -> dict[str, int]:
        """A one-off migration (job `backfill_list_order`): memberships locked before the lists
        existed get their `list_order`; conditional on it still missing, so safe to run again."""
        missing = with_retries(lambda: list(MembershipModel.scan(MembershipModel.list_order.does_not_exist())))
        written = 0
        for item in missing:
            order = list_order(item.created_at, item.membership_id)
            written += update_if(item, [MembershipModel.list_order.set(order)],
                                 MembershipModel.list_order.does_not_exist())
        return {MembershipModel.TABLE: written}

    # -- plans
    def add_plan(self, plan: Plan) -> None:
        item = PlanModel(
            plan.plan_id, merchant_id=plan.merchant_id, name=plan.name, fee_fen=plan.fee_fen,
            period_days=plan.period_days, discount_percent=plan.discount_percent,
            max_discount_per_order_fen=plan.max_discount_per_order_fen,
            refund_window_days=plan.refund_window_days, created_at=plan.created_at,
        )
        if not save_if(item, PlanModel.plan_id.does_not_exist()):
            raise Conflict("plan id collision", code="conflict")

    def get_plan(self, plan_id: str) -> Plan | None:
        try:
            return _plan(with_retries(lambda: PlanModel.get(plan_id)))
        except DoesNotExist:
            return None

    def list_plans(self, merchant_id: str) -> list[Plan]:
        plans = with_retries(lambda: [_plan(m) for m in PlanModel.merchant_index.query(merchant_id)])
        return sorted(plans, key=lambda p: (p.created_at, p.plan_id))

    # -- memberships
    def get(self, membership_id: str) -> Membership | None:
        try:
            return _membership(with_retries(lambda: MembershipModel.get(membership_id, consistent_read=True)))
        except DoesNotExist:
            return None

    def for_customer(self, customer_id: str) -> list[Membership]:
        return with_retries(lambda: [_membership(m) for m in MembershipModel.customer_index.query(
            customer_id, scan_index_forward=False)])

    def merchant_page(self, merchant_id: str, status: str | None, now: datetime, limit: int,
                      after: ListPosition | None) -> Page[Membership]:
        start = None if after is None else {"merchant_id": {"S": merchant_id}, "list_order": {"S": after.order},
                                            "membership_id": {"S": after.item_id}}

        def read() -> list[Membership]:
            found: list[Membership] = []
            # the filter is `status_at` as a condition; the index reads on until the page is full
            # (DynamoDB's Limit counts items before the filter)
            for item in MembershipModel.merchant_created_index.query(
                    merchant_id, scan_index_forward=False, filter_condition=_shown_as(status, now),
                    page_size=limit + 1, last_evaluated_key=start):
                m = _membership(item)
                if status is None or m.status_at(now) == status:
                    found.append(m)
                    if len(found) > limit:
                        break
            return found

        rows = with_retries(read)
        return Page(tuple(rows[:limit]), more=len(rows) > limit)

    def for_member(self, merchant_id: str, customer_id: str, started_by: datetime) -> list[Membership]:
        return with_retries(lambda: [_membership(m) for m in MembershipModel.member_index.query(
            member_key(merchant_id, customer_id), MembershipModel.starts_at <= started_by,
            scan_index_forward=False, limit=10)])

    def active_holder(self, merchant_id: str, customer_id: str) -> str | None:
        try:
            guard = with_retries(lambda: GuardModel.get(active_guard_key(merchant_id, customer_id),
                                                        consistent_read=True))
        except DoesNotExist:
            return None
        return guard.owner

    def lock(self, m: Membership, entry: LedgerEntry, provider_ref: str, now: datetime) -> Membership:
        guard_key = active_guard_key(m.merchant_id, m.customer_id)
        item = MembershipModel(
            m.membership_id, merchant_id=m.merchant_id, partner_id=m.partner_id, customer_id=m.customer_id,
            member_key=member_key(m.merchant_id, m.customer_id), plan_id=m.plan_id, plan_name=m.plan_name,
            status=ACTIVE, fee_fen=m.fee_fen, discount_percent=m.discount_percent,
            max_discount_per_order_fen=m.max_discount_per_order_fen, savings_fen=0, starts_at=m.starts_at,
            ends_at=m.ends_at, refund_deadline=m.refund_deadline, created_at=m.created_at,
            list_order=list_order(m.created_at, m.membership_id),
            due_shard=due_shard(m.membership_id), due_at=m.ends_at, provider_ref=provider_ref,
        )
        stale: Membership | None = None  # a holder whose period ended but the job has not expired yet
        for _ in range(4):
            def build(tx: Tx, stale: Membership | None = stale) -> None:
                guard_cond = GuardModel.key.does_not_exist() if stale is None else (
                    GuardModel.owner == stale.membership_id)
                tx.put("guard", GuardModel(guard_key, owner=m.membership_id), condition=guard_cond)
                tx.put("membership", item, condition=MembershipModel.membership_id.does_not_exist())
                tx.put("ledger", _entry_item(entry, m.merchant_id),
                       condition=MembershipLedgerModel.membership_id.does_not_exist())
                if stale is not None and stale.status == ACTIVE:
                    tx.update("stale", MembershipModel(stale.membership_id), _expiring(stale),
                              condition=MembershipModel.status == ACTIVE)

            result = run_transaction(self._conn, build)
            if result.ok:
                return replace(m, status=ACTIVE, savings_fen=0)
            if "membership" in result.failed:  # this lock-in happened already
                existing = self.get(m.membership_id)
                if existing is not None and existing.customer_id == m.customer_id:
                    return existing
                raise Conflict("membership id collision", code="conflict")
            holder_id = self.active_holder(m.merchant_id, m.customer_id)
            if holder_id is None:
                stale = None
                continue
            if holder_id == m.membership_id:
                existing = self.get(m.membership_id)
                if existing is not None:
                    return existing
            holder = self.get(holder_id)
            if holder is not None and holder.status == ACTIVE and now < holder.ends_at:
                raise already_member()
            # The holder's period is over (or the guard outlived it): take the guard over.
            stale = holder or replace(m, membership_id=holder_id, status=EXPIRED)
        raise Conflict("the membership changed concurrently; retry", code="already_member")

    def expire(self, m: Membership) -> bool:
        def build(tx: Tx) -> None:
            tx.update("membership", MembershipModel(m.membership_id), _expiring(m),
                      condition=MembershipModel.status == ACTIVE)
            tx.delete("guard", GuardModel(active_guard_key(m.merchant_id, m.customer_id)),
                      condition=GuardModel.owner == m.membership_id)

        result = run_transaction(self._conn, build)
        if result.ok:
            return True
        if "membership" in result.failed:
            return False
        # the guard was taken over by a newer lock-in; expire without it
        return self._update_if(m.membership_id, _expiring(m), MembershipModel.status == ACTIVE)

    @staticmethod
    def _update_if(membership_id: str, actions: list[Action], condition: Condition | None) -> bool:
        return update_if(MembershipModel(membership_id), actions, condition)

    def settle(self, m: Membership, entry: LedgerEntry, now: datetime) -> bool:
        def build(tx: Tx) -> None:
            tx.update("membership", MembershipModel(m.membership_id),
                      [MembershipModel.status.set(SETTLED), MembershipModel.settled_at.set(now),
                       MembershipModel.provider_pending.set("capture"), MembershipModel.due_at.set(now)],
                      condition=MembershipModel.status == EXPIRED)
            tx.put("ledger", _entry_item(entry, m.merchant_id),
                   condition=MembershipLedgerModel.membership_id.does_not_exist())

        return run_transaction(self._conn, build).ok

    def refund(self, m: Membership, refund_fen: int, entry: LedgerEntry, now: datetime, key: str | None) -> bool:
        actions: list[Action] = [MembershipModel.status.set(REFUNDED), MembershipModel.refund_fen.set(refund_fen),
                                 MembershipModel.refunded_at.set(now), MembershipModel.provider_pending.set("refund"),
                                 MembershipModel.due_at.set(now),
                                 MembershipModel.due_shard.set(due_shard(m.membership_id))]
        if key is not None:
            actions.append(MembershipModel.refund_key.set(key))

        def build(tx: Tx) -> None:
            unchanged = (MembershipModel.status == m.status) & (MembershipModel.savings_fen == m.savings_fen)
            tx.update("membership", MembershipModel(m.membership_id), actions, condition=unchanged)
            tx.put("ledger", _entry_item(entry, m.merchant_id),
                   condition=MembershipLedgerModel.membership_id.does_not_exist())
            if m.status == ACTIVE:  # still holds the guard: release it in the same write
                tx.delete("guard", GuardModel(active_guard_key(m.merchant_id, m.customer_id)),
                          condition=GuardModel.owner == m.membership_id)

        return run_transaction(self._conn, build).ok

    def provider_done(self, membership_id: str, pending: str) -> None:
        self._update_if(membership_id, [MembershipModel.provider_pending.remove(), MembershipModel.due_at.remove(),
                                        MembershipModel.due_shard.remove()],
                        MembershipModel.provider_pending == pending)

    def due(self, now: datetime, limit: int) -> list[Membership]:
        def shard(n: int) -> list[Membership]:
            return [_membership(item) for item in MembershipModel.due_index.query(
                f"due#{n}", MembershipModel.due_at <= now, limit=limit)]

        return [m for n in range(DUE_SHARDS) for m in with_retries(partial(shard, n))]

    def all_memberships(self) -> list[Membership]:
        return with_retries(lambda: [_membership(m) for m in MembershipModel.scan(consistent_read=True)])

    def all_entries(self) -> list[LedgerEntry]:
        return with_retries(lambda: [_entry(m) for m in MembershipLedgerModel.scan(consistent_read=True)])


# ---------------------------------------------------------------- what payments asks of memberships


def savings_move(now: datetime) -> Condition:
    """`Membership.savings_move_at(now)` as a condition on the membership item."""
    return (MembershipModel.membership_id.exists() & MembershipModel.status.is_in(*SAVINGS_OPEN_STATUSES)
            & (MembershipModel.refund_deadline > now))


class DynamoMemberSavings:
    """`chalicelib.payments.ports.MemberSavings` over the memberships table."""

    def __init__(self, connection: Connection) -> None:
        self._repo = DynamoMembershipRepository(connection)

    def decide(self, merchant_id: str, buyer_id: str, amount_fen: int, discount_fen: int,
               paid_at: datetime) -> SavingsDecision:
        if discount_fen <= 0:
            return NO_SAVINGS
        return savings_decision(amount_fen, discount_fen, paid_at, self.membership_at(merchant_id, buyer_id, paid_at))

    def membership_at(self, merchant_id: str, buyer_id: str, at: datetime) -> MembershipTerms | None:
        """The buyer's membership at this merchant that started last at or before `at`.

        The index is eventually consistent: a membership locked a moment ago may not be in it
        yet. When it shows none covering `at`, the active guard (a consistent read) names the
        current one, so a member paying right after locking in still counts."""
        items = with_retries(lambda: list(MembershipModel.member_index.query(
            member_key(merchant_id, buyer_id), MembershipModel.starts_at <= at,
            scan_index_forward=False, limit=1)))
        m = _membership(items[0]) if items else None
        if m is None or m.ends_at <= at:
            m = self._holder_covering(merchant_id, buyer_id, at) or m
        return None if m is None else m.terms()

    def _holder_covering(self, merchant_id: str, buyer_id: str, at: datetime) -> Membership | None:
        holder_id = self._repo.active_holder(merchant_id, buyer_id)
        m = self._repo.get(holder_id) if holder_id else None
        return m if m is not None and m.starts_at <= at < m.ends_at else None

    def contribute(self, tx: Tx, membership_id: str, delta_fen: int, now: datetime) -> None:
        tx.update("membership", MembershipModel(membership_id), [MembershipModel.savings_fen.add(delta_fen)],
                  condition=savings_move(now))

    def summary(self, merchant_id: str, now: datetime) -> dict[str, int]:
        # the filter is `members_summary`'s own test (status_at(now) == active), pushed down
        active = (MembershipModel.status == ACTIVE) & (MembershipModel.ends_at > now)
        return members_summary(with_retries(lambda: [
            _membership(m) for m in MembershipModel.merchant_index.query(merchant_id, filter_condition=active)]), now)

    def all_savings(self) -> dict[str, int]:
        return with_retries(lambda: {
            m.membership_id: int(m.savings_fen or 0)
            for m in MembershipModel.scan(attributes_to_get=["membership_id", "savings_fen"])})


# ---------------------------------------------------------------- what the contest reads


def membership_record(image: dict[str, Any]) -> MembershipRecord | None:
    """The membership a (deserialized) memberships-table item image shows, None for other items."""
    if "membership_id" not in image or "sk" in image:
        return None
    return MembershipRecord(str(image["membership_id"]), str(image["merchant_id"]), str(image["partner_id"]),
                            MembershipModel.created_at.deserialize(str(image["created_at"])))


def _record(m: MembershipModel) -> MembershipRecord:
    return MembershipRecord(m.membership_id, m.merchant_id, m.partner_id, m.created_at)


class DynamoMembershipHistory:
    """`ports.MembershipHistory` over the memberships table (partner_created_index, scans)."""

    def __init__(self, workers: int = 8) -> None:
        self._workers = workers

    def for_partners(self, partner_ids: Iterable[str], since: datetime, until: datetime) -> list[MembershipRecord]:
        def one(pid: str) -> list[MembershipRecord]:
            return with_retries(lambda: [
                _record(m) for m in MembershipModel.partner_index.query(
                    pid, MembershipModel.created_at.between(since, until)) if m.created_at < until])

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return [r for chunk in pool.map(one, sorted(set(partner_ids))) for r in chunk]

    def between(self, since: datetime, until: datetime) -> list[MembershipRecord]:
        window = (MembershipModel.created_at >= since) & (MembershipModel.created_at < until)
        return with_retries(lambda: [_record(m) for m in MembershipModel.scan(window)])

    def all(self) -> list[MembershipRecord]:
        return with_retries(lambda: [_record(m) for m in MembershipModel.scan()])

    def from_stream_image(self, image: dict[str, Any]) -> MembershipRecord | None:
        return membership_record(image)


# ---------------------------------------------------------------- idempotency claims


def _claim_record(r: Rec) -> IdempotencyRecord:
    outcome = None if r.state != DONE else Outcome(int(r.response_status or 200), json.loads(r.response_body or "{}"))
    return IdempotencyRecord(r.request_hash or "", r.state or IN_PROGRESS, r.lease_until, r.expires_at, outcome)


class DynamoIdempotencyStore:
    """`IdempotencyStore` in the shared guards table (`idem#` keys, TTL `expires_at`)."""

    def claim(self, key: str, request_hash: str, now: datetime, lease_until: datetime,
              expires_at: datetime) -> Claim:
        item = Rec(key, state=IN_PROGRESS, request_hash=request_hash, lease_until=lease_until,
                   expires_at=expires_at)
        # absent, or `IdempotencyRecord.free_for(request_hash, now)`
        cond = (Rec.key.does_not_exist() | (Rec.expires_at < now)
                | ((Rec.state == IN_PROGRESS) & (Rec.lease_until < now) & (Rec.request_hash == request_hash)))
        for _ in range(3):
            if save_if(item, cond):
                return Claim("claimed")
            try:
                found = with_retries(lambda: Rec.get(key, consistent_read=True))
            except DoesNotExist:
                continue  # released meanwhile: claim again
            return _claim_record(found).answer(request_hash)
        return Claim("in_progress")

    @staticmethod
    def _held_by(request_hash: str) -> Condition:
        """`IdempotencyRecord.held_by(request_hash)` as a condition."""
        return (Rec.request_hash == request_hash) & (Rec.state == IN_PROGRESS)

    def complete(self, key: str, request_hash: str, outcome: Outcome) -> None:
        done = update_if(Rec(key), [Rec.state.set(DONE), Rec.response_status.set(outcome.status),
                                    Rec.response_body.set(json.dumps(outcome.body, separators=(",", ":")))],
                         self._held_by(request_hash))
        if not done:
            logger.warning("idempotency claim was taken over before completion", extra={"key": key})

    def release(self, key: str, request_hash: str) -> None:
        delete_if(Rec(key), self._held_by(request_hash))

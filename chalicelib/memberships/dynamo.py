"""The memberships area's DynamoDB adapters:

- here, `DynamoMembershipRepository` (`ports.MembershipRepository`): plans, memberships, their fee
  ledger and the one-active-membership guard, each status change one conditional transaction;
- `dynamo_shared.py`: what other areas read of this one — `DynamoMemberSavings`
  (`chalicelib.payments.ports.MemberSavings`: the savings rule for a payment and the savings update
  this area contributes to the payments area's transaction) and `DynamoMembershipHistory`
  (`ports.MembershipHistory`: the memberships the contest counts);
- `dynamo_idempotency.py`: `DynamoIdempotencyStore` (`idempotency.IdempotencyStore`), `Idempotency-Key` claims.

Each passes the same contract suite as its fake (tests/integration/test_memberships_contract.py,
test_idempotency_contract.py). Conditions here are the rules of `domain.py` written as
DynamoDB condition expressions; failed conditions come back as False or a domain `Conflict`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import partial

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
    Plan,
    already_member,
)
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
from chalicelib.onboarding.domain import ListPosition, Page, list_order
from chalicelib.storage import (
    GuardModel,
    Tx,
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


def membership_from(m: MembershipModel) -> Membership:
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
            return membership_from(with_retries(lambda: MembershipModel.get(membership_id, consistent_read=True)))
        except DoesNotExist:
            return None

    def for_customer(self, customer_id: str) -> list[Membership]:
        return with_retries(lambda: [membership_from(m) for m in MembershipModel.customer_index.query(
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
                m = membership_from(item)
                if status is None or m.status_at(now) == status:
                    found.append(m)
                    if len(found) > limit:
                        break
            return found

        rows = with_retries(read)
        return Page(tuple(rows[:limit]), more=len(rows) > limit)

    def for_member(self, merchant_id: str, customer_id: str, started_by: datetime) -> list[Membership]:
        return with_retries(lambda: [membership_from(m) for m in MembershipModel.member_index.query(
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
            return [membership_from(item) for item in MembershipModel.due_index.query(
                f"due#{n}", MembershipModel.due_at <= now, limit=limit)]

        return [m for n in range(DUE_SHARDS) for m in with_retries(partial(shard, n))]

    def all_memberships(self) -> list[Membership]:
        return with_retries(lambda: [membership_from(m) for m in MembershipModel.scan(consistent_read=True)])

    def all_entries(self) -> list[LedgerEntry]:
        return with_retries(lambda: [_entry(m) for m in MembershipLedgerModel.scan(consistent_read=True)])

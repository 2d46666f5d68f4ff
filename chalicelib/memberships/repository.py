"""Storage of plans, memberships and their fee ledger.

`MembershipRepository` is the port; `DynamoMembershipRepository` the PynamoDB adapter and
`InMemoryMembershipRepository` the fake the unit tests use. Every status change is one
conditional transaction together with its ledger entry (and the one-active-membership guard),
so two racing writers never both win and a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.errors import Conflict
from chalicelib.memberships.domain import (
    ACTIVE,
    EXPIRED,
    REFUNDED,
    SETTLED,
    LedgerEntry,
    Membership,
    PastPayment,
    Plan,
)
from chalicelib.memberships.models import (
    DUE_SHARDS,
    LedgerLine,
    MembershipLedgerModel,
    MembershipModel,
    PlanModel,
    member_key,
)
from chalicelib.payments.models import PaymentModel, buyer_key
from chalicelib.storage import GuardModel, cancellation_codes, error_code, with_retries

CCF = "ConditionalCheckFailed"


def already_member() -> Conflict:
    return Conflict("the customer already holds an active membership at this merchant", code="already_member")


def active_guard_key(merchant_id: str, customer_id: str) -> str:
    """The guard item that exists exactly while the customer's membership there is `active`."""
    return f"active_member#{merchant_id}#{customer_id}"


def due_shard(membership_id: str) -> str:
    return f"due#{int(hashlib.sha256(membership_id.encode()).hexdigest(), 16) % DUE_SHARDS}"


class MembershipRepository(Protocol):
    def add_plan(self, plan: Plan) -> None: ...
    def get_plan(self, plan_id: str) -> Plan | None: ...
    def list_plans(self, merchant_id: str) -> list[Plan]: ...
    def get(self, membership_id: str) -> Membership | None: ...
    def for_customer(self, customer_id: str) -> list[Membership]: ...
    def for_member(self, merchant_id: str, customer_id: str, started_by: datetime) -> list[Membership]:
        """The customer's memberships at the merchant started by then, newest first."""
    def active_holder(self, merchant_id: str, customer_id: str) -> str | None:
        """The membership id holding the one-active guard, if any."""
    def lock(self, m: Membership, entry: LedgerEntry, provider_ref: str, now: datetime) -> Membership:
        """Claim the guard, store the membership and its LOCK entry, atomically. A holder whose
        period already ended is moved to `expired` in the same write. `Conflict(already_member)`
        while another membership is active; returns the stored one if this id exists already."""
    def expire(self, m: Membership) -> bool:
        """`active` → `expired` (releases the guard); False if it was no longer active."""
    def settle(self, m: Membership, entry: LedgerEntry, now: datetime) -> bool:
        """`expired` → `settled` with the CAPTURE entry, capture pending at the provider."""
    def refund(self, m: Membership, refund_fen: int, entry: LedgerEntry, now: datetime, key: str | None) -> bool:
        """→ `refunded` if status and savings are still those of `m`; False otherwise."""
    def provider_done(self, membership_id: str, pending: str) -> None: ...
    def due(self, now: datetime, limit: int) -> list[Membership]:
        """Memberships whose next lifecycle step (or pending provider call) is due."""
    def all_memberships(self) -> list[Membership]: ...
    def all_entries(self) -> list[LedgerEntry]: ...
    def buyer_payments(self, merchant_id: str, buyer_id: str, since: datetime, until: datetime) -> list[PastPayment]:
        ...


# ---------------------------------------------------------------- PynamoDB adapter


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


def _committed(write: Callable[[], None]) -> bool:
    """Run a conditional transaction: True if it committed, False if a condition failed."""
    try:
        with_retries(write)
        return True
    except TransactWriteError as e:
        if CCF in cancellation_codes(e):
            return False
        raise


class DynamoMembershipRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    # -- plans
    def add_plan(self, plan: Plan) -> None:
        item = PlanModel(
            plan.plan_id, merchant_id=plan.merchant_id, name=plan.name, fee_fen=plan.fee_fen,
            period_days=plan.period_days, discount_percent=plan.discount_percent,
            max_discount_per_order_fen=plan.max_discount_per_order_fen,
            refund_window_days=plan.refund_window_days, created_at=plan.created_at,
        )
        with_retries(lambda: item.save(condition=PlanModel.plan_id.does_not_exist()))

    def get_plan(self, plan_id: str) -> Plan | None:
        try:
            return _plan(with_retries(lambda: PlanModel.get(plan_id)))
        except DoesNotExist:
            return None

    def list_plans(self, merchant_id: str) -> list[Plan]:
        plans = [_plan(m) for m in PlanModel.merchant_index.query(merchant_id)]
        return sorted(plans, key=lambda p: (p.created_at, p.plan_id))

    # -- memberships
    def get(self, membership_id: str) -> Membership | None:
        try:
            return _membership(with_retries(lambda: MembershipModel.get(membership_id, consistent_read=True)))
        except DoesNotExist:
            return None

    def for_customer(self, customer_id: str) -> list[Membership]:
        return [_membership(m) for m in MembershipModel.customer_index.query(customer_id, scan_index_forward=False)]

    def for_member(self, merchant_id: str, customer_id: str, started_by: datetime) -> list[Membership]:
        return [_membership(m) for m in MembershipModel.member_index.query(
            member_key(merchant_id, customer_id), MembershipModel.starts_at <= started_by,
            scan_index_forward=False, limit=10)]

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
            due_shard=due_shard(m.membership_id), due_at=m.ends_at, provider_ref=provider_ref,
        )
        stale: Membership | None = None  # a holder whose period ended but the job has not expired yet
        for _ in range(4):
            def write(stale: Membership | None = stale) -> None:
                with TransactWrite(connection=self._conn) as tx:
                    guard_cond = GuardModel.key.does_not_exist() if stale is None else (
                        GuardModel.owner == stale.membership_id)
                    tx.save(GuardModel(guard_key, owner=m.membership_id), condition=guard_cond)
                    tx.save(item, condition=MembershipModel.membership_id.does_not_exist())
                    tx.save(_entry_item(entry, m.merchant_id),
                            condition=MembershipLedgerModel.membership_id.does_not_exist())
                    if stale is not None and stale.status == ACTIVE:
                        tx.update(MembershipModel(stale.membership_id),
                                  actions=[MembershipModel.status.set(EXPIRED),
                                           MembershipModel.due_at.set(stale.refund_deadline)],
                                  condition=MembershipModel.status == ACTIVE)
            try:
                with_retries(write)
                return replace(m, status=ACTIVE, savings_fen=0)
            except TransactWriteError as e:
                codes = cancellation_codes(e)
                if CCF not in codes:
                    raise
                if len(codes) > 1 and codes[1] == CCF:  # this lock-in happened already
                    existing = self.get(m.membership_id)
                    if existing is not None and existing.customer_id == m.customer_id:
                        return existing
                    raise Conflict("membership id collision", code="conflict") from e
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
                    raise already_member() from e
                # The holder's period is over (or the guard outlived it): take the guard over.
                stale = holder or replace(m, membership_id=holder_id, status=EXPIRED)
        raise Conflict("the membership changed concurrently; retry", code="already_member")

    def expire(self, m: Membership) -> bool:
        def write() -> None:
            with TransactWrite(connection=self._conn) as tx:
                tx.update(MembershipModel(m.membership_id),
                          actions=[MembershipModel.status.set(EXPIRED), MembershipModel.due_at.set(m.refund_deadline)],
                          condition=MembershipModel.status == ACTIVE)
                tx.delete(GuardModel(active_guard_key(m.merchant_id, m.customer_id)),
                          condition=GuardModel.owner == m.membership_id)
        try:
            with_retries(write)
            return True
        except TransactWriteError as e:
            codes = cancellation_codes(e)
            if codes[:1] == [CCF]:
                return False
            if codes[1:2] == [CCF]:
                # the guard was taken over by a newer lock-in; expire without it
                return self._update_if(m.membership_id, [MembershipModel.status.set(EXPIRED),
                                                          MembershipModel.due_at.set(m.refund_deadline)],
                                       MembershipModel.status == ACTIVE)
            raise

    def _update_if(self, membership_id: str, actions: list[Action], condition: Condition | None) -> bool:
        try:
            with_retries(lambda: MembershipModel(membership_id).update(actions=actions, condition=condition))
            return True
        except UpdateError as e:
            if error_code(e) == "ConditionalCheckFailedException":
                return False
            raise

    def settle(self, m: Membership, entry: LedgerEntry, now: datetime) -> bool:
        def write() -> None:
            with TransactWrite(connection=self._conn) as tx:
                tx.update(MembershipModel(m.membership_id),
                          actions=[MembershipModel.status.set(SETTLED), MembershipModel.settled_at.set(now),
                                   MembershipModel.provider_pending.set("capture"), MembershipModel.due_at.set(now)],
                          condition=MembershipModel.status == EXPIRED)
                tx.save(_entry_item(entry, m.merchant_id),
                        condition=MembershipLedgerModel.membership_id.does_not_exist())
        return _committed(write)

    def refund(self, m: Membership, refund_fen: int, entry: LedgerEntry, now: datetime, key: str | None) -> bool:
        actions: list[Action] = [MembershipModel.status.set(REFUNDED), MembershipModel.refund_fen.set(refund_fen),
                   MembershipModel.refunded_at.set(now), MembershipModel.provider_pending.set("refund"),
                   MembershipModel.due_at.set(now), MembershipModel.due_shard.set(due_shard(m.membership_id))]
        if key is not None:
            actions.append(MembershipModel.refund_key.set(key))

        def write() -> None:
            with TransactWrite(connection=self._conn) as tx:
                unchanged = (MembershipModel.status == m.status) & (MembershipModel.savings_fen == m.savings_fen)
                tx.update(MembershipModel(m.membership_id), actions=actions, condition=unchanged)
                tx.save(_entry_item(entry, m.merchant_id),
                        condition=MembershipLedgerModel.membership_id.does_not_exist())
                if m.status == ACTIVE:  # still holds the guard: release it in the same write
                    tx.delete(GuardModel(active_guard_key(m.merchant_id, m.customer_id)),
                              condition=GuardModel.owner == m.membership_id)
        return _committed(write)

    def provider_done(self, membership_id: str, pending: str) -> None:
        self._update_if(membership_id, [MembershipModel.provider_pending.remove(), MembershipModel.due_at.remove(),
                                        MembershipModel.due_shard.remove()],
                        MembershipModel.provider_pending == pending)

    def due(self, now: datetime, limit: int) -> list[Membership]:
        out: list[Membership] = []
        for shard in range(DUE_SHARDS):
            for item in MembershipModel.due_index.query(f"due#{shard}", MembershipModel.due_at <= now,
                                                        limit=limit):
                out.append(_membership(item))
        return out

    def all_memberships(self) -> list[Membership]:
        return [_membership(m) for m in MembershipModel.scan(consistent_read=True)]

    def all_entries(self) -> list[LedgerEntry]:
        return [_entry(m) for m in MembershipLedgerModel.scan(consistent_read=True)]

    def buyer_payments(self, merchant_id: str, buyer_id: str, since: datetime, until: datetime) -> list[PastPayment]:
        return [PastPayment(int(p.amount_fen), int(p.refunded_fen or 0), p.paid_at)
                for p in PaymentModel.buyer_index.query(buyer_key(merchant_id, buyer_id),
                                                        PaymentModel.paid_at.between(since, until))]


# ---------------------------------------------------------------- in-memory fake


class InMemoryMembershipRepository:
    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.memberships: dict[str, Membership] = {}
        self.entries: dict[tuple[str, str], LedgerEntry] = {}
        self.guards: dict[str, str] = {}
        self.payments: list[tuple[str, str, PastPayment]] = []  # (merchant, buyer, payment)
        self._lock = threading.RLock()

    # test helpers
    def add_payment(self, merchant_id: str, buyer_id: str, payment: PastPayment) -> None:
        self.payments.append((merchant_id, buyer_id, payment))

    def add_savings(self, membership_id: str, amount: int) -> None:
        with self._lock:
            m = self.memberships[membership_id]
            self.memberships[membership_id] = replace(m, savings_fen=m.savings_fen + amount)

    def add_plan(self, plan: Plan) -> None:
        self.plans[plan.plan_id] = plan

    def get_plan(self, plan_id: str) -> Plan | None:
        return self.plans.get(plan_id)

    def list_plans(self, merchant_id: str) -> list[Plan]:
        return sorted((p for p in self.plans.values() if p.merchant_id == merchant_id),
                      key=lambda p: (p.created_at, p.plan_id))

    def get(self, membership_id: str) -> Membership | None:
        return self.memberships.get(membership_id)

    def for_customer(self, customer_id: str) -> list[Membership]:
        return sorted((m for m in self.memberships.values() if m.customer_id == customer_id),
                      key=lambda m: m.created_at, reverse=True)

    def for_member(self, merchant_id: str, customer_id: str, started_by: datetime) -> list[Membership]:
        return sorted((m for m in self.memberships.values() if m.merchant_id == merchant_id
                       and m.customer_id == customer_id and m.starts_at <= started_by),
                      key=lambda m: m.starts_at, reverse=True)

    def active_holder(self, merchant_id: str, customer_id: str) -> str | None:
        return self.guards.get(active_guard_key(merchant_id, customer_id))

    def lock(self, m: Membership, entry: LedgerEntry, provider_ref: str, now: datetime) -> Membership:
        with self._lock:
            if m.membership_id in self.memberships:
                return self.memberships[m.membership_id]
            gk = active_guard_key(m.merchant_id, m.customer_id)
            holder = self.memberships.get(self.guards.get(gk, ""))
            if holder is not None and holder.status == ACTIVE:
                if now < holder.ends_at:
                    raise already_member()
                self.memberships[holder.membership_id] = replace(holder, status=EXPIRED)
            self.guards[gk] = m.membership_id
            self.memberships[m.membership_id] = m
            self.entries[(m.membership_id, entry.kind)] = entry
            return m

    def expire(self, m: Membership) -> bool:
        with self._lock:
            cur = self.memberships[m.membership_id]
            if cur.status != ACTIVE:
                return False
            self.memberships[m.membership_id] = replace(cur, status=EXPIRED)
            gk = active_guard_key(m.merchant_id, m.customer_id)
            if self.guards.get(gk) == m.membership_id:
                del self.guards[gk]
            return True

    def settle(self, m: Membership, entry: LedgerEntry, now: datetime) -> bool:
        with self._lock:
            cur = self.memberships[m.membership_id]
            if cur.status != EXPIRED:
                return False
            self.memberships[m.membership_id] = replace(cur, status=SETTLED, settled_at=now, provider_pending="capture")
            self.entries[(m.membership_id, entry.kind)] = entry
            return True

    def refund(self, m: Membership, refund_fen: int, entry: LedgerEntry, now: datetime, key: str | None) -> bool:
        with self._lock:
            cur = self.memberships[m.membership_id]
            if cur.status != m.status or cur.savings_fen != m.savings_fen:
                return False
            self.memberships[m.membership_id] = replace(cur, status=REFUNDED, refund_fen=refund_fen, refunded_at=now,
                                                        provider_pending="refund", refund_key=key)
            self.entries[(m.membership_id, entry.kind)] = entry
            gk = active_guard_key(m.merchant_id, m.customer_id)
            if self.guards.get(gk) == m.membership_id:
                del self.guards[gk]
            return True

    def provider_done(self, membership_id: str, pending: str) -> None:
        with self._lock:
            cur = self.memberships[membership_id]
            if cur.provider_pending == pending:
                self.memberships[membership_id] = replace(cur, provider_pending=None)

    def due(self, now: datetime, limit: int) -> list[Membership]:
        out = []
        for m in self.memberships.values():
            if m.provider_pending or (m.status == ACTIVE and m.ends_at <= now) or (
                    m.status == EXPIRED and m.refund_deadline <= now):
                out.append(m)
        return out[:limit]

    def all_memberships(self) -> list[Membership]:
        return list(self.memberships.values())

    def all_entries(self) -> list[LedgerEntry]:
        return list(self.entries.values())

    def buyer_payments(self, merchant_id: str, buyer_id: str, since: datetime, until: datetime) -> list[PastPayment]:
        return [p for mch, b, p in self.payments
                if mch == merchant_id and b == buyer_id and since <= p.paid_at <= until]

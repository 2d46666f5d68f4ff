"""In-memory fakes of the memberships adapters (chalicelib/memberships/dynamo.py). They pass the
same contract suites (tests/integration/test_memberships_contract.py, test_idempotency_contract.py);
the rules they share with the adapters live in `chalicelib.memberships.domain` and
`chalicelib.memberships.idempotency`. All state changes happen under `tests.fakes.tx.LOCK`, the
one lock every fake's transaction takes, so a `FakeTx` sees and changes them atomically."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.errors import Conflict
from chalicelib.memberships.domain import (
    ACTIVE,
    EXPIRED,
    REFUNDED,
    SETTLED,
    LedgerEntry,
    Membership,
    MembershipTerms,
    Plan,
    already_member,
    members_summary,
    savings_decision,
)
from chalicelib.memberships.dynamo_shared import membership_record
from chalicelib.memberships.idempotency import DONE, IN_PROGRESS, Claim, IdempotencyRecord, Outcome
from chalicelib.memberships.ports import MembershipRecord
from chalicelib.onboarding.domain import ListPosition, Page, list_order
from chalicelib.payments.ports import NO_SAVINGS, SavingsDecision
from tests.fakes.tx import LOCK, FakeTx


class InMemoryMembershipRepository:
    """`MembershipRepository` in dicts. `memberships`, `add_membership` and `add_savings` are
    there for tests to look at and seed the state."""

    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}
        self.memberships: dict[str, Membership] = {}
        self.entries: dict[tuple[str, str], LedgerEntry] = {}
        self.guards: dict[tuple[str, str], str] = {}  # (merchant, customer) → the active membership

    # seeding
    def add_membership(self, m: Membership) -> None:
        """Store a membership as is (no guard, no ledger entry)."""
        with LOCK:
            self.memberships[m.membership_id] = m

    def add_savings(self, membership_id: str, amount: int) -> None:
        with LOCK:
            m = self.memberships[membership_id]
            self.memberships[membership_id] = replace(m, savings_fen=m.savings_fen + amount)

    # the port
    def add_plan(self, plan: Plan) -> None:
        with LOCK:
            if plan.plan_id in self.plans:
                raise Conflict("plan id collision", code="conflict")
            self.plans[plan.plan_id] = plan

    def get_plan(self, plan_id: str) -> Plan | None:
        return self.plans.get(plan_id)

    def list_plans(self, merchant_id: str) -> list[Plan]:
        with LOCK:
            mine = [p for p in self.plans.values() if p.merchant_id == merchant_id]
        return sorted(mine, key=lambda p: (p.created_at, p.plan_id))

    def get(self, membership_id: str) -> Membership | None:
        return self.memberships.get(membership_id)

    def for_customer(self, customer_id: str) -> list[Membership]:
        with LOCK:
            mine = [m for m in self.memberships.values() if m.customer_id == customer_id]
        return sorted(mine, key=lambda m: m.created_at, reverse=True)

    def merchant_page(self, merchant_id: str, status: str | None, now: datetime, limit: int,
                      after: ListPosition | None) -> Page[Membership]:
        with LOCK:
            held = [m for m in self.memberships.values() if m.merchant_id == merchant_id
                    and (status is None or m.status_at(now) == status)]
        ranked = sorted(held, key=lambda m: list_order(m.created_at, m.membership_id), reverse=True)
        if after is not None:
            ranked = [m for m in ranked if list_order(m.created_at, m.membership_id) < after.order]
        return Page(tuple(ranked[:limit]), more=len(ranked) > limit)

    def for_member(self, merchant_id: str, customer_id: str, started_by: datetime) -> list[Membership]:
        with LOCK:
            mine = [m for m in self.memberships.values() if m.merchant_id == merchant_id
                    and m.customer_id == customer_id and m.starts_at <= started_by]
        return sorted(mine, key=lambda m: m.starts_at, reverse=True)[:10]

    def active_holder(self, merchant_id: str, customer_id: str) -> str | None:
        return self.guards.get((merchant_id, customer_id))

    def lock(self, m: Membership, entry: LedgerEntry, provider_ref: str, now: datetime) -> Membership:
        with LOCK:
            existing = self.memberships.get(m.membership_id)
            if existing is not None:
                if existing.customer_id == m.customer_id:
                    return existing
                raise Conflict("membership id collision", code="conflict")
            guard = (m.merchant_id, m.customer_id)
            holder = self.memberships.get(self.guards.get(guard, ""))
            if holder is not None and holder.status == ACTIVE:
                if now < holder.ends_at:
                    raise already_member()
                self.memberships[holder.membership_id] = replace(holder, status=EXPIRED)
            stored = replace(m, status=ACTIVE, savings_fen=0)
            self.guards[guard] = m.membership_id
            self.memberships[m.membership_id] = stored
            self.entries[(m.membership_id, entry.kind)] = entry
            return stored

    def _release_guard(self, m: Membership) -> None:
        guard = (m.merchant_id, m.customer_id)
        if self.guards.get(guard) == m.membership_id:
            del self.guards[guard]

    def expire(self, m: Membership) -> bool:
        with LOCK:
            cur = self.memberships.get(m.membership_id)
            if cur is None or cur.status != ACTIVE:
                return False
            self.memberships[m.membership_id] = replace(cur, status=EXPIRED)
            self._release_guard(m)
            return True

    def settle(self, m: Membership, entry: LedgerEntry, now: datetime) -> bool:
        with LOCK:
            cur = self.memberships.get(m.membership_id)
            if cur is None or cur.status != EXPIRED or (m.membership_id, entry.kind) in self.entries:
                return False
            self.memberships[m.membership_id] = replace(cur, status=SETTLED, settled_at=now, provider_pending="capture")
            self.entries[(m.membership_id, entry.kind)] = entry
            return True

    def refund(self, m: Membership, refund_fen: int, entry: LedgerEntry, now: datetime, key: str | None) -> bool:
        with LOCK:
            cur = self.memberships.get(m.membership_id)
            if (cur is None or (cur.status, cur.savings_fen) != (m.status, m.savings_fen)
                    or (m.membership_id, entry.kind) in self.entries):
                return False
            self.memberships[m.membership_id] = replace(
                cur, status=REFUNDED, refund_fen=refund_fen, refunded_at=now, provider_pending="refund",
                refund_key=key if key is not None else cur.refund_key)
            self.entries[(m.membership_id, entry.kind)] = entry
            self._release_guard(m)
            return True

    def provider_done(self, membership_id: str, pending: str) -> None:
        with LOCK:
            cur = self.memberships.get(membership_id)
            if cur is not None and cur.provider_pending == pending:
                self.memberships[membership_id] = replace(cur, provider_pending=None)

    def due(self, now: datetime, limit: int) -> list[Membership]:
        with LOCK:
            return [m for m in self.memberships.values()
                    if m.provider_pending or (m.status == ACTIVE and m.ends_at <= now)
                    or (m.status == EXPIRED and m.refund_deadline <= now)][:limit]

    def all_memberships(self) -> list[Membership]:
        with LOCK:
            return list(self.memberships.values())

    def all_entries(self) -> list[LedgerEntry]:
        with LOCK:
            return list(self.entries.values())


class FakeMemberSavings:
    """`chalicelib.payments.ports.MemberSavings` over the fake repository, contributing to a
    `FakeTx`. `membership_at` is the lookup, for tests that replace it."""

    def __init__(self, repo: InMemoryMembershipRepository) -> None:
        self.repo = repo

    def decide(self, merchant_id: str, buyer_id: str, amount_fen: int, discount_fen: int,
               paid_at: datetime) -> SavingsDecision:
        if discount_fen <= 0:
            return NO_SAVINGS
        return savings_decision(amount_fen, discount_fen, paid_at, self.membership_at(merchant_id, buyer_id, paid_at))

    def membership_at(self, merchant_id: str, buyer_id: str, at: datetime) -> MembershipTerms | None:
        started = self.repo.for_member(merchant_id, buyer_id, at)
        return started[0].terms() if started else None

    def contribute(self, tx: FakeTx, membership_id: str, delta_fen: int, now: datetime) -> None:
        def savings_move() -> bool:
            m = self.repo.get(membership_id)
            return m is not None and m.savings_move_at(now)

        tx.require("membership", savings_move)
        tx.then(lambda: self.repo.add_savings(membership_id, delta_fen))

    def summary(self, merchant_id: str, now: datetime) -> dict[str, int]:
        return members_summary((m for m in self.repo.all_memberships() if m.merchant_id == merchant_id), now)

    def all_savings(self) -> dict[str, int]:
        return {m.membership_id: m.savings_fen for m in self.repo.all_memberships()}


class FakeMembershipHistory:
    """`chalicelib.memberships.ports.MembershipHistory` over the fake repository."""

    def __init__(self, repo: InMemoryMembershipRepository) -> None:
        self.repo = repo

    def _records(self, since: datetime | None = None, until: datetime | None = None) -> list[MembershipRecord]:
        return sorted((MembershipRecord.of(m) for m in self.repo.all_memberships()
                       if (since is None or since <= m.created_at) and (until is None or m.created_at < until)),
                      key=lambda r: (r.partner_id, r.created_at, r.membership_id))

    def for_partners(self, partner_ids: Iterable[str], since: datetime, until: datetime) -> list[MembershipRecord]:
        wanted = set(partner_ids)
        return [r for r in self._records(since, until) if r.partner_id in wanted]

    def between(self, since: datetime, until: datetime) -> list[MembershipRecord]:
        return self._records(since, until)

    def all(self) -> list[MembershipRecord]:
        return self._records()

    def from_stream_image(self, image: dict[str, Any]) -> MembershipRecord | None:
        return membership_record(image)  # the table's item shape: the adapter's own reading


class InMemoryIdempotencyStore:
    """`IdempotencyStore` in a dict of `IdempotencyRecord`s."""

    def __init__(self) -> None:
        self.records: dict[str, IdempotencyRecord] = {}

    def claim(self, key: str, request_hash: str, now: datetime, lease_until: datetime,
              expires_at: datetime) -> Claim:
        with LOCK:
            cur = self.records.get(key)
            if cur is None or cur.free_for(request_hash, now):
                self.records[key] = IdempotencyRecord(request_hash, IN_PROGRESS, lease_until, expires_at)
                return Claim("claimed")
            return cur.answer(request_hash)

    def complete(self, key: str, request_hash: str, outcome: Outcome) -> None:
        with LOCK:
            cur = self.records.get(key)
            if cur is not None and cur.held_by(request_hash):
                self.records[key] = replace(cur, state=DONE, outcome=outcome)

    def release(self, key: str, request_hash: str) -> None:
        with LOCK:
            cur = self.records.get(key)
            if cur is not None and cur.held_by(request_hash):
                del self.records[key]

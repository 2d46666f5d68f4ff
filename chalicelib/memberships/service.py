"""Use cases of memberships: plans, lock-in, reading, refunds, the terminal's offer, the
lifecycle job and the fee audit. The repository, the provider port, the clock, the onboarding
service, the payments area's `PaymentHistory` and the idempotency runner are injected (see
`chalicelib.bootstrap`)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.auth import Principal
from chalicelib.clock import Clock, iso
from chalicelib.errors import Conflict, Forbidden, NotFound, StorageUnavailable
from chalicelib.ids import new_id
from chalicelib.memberships.domain import (
    ACTIVE,
    EXPIRED,
    REFUNDED,
    FeeBalance,
    Membership,
    PastPayment,
    Plan,
    already_member,
    best_offer,
    capture_entry,
    expected_balance,
    fee_balance,
    lock_entry,
    new_membership,
    refund_entry,
    shortfall,
)
from chalicelib.memberships.idempotency import Idempotency, Outcome
from chalicelib.memberships.ports import MembershipRepository
from chalicelib.memberships.provider import FeeProvider
from chalicelib.memberships.schemas import CreatePlan, LockIn, OfferRequest, RefundRequest
from chalicelib.observability import logger, metrics
from chalicelib.onboarding.domain import TerminalIdentity
from chalicelib.onboarding.service import OnboardingService
from chalicelib.payments.ports import PaymentHistory
from chalicelib.schemas import parse_body

REFUND_ATTEMPTS = 8  # re-reads when savings move under a refund
LIFECYCLE_BATCH = 500


class MembershipService:
    """The membership use cases; each takes raw input and returns what happened."""

    def __init__(self, repo: MembershipRepository, clock: Clock, provider: FeeProvider,
                 onboarding: OnboardingService, idempotency: Idempotency, payments: PaymentHistory) -> None:
        self.repo = repo
        self.clock = clock
        self.provider = provider
        self.onboarding = onboarding
        self.idempotency = idempotency
        self.payments = payments

    # -- plans
    def create_plan(self, who: Principal, merchant_id: str, raw: bytes) -> dict[str, Any]:
        """A merchant's membership plan (its merchant, its partner, admin)."""
        body = parse_body(CreatePlan, raw)
        merchant = self.onboarding.merchant_for(who, merchant_id)
        plan = Plan(
            plan_id=new_id("pln"), merchant_id=merchant.merchant_id, name=body.name, fee_fen=body.fee_fen,
            period_days=body.period_days, discount_percent=body.discount_percent,
            refund_window_days=body.refund_window_days, created_at=self.clock.now(),
            max_discount_per_order_fen=body.max_discount_per_order_fen,
        )
        self.repo.add_plan(plan)
        return {**plan.to_dict(), "created_at": iso(plan.created_at)}

    def public_plans(self, merchant_id: str) -> list[dict[str, Any]]:
        """Plans shown on the public store page."""
        return [p.to_dict() for p in self.repo.list_plans(merchant_id)]

    # -- lock-in
    def lock_in(self, who: Principal, raw: bytes, key: str | None) -> Outcome:
        """Lock a plan's fee and start a membership now (customer; idempotent by key)."""
        plan_id = parse_body(LockIn, raw).plan_id
        who.require_role("customer")

        def run() -> Outcome:
            return Outcome(201, self._lock_in(who.sub, plan_id, key))

        return self.idempotency.run(f"lock#{who.sub}", key, {"plan_id": plan_id}, run)

    def _lock_in(self, customer_id: str, plan_id: str, key: str | None) -> dict[str, Any]:
        plan = self.repo.get_plan(plan_id)
        if plan is None:
            raise NotFound(f"no plan {plan_id}", code="plan_not_found")
        merchant = self.onboarding.merchant(plan.merchant_id)
        now = self.clock.now()
        # With a key the id derives from it, so a lock-in re-run after a crash finds its own write.
        mid = (f"mbs_{hashlib.sha256(f'{customer_id}#{key}#{plan_id}'.encode()).hexdigest()[:24]}"
               if key else new_id("mbs"))
        existing = self.repo.get(mid) if key else None
        if existing is not None and existing.customer_id == customer_id:
            return existing.to_dict(now)
        holder_id = self.repo.active_holder(merchant.merchant_id, customer_id)
        holder = self.repo.get(holder_id) if holder_id else None
        if holder is not None and holder.status == ACTIVE and now < holder.ends_at:
            raise already_member()
        m = new_membership(mid, plan, merchant.partner_id, customer_id, now)
        ref = self.provider.freeze(mid, customer_id, merchant.merchant_id, m.fee_fen)
        try:
            stored = self.repo.lock(m, lock_entry(m, now), ref, now)
        except Conflict:
            self.provider.release(mid)
            raise
        except Exception:
            self._release_if_absent(mid)
            raise
        metrics.add_metric(name="MembershipLocked", unit="Count", value=1)
        metrics.add_metric(name="MembershipFeeLockedFen", unit="Count", value=m.fee_fen)
        return stored.to_dict(now)

    def _release_if_absent(self, membership_id: str) -> None:
        try:
            if self.repo.get(membership_id) is None:
                self.provider.release(membership_id)
        except Exception:  # noqa: BLE001 - best effort; orphan freezes are reconciled with the provider
            logger.warning("could not release a fee freeze", extra={"membership_id": membership_id})

    # -- reading
    def _readable(self, who: Principal, membership_id: str) -> Membership:
        m = self.repo.get(membership_id)
        if m is None:
            raise NotFound(f"no membership {membership_id}", code="membership_not_found")
        allowed = (m.customer_id == who.sub) if who.role == "customer" else who.can_act_for_merchant(
            m.merchant_id, m.partner_id)
        if not allowed:
            raise Forbidden("not allowed to see this membership", code="forbidden_tenant")
        return m

    def get(self, who: Principal, membership_id: str) -> dict[str, Any]:
        """One membership (its customer, its merchant or partner, admin)."""
        return self._readable(who, membership_id).to_dict(self.clock.now())

    def savings_statement(self, who: Principal, membership_id: str) -> dict[str, Any]:
        """Every payment that counted savings for the membership (its viewers), oldest first, each
        with what it counts now (net of refunds' reversals) and whether the platform confirmed it.
        `savings_fen` is their sum: the membership's own `savings_fen` moves in the same transaction
        as each of them, so the two agree once the index has caught up (the audit check
        `payments.membership_savings` compares them)."""
        m = self._readable(who, membership_id)
        entries = self.payments.membership_payments(m.membership_id)
        return {
            "membership_id": m.membership_id,
            "savings_fen": sum(e.savings_fen for e in entries),
            "entries": [{"payment_id": e.payment_id, "out_trade_no": e.out_trade_no,
                         "paid_at": iso(e.paid_at.astimezone(UTC)), "discount_fen": e.discount_fen,
                         "savings_fen": e.savings_fen, "confirmed": e.confirmed} for e in entries],
        }

    def mine(self, who: Principal) -> dict[str, Any]:
        """The calling customer's memberships, newest first."""
        who.require_role("customer")
        now = self.clock.now()
        return {"memberships": [m.to_dict(now) for m in self.repo.for_customer(who.sub)]}

    # -- refund
    def refund(self, who: Principal, membership_id: str, raw: bytes, key: str | None) -> Outcome:
        """Return the shortfall after the period (its customer; idempotent by key)."""
        parse_body(RefundRequest, raw)  # no fields yet: a body, if any, must still be well-formed
        who.require_role("customer")

        def run() -> Outcome:
            return Outcome(200, self._refund(who, membership_id, key))

        return self.idempotency.run(f"refund#{who.sub}", key, {"membership_id": membership_id}, run)

    def _refund(self, who: Principal, membership_id: str, key: str | None) -> dict[str, Any]:
        for _ in range(REFUND_ATTEMPTS):
            m = self._readable(who, membership_id)
            if m.customer_id != who.sub:
                raise Forbidden("only the member may ask for a refund", code="forbidden_tenant")
            now = self.clock.now()
            if m.status == REFUNDED and key is not None and m.refund_key == key:
                return self._refund_body(m, m.refund_fen or 0)  # this very request, re-run after a crash
            refusal = m.refund_refusal(now)
            if refusal is not None:
                raise Conflict(refusal[1], code=refusal[0])
            # The amount is frozen by the write's condition: status and savings as read here.
            refund_fen = shortfall(m.fee_fen, m.savings_fen)
            if self.repo.refund(m, refund_fen, refund_entry(m, refund_fen, now), now, key):
                metrics.add_metric(name="MembershipRefunded", unit="Count", value=1)
                metrics.add_metric(name="MembershipRefundFen", unit="Count", value=refund_fen)
                self._confirm_with_provider(m.membership_id, "refund", m.fee_fen, refund_fen)
                return self._refund_body(m, refund_fen)
        raise StorageUnavailable("the membership kept changing; retry the refund")

    @staticmethod
    def _refund_body(m: Membership, refund_fen: int) -> dict[str, Any]:
        return {"membership_id": m.membership_id, "status": REFUNDED, "refund_fen": refund_fen}

    def _confirm_with_provider(self, membership_id: str, pending: str, fee_fen: int, refund_fen: int) -> bool:
        """Carry out a decided fee movement at the provider; the job retries it on failure."""
        try:
            if pending == "capture":
                self.provider.capture(membership_id, fee_fen)
            else:
                self.provider.unfreeze(membership_id, refund_fen, fee_fen - refund_fen)
            self.repo.provider_done(membership_id, pending)
            return True
        except Exception:  # noqa: BLE001 - stays pending in the due index; the lifecycle job retries
            logger.warning("fee provider call pending", extra={"membership_id": membership_id, "call": pending})
            return False

    # -- the big screen
    def offer(self, terminal: TerminalIdentity, raw: bytes) -> dict[str, Any]:
        """Member discount, or the best plan to offer a non-member, for a price before discount."""
        body = parse_body(OfferRequest, raw)
        now = self.clock.now()
        merchant_id, amount = terminal.merchant_id, body.amount_fen
        for m in self._member_candidates(merchant_id, body.buyer_id, now):
            if m.is_member_at(now):
                discount = m.discount(amount)
                return {"member": True, "membership_id": m.membership_id, "discount_fen": discount,
                        "payable_fen": amount - discount, "membership_offer": None}
        offer = None
        plans = self.repo.list_plans(merchant_id)
        if plans:
            since = now - timedelta(days=max(p.period_days for p in plans))
            payments = [PastPayment(p.amount_fen, p.refunded_fen, p.paid_at)
                        for p in self.payments.buyer_payments(merchant_id, body.buyer_id, since, now)]
            best = best_offer(plans, payments, now)
            if best is not None:
                plan, estimate = best
                offer = {"plan_id": plan.plan_id, "name": plan.name, "fee_fen": plan.fee_fen,
                         "discount_percent": plan.discount_percent, "estimated_savings_fen": estimate,
                         "period_days": plan.period_days,
                         "max_discount_per_order_fen": plan.max_discount_per_order_fen}
        return {"member": False, "membership_id": None, "discount_fen": 0, "payable_fen": amount,
                "membership_offer": offer}

    def _member_candidates(self, merchant_id: str, customer_id: str, now: datetime) -> list[Membership]:
        """From the index, or — when it shows no current one (it lags a lock-in by a moment) —
        the membership the active guard names, read consistently."""
        found = self.repo.for_member(merchant_id, customer_id, now)
        if any(m.is_member_at(now) for m in found):
            return found
        holder = self.repo.active_holder(merchant_id, customer_id)
        current = self.repo.get(holder) if holder else None
        return [current] if current is not None else found

    # -- lifecycle
    def run_lifecycle(self, limit: int = LIFECYCLE_BATCH) -> dict[str, Any]:
        """`active` → `expired` at ends_at; `expired` → `settled` (fee captured) at refund_deadline;
        retries provider calls left pending. Safe to run twice or concurrently."""
        now = self.clock.now()
        counts = {"due": 0, "expired": 0, "settled": 0, "provider_confirmed": 0, "provider_pending": 0}
        for item in self.repo.due(now, limit):
            counts["due"] += 1
            m = self.repo.get(item.membership_id)  # the index may lag; act on the item itself
            if m is None:
                continue
            if m.provider_pending:
                ok = self._confirm_with_provider(m.membership_id, m.provider_pending, m.fee_fen, m.refund_fen or 0)
                counts["provider_confirmed" if ok else "provider_pending"] += 1
                continue
            if m.status == ACTIVE and now >= m.ends_at and self.repo.expire(m):
                counts["expired"] += 1
                metrics.add_metric(name="MembershipExpired", unit="Count", value=1)
                m = self.repo.get(m.membership_id) or m
            if m.status == EXPIRED and now >= m.refund_deadline and self.repo.settle(m, capture_entry(m, now), now):
                counts["settled"] += 1
                metrics.add_metric(name="MembershipSettled", unit="Count", value=1)
                metrics.add_metric(name="MembershipCapturedFen", unit="Count", value=m.fee_fen)
                ok = self._confirm_with_provider(m.membership_id, "capture", m.fee_fen, 0)
                counts["provider_confirmed" if ok else "provider_pending"] += 1
        return counts

    # -- audit
    def audit_fees(self) -> dict[str, Any]:
        """Ledger entries balance; per membership and overall, locked = captured + refunded + held,
        and the ledger agrees with each membership's stored status."""
        entries = self.repo.all_entries()
        memberships = self.repo.all_memberships()
        by_membership: dict[str, list[Any]] = defaultdict(list)
        for e in entries:
            by_membership[e.membership_id].append(e)
        unbalanced = sorted({e.membership_id for e in entries if not e.balanced})
        mismatched = []
        total = FeeBalance()
        for m in memberships:
            balance = fee_balance(by_membership.get(m.membership_id, []))
            total = total + balance
            if not balance.consistent or balance != expected_balance(m):
                mismatched.append(m.membership_id)
        orphans = sorted(set(by_membership) - {m.membership_id for m in memberships})
        ok = not unbalanced and not mismatched and not orphans and total.consistent
        return {"name": "membership_fees", "ok": ok, "detail": {
            "memberships": len(memberships), "locked_fen": total.locked, "captured_fen": total.captured,
            "refunded_fen": total.refunded, "held_fen": total.held, "unbalanced": unbalanced[:20],
            "mismatched": mismatched[:20], "orphan_entries": orphans[:20]}}

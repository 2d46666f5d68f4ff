"""Membership rules: plain arithmetic in integer fen and the lifecycle, no AWS.

A membership moves `active` → `expired` at `ends_at`, then `expired` → `settled` (fee captured)
at `refund_deadline`, or `expired` → `refunded` on a valid refund request. The stored status may
lag behind the business clock until the lifecycle job runs; `Membership.status_at(now)` is the
status as the clock says it is, and every rule below reads that.

The savings rule of payments lives here too (`savings_decision`): the payments area asks it
through `chalicelib.payments.ports.MemberSavings`, which this area implements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.errors import Conflict
from chalicelib.payments.domain import FLAG_NOT_ENTITLED, FLAG_OVER_ALLOWANCE
from chalicelib.payments.ports import NO_SAVINGS, SavingsDecision

ACTIVE, EXPIRED, REFUNDED, SETTLED = "active", "expired", "refunded", "settled"
# Savings still move while the membership is active or expired-but-unsettled; frozen after.
SAVINGS_OPEN_STATUSES = (ACTIVE, EXPIRED)
FINAL_STATUSES = (REFUNDED, SETTLED)
STATUSES = (ACTIVE, EXPIRED, REFUNDED, SETTLED)  # what a membership shows (`Membership.status_at`)

# Ledger accounts of the fee (double entry: the lines of every entry sum to zero).
CUSTOMER_FUNDS = "customer_funds"  # the customer's money outside the platform
HELD_FEES = "held_fees"  # fees frozen at the provider, neither captured nor returned
MERCHANT_REVENUE = "merchant_revenue"  # captured fees (settlement, or the saved part on a refund)
REFUNDS = "refunds"  # shortfalls returned to customers

LOCK, CAPTURE, REFUND = "LOCK", "CAPTURE", "REFUND"


def allowed_discount(list_price_fen: int, discount_percent: int, max_per_order_fen: int | None) -> int:
    """floor(list × percent / 100), capped by the plan's per-order maximum."""
    allowed = (list_price_fen * discount_percent) // 100
    if max_per_order_fen is not None:
        allowed = min(allowed, max_per_order_fen)
    return max(allowed, 0)


def shortfall(fee_fen: int, savings_fen: int) -> int:
    """What the customer may ask back after the period: fee − savings when positive."""
    return max(fee_fen - savings_fen, 0)


def already_member() -> Conflict:
    return Conflict("the customer already holds an active membership at this merchant", code="already_member")


@dataclass(frozen=True)
class Plan:
    plan_id: str
    merchant_id: str
    name: str
    fee_fen: int
    period_days: int
    discount_percent: int
    refund_window_days: int
    created_at: datetime
    max_discount_per_order_fen: int | None = None

    def discount(self, list_price_fen: int) -> int:
        return allowed_discount(list_price_fen, self.discount_percent, self.max_discount_per_order_fen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "merchant_id": self.merchant_id,
            "name": self.name,
            "fee_fen": self.fee_fen,
            "period_days": self.period_days,
            "discount_percent": self.discount_percent,
            "max_discount_per_order_fen": self.max_discount_per_order_fen,
            "refund_window_days": self.refund_window_days,
        }


@dataclass(frozen=True)
class Membership:
    membership_id: str
    merchant_id: str
    partner_id: str
    customer_id: str
    plan_id: str
    plan_name: str
    status: str  # as stored
    fee_fen: int
    discount_percent: int
    max_discount_per_order_fen: int | None
    savings_fen: int
    starts_at: datetime
    ends_at: datetime
    refund_deadline: datetime
    created_at: datetime
    refund_fen: int | None = None
    refunded_at: datetime | None = None
    settled_at: datetime | None = None
    provider_pending: str | None = None  # a provider call decided but not yet confirmed
    refund_key: str | None = None  # the Idempotency-Key the refund came with, if any

    def status_at(self, now: datetime) -> str:
        """The status the business clock says, even before the lifecycle job caught up."""
        if self.status in FINAL_STATUSES:
            return self.status
        if now >= self.refund_deadline:
            return SETTLED
        if now >= self.ends_at:
            return EXPIRED
        return self.status

    def refund_refusal(self, now: datetime) -> tuple[str, str] | None:
        """Why a refund is refused now, as (code, message); None when it may go ahead."""
        if self.status == REFUNDED:
            return "already_refunded", "this membership was already refunded"
        status = self.status_at(now)
        if status == ACTIVE:
            return "membership_still_active", "the membership period has not ended yet"
        if status == SETTLED:
            return "refund_window_closed", "the refund window has closed"
        if shortfall(self.fee_fen, self.savings_fen) == 0:
            return "no_shortfall", "the savings already reached the fee"
        return None

    def refundable_at(self, now: datetime) -> int:
        return 0 if self.refund_refusal(now) else shortfall(self.fee_fen, self.savings_fen)

    def is_member_at(self, now: datetime) -> bool:
        return self.starts_at <= now and self.status_at(now) == ACTIVE

    def savings_move_at(self, now: datetime) -> bool:
        """Payments still add to the savings (and refunds take back) until the membership is
        refunded or settled, or its refund deadline passed: the refund amount depends on them."""
        return self.status in SAVINGS_OPEN_STATUSES and now < self.refund_deadline

    def terms(self) -> MembershipTerms:
        return MembershipTerms(self.membership_id, self.status, self.starts_at, self.ends_at,
                               self.discount_percent, self.max_discount_per_order_fen)

    def discount(self, list_price_fen: int) -> int:
        return allowed_discount(list_price_fen, self.discount_percent, self.max_discount_per_order_fen)

    def to_dict(self, now: datetime) -> dict[str, Any]:
        from chalicelib.clock import iso

        return {
            "membership_id": self.membership_id,
            "merchant_id": self.merchant_id,
            "plan_id": self.plan_id,
            "plan_name": self.plan_name,
            "customer_id": self.customer_id,
            "status": self.status_at(now),
            "fee_fen": self.fee_fen,
            "discount_percent": self.discount_percent,
            "max_discount_per_order_fen": self.max_discount_per_order_fen,
            "savings_fen": self.savings_fen,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "refund_deadline": iso(self.refund_deadline),
            "refundable_fen": self.refundable_at(now),
            "refund_fen": self.refund_fen,
        }


def new_membership(membership_id: str, plan: Plan, partner_id: str, customer_id: str, now: datetime) -> Membership:
    """A membership starting now on the business clock, for the plan's period and window.

    It starts at the whole second: payment times (terminals, the platform) have second precision,
    so a payment in the very second of the lock-in is a member's payment."""
    now = now.replace(microsecond=0)
    ends_at = now + timedelta(days=plan.period_days)
    return Membership(
        membership_id=membership_id, merchant_id=plan.merchant_id, partner_id=partner_id,
        customer_id=customer_id, plan_id=plan.plan_id, plan_name=plan.name, status=ACTIVE,
        fee_fen=plan.fee_fen, discount_percent=plan.discount_percent,
        max_discount_per_order_fen=plan.max_discount_per_order_fen, savings_fen=0,
        starts_at=now, ends_at=ends_at, refund_deadline=ends_at + timedelta(days=plan.refund_window_days),
        created_at=now,
    )


def members_summary(memberships: Iterable[Membership], now: datetime) -> dict[str, int]:
    """Of a merchant's memberships, those active at `now` (one past its `ends_at` is not, whether
    or not the lifecycle job ran yet): how many, their locked fees and their savings."""
    active = [m for m in memberships if m.status_at(now) == ACTIVE]
    return {"active": len(active), "locked_fees_fen": sum(m.fee_fen for m in active),
            "savings_fen": sum(m.savings_fen for m in active)}


# ---------------------------------------------------------------- savings of payments


@dataclass(frozen=True)
class MembershipTerms:
    """A membership as the savings rule sees it."""

    membership_id: str
    status: str
    starts_at: datetime
    ends_at: datetime
    discount_percent: int
    max_discount_per_order_fen: int | None

    def holds(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def savings_decision(amount_fen: int, discount_fen: int, paid_at: datetime,
                     membership: MembershipTerms | None) -> SavingsDecision:
    """How much of a payment's discount counts as member savings, and the flags if not all does."""
    if discount_fen <= 0:
        return NO_SAVINGS
    if membership is None or not membership.holds(paid_at) or membership.status not in SAVINGS_OPEN_STATUSES:
        return SavingsDecision(0, None, (FLAG_NOT_ENTITLED,))
    allowance = allowed_discount(amount_fen + discount_fen, membership.discount_percent,
                                 membership.max_discount_per_order_fen)
    if discount_fen > allowance:
        return SavingsDecision(0, None, (FLAG_OVER_ALLOWANCE,))
    return SavingsDecision(discount_fen, membership.membership_id)


# ---------------------------------------------------------------- offers


@dataclass(frozen=True)
class PastPayment:
    """What a savings estimate needs of a recorded payment."""

    amount_fen: int
    refunded_fen: int
    paid_at: datetime

    @property
    def net_fen(self) -> int:
        return max(self.amount_fen - self.refunded_fen, 0)


def estimated_savings(plan: Plan, payments: Iterable[PastPayment], now: datetime) -> int:
    """What the buyer would have saved over the plan's last `period_days` had they been a member:
    each payment taken at its amount net of refunds as the list price."""
    since = now - timedelta(days=plan.period_days)
    return sum(plan.discount(p.net_fen) for p in payments if since <= p.paid_at <= now)


def best_offer(plans: Iterable[Plan], payments: list[PastPayment], now: datetime) -> tuple[Plan, int] | None:
    """The plan with the largest estimate; ties go to the lower fee (then the plan id)."""
    scored = [(plan, estimated_savings(plan, payments, now)) for plan in plans]
    if not scored:
        return None
    return min(scored, key=lambda ps: (-ps[1], ps[0].fee_fen, ps[0].plan_id))


# ---------------------------------------------------------------- ledger


@dataclass(frozen=True)
class LedgerEntry:
    """One balanced fee movement of one membership: `lines` are (account, signed fen), sum 0."""

    membership_id: str
    kind: str  # LOCK | CAPTURE | REFUND
    lines: tuple[tuple[str, int], ...]
    at: datetime

    @property
    def balanced(self) -> bool:
        return sum(amount for _, amount in self.lines) == 0

    def amount(self, account: str) -> int:
        return sum(a for acc, a in self.lines if acc == account)


def lock_entry(m: Membership, at: datetime) -> LedgerEntry:
    return LedgerEntry(m.membership_id, LOCK, ((CUSTOMER_FUNDS, -m.fee_fen), (HELD_FEES, m.fee_fen)), at)


def capture_entry(m: Membership, at: datetime) -> LedgerEntry:
    return LedgerEntry(m.membership_id, CAPTURE, ((HELD_FEES, -m.fee_fen), (MERCHANT_REVENUE, m.fee_fen)), at)


def refund_entry(m: Membership, refund_fen: int, at: datetime) -> LedgerEntry:
    """The shortfall goes back to the customer; the part the customer saved is the merchant's."""
    lines = [(HELD_FEES, -m.fee_fen), (REFUNDS, refund_fen)]
    if m.fee_fen - refund_fen:
        lines.append((MERCHANT_REVENUE, m.fee_fen - refund_fen))
    return LedgerEntry(m.membership_id, REFUND, tuple(lines), at)


@dataclass(frozen=True)
class FeeBalance:
    """Per membership (or overall): locked = captured + refunded + held."""

    locked: int = 0
    captured: int = 0
    refunded: int = 0
    held: int = 0

    @property
    def consistent(self) -> bool:
        return self.locked == self.captured + self.refunded + self.held

    def __add__(self, other: FeeBalance) -> FeeBalance:
        return FeeBalance(self.locked + other.locked, self.captured + other.captured,
                          self.refunded + other.refunded, self.held + other.held)


def fee_balance(entries: Iterable[LedgerEntry]) -> FeeBalance:
    entries = list(entries)
    return FeeBalance(
        locked=sum(e.amount(HELD_FEES) for e in entries if e.kind == LOCK),
        captured=sum(e.amount(MERCHANT_REVENUE) for e in entries),
        refunded=sum(e.amount(REFUNDS) for e in entries),
        held=sum(e.amount(HELD_FEES) for e in entries),
    )


def expected_balance(m: Membership) -> FeeBalance:
    """What the ledger must say of a membership in its stored status."""
    if m.status == SETTLED:
        return FeeBalance(m.fee_fen, m.fee_fen, 0, 0)
    if m.status == REFUNDED:
        refund = m.refund_fen or 0
        return FeeBalance(m.fee_fen, m.fee_fen - refund, refund, 0)
    return FeeBalance(m.fee_fen, 0, 0, m.fee_fen)

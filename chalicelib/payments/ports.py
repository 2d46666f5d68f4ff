"""The payments area's ports: what it needs from storage and from other areas, what it offers
them, and the plain data they pass. No AWS here.

Dependencies run one way: onboarding ← payments ← memberships ← contests. So the payments
area never imports memberships: it declares here what it needs of members' savings
(`MemberSavings`), and the memberships area implements it; the contest reads payment facts
through `PaymentHistory`, which this area implements over its own table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.onboarding.domain import TerminalGuard
from chalicelib.payments.callbacks import CallbackRecord, received_key  # noqa: F401 - part of the port
from chalicelib.payments.domain import PaymentFacts, PlatformReport, RecordedPayment

# ---------------------------------------------------------------- what other areas contribute


class TerminalGuards(Protocol):
    """Implemented by the onboarding area (it owns terminals and their nonces)."""

    def contribute(self, tx: Any, guard: TerminalGuard) -> None:
        """Add to `tx` the nonce claim (label `nonce`: fails if used within its TTL) and the check
        that the terminal is not revoked (label `terminal`)."""
        ...


@dataclass(frozen=True)
class SavingsDecision:
    """How much of a payment's discount counts as member savings, for which membership, and the
    flags the payment is recorded with when not all of it does."""

    counted_fen: int
    membership_id: str | None
    flags: tuple[str, ...] = field(default_factory=tuple)


NO_SAVINGS = SavingsDecision(0, None)


class MemberSavings(Protocol):
    """Implemented by the memberships area: the savings rule, and the savings move that commits in
    the payment's (or refund's) own transaction."""

    def decide(self, merchant_id: str, buyer_id: str, amount_fen: int, discount_fen: int,
               paid_at: datetime) -> SavingsDecision:
        """What counts of a discount the buyer got on a payment at `paid_at`."""
        ...

    def contribute(self, tx: Any, membership_id: str, delta_fen: int, now: datetime) -> None:
        """Add `delta_fen` (negative: a reversal) to the membership's savings in `tx`, on condition
        that its savings still move at `now` (label `membership`)."""
        ...

    def summary(self, merchant_id: str, now: datetime) -> dict[str, int]:
        """Memberships of the merchant active at `now`: `active`, `locked_fees_fen`, `savings_fen`."""
        ...

    def all_savings(self) -> dict[str, int]:
        """Every membership's savings, by membership id (audits only: a scan)."""
        ...


# ---------------------------------------------------------------- the repository port


@dataclass(frozen=True)
class NewPayment:
    facts: PaymentFacts
    payment_id: str
    business_day: str
    member_savings_fen: int
    membership_id: str | None
    flags: tuple[str, ...]
    recorded_at: datetime


@dataclass(frozen=True)
class NewRefund:
    payment: RecordedPayment
    refund_sk: str
    refund_id: str
    out_request_no: str
    source: str
    amount_fen: int
    recorded_at: datetime
    business_day: str
    savings_reversed_fen: int  # applied to the membership in the same transaction
    requested_fen: int | None = None  # a terminal refund's own amount (None: same as amount_fen)
    terminal_fen: int = 0  # added to the payment's terminal_refunded_fen
    flag: str | None = None  # added to the payment's flags in the same write


@dataclass(frozen=True)
class WriteResult:
    """A write's outcome: committed, or the labels of the items whose condition failed
    (`nonce`, `terminal`, `payment`, `refund`, `membership`) and nothing written."""

    ok: bool
    failed: frozenset[str] = frozenset()
    existing: RecordedPayment | None = None  # the recorded payment when `payment` was already taken


@dataclass(frozen=True)
class Aggregate:
    gmv_fen: int = 0
    payments: int = 0
    refunds_fen: int = 0
    customers: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"gmv_fen": self.gmv_fen, "payments": self.payments, "refunds_fen": self.refunds_fen,
                "customers": self.customers}


@dataclass(frozen=True)
class CallbackPage:
    """Log records newest first, and whether older ones follow."""

    records: tuple[CallbackRecord, ...]
    more: bool


class PaymentsRepository(Protocol):
    """What the payments use cases need from storage. Each write is all or nothing: one
    transaction with the items other areas contribute (nonce, savings) and the callback log."""

    def record_payment(self, new: NewPayment, guard: TerminalGuard | None, log: CallbackRecord | None,
                       token: str | None, report: PlatformReport | None = None) -> WriteResult:
        """Put the payment (its key must be new) with its day/month aggregates and customer markers,
        the membership's savings, the log entry and the nonce."""
        ...

    def record_refund(self, new: NewRefund, guard: TerminalGuard | None, log: CallbackRecord | None,
                      token: str | None) -> WriteResult:
        """Put the refund (its key must be new) if the payment's refunded totals are still the ones
        read, moving the aggregates of the refund's business day and the membership's savings."""
        ...

    def claim_guard(self, guard: TerminalGuard, log: CallbackRecord | None) -> WriteResult:
        """Claim the nonce of a request that records nothing else, with its log entry."""
        ...

    def add_platform_report(self, payment: RecordedPayment, report: PlatformReport, at: datetime,
                            log: CallbackRecord | None = None) -> WriteResult:
        """Keep a platform's report of a recorded payment once (label `platform` taken: a
        redelivery), adding its channel and — through a verified binding — confirming the payment,
        on condition the payment is as read (label `payment`), with the log record."""
        ...

    def add_terminal_report(self, payment: RecordedPayment, facts: PaymentFacts, savings: int,
                            membership_id: str | None, guard: TerminalGuard | None, log: CallbackRecord | None,
                            at: datetime) -> WriteResult:
        """The terminal's report of a payment a platform recorded first: its channel and member
        savings (net of reversals refunds already made), with the nonce and the log record."""
        ...

    def flag_payment(self, merchant_id: str, out_trade_no: str, flag: str) -> None: ...

    def pending_reports(self, platform: str, platform_id: str, limit: int) -> list[PlatformReport]:
        """Reports that came through this binding while it was a claim."""
        ...

    def confirm_pending(self, report: PlatformReport, at: datetime) -> bool:
        """Confirm the payment of a pending report (if it agrees) and clear the report's pending mark."""
        ...

    def drop_pending(self, report: PlatformReport) -> None: ...
    def add_confirm_task(self, platform: str, platform_id: str) -> None: ...
    def confirm_tasks(self) -> list[tuple[str, str]]: ...
    def done_confirm_task(self, platform: str, platform_id: str) -> None: ...

    def log_callback(self, record: CallbackRecord) -> None:
        """Write the log entry of a callback that no other write carried."""
        ...

    def load_payment(self, merchant_id: str, out_trade_no: str) -> tuple[RecordedPayment | None, dict[str, int]]:
        """The payment and its refunds as {refund sk: requested amount}, read consistently."""
        ...

    def day_figures(self, merchant_id: str, day: str) -> Aggregate: ...

    def month_figures(self, merchant_id: str, month: str) -> Aggregate: ...

    def day_series(self, merchant_id: str, days: Sequence[str]) -> list[Aggregate]:
        """The figures of each of `days` (as `day_figures` answers them), in the order given."""
        ...

    def callbacks(self, log_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest callbacks of a merchant (or `unknown#<source>`), newest first."""
        ...

    def callback_page(self, log_keys: Sequence[str], limit: int, before: str | None) -> CallbackPage:
        """Up to `limit` records of these log keys (each with all its partitions), newest first,
        whose `received` key sorts strictly before `before` (when given)."""
        ...


# ---------------------------------------------------------------- what the area offers others


@dataclass(frozen=True)
class PaymentRecord:
    """A recorded payment as other areas may know it, with the total refunded so far."""

    merchant_id: str
    partner_id: str
    out_trade_no: str
    buyer_id: str
    amount_fen: int
    paid_at: datetime
    refunded_fen: int = 0
    confirmed: bool = False  # a verified platform notification came through a verified binding
    platform_paid_at: datetime | None = None  # the platform's payment time, once confirmed
    platform_amount_fen: int | None = None  # the platform's amount, once confirmed


@dataclass(frozen=True)
class SavingsPayment:
    """A payment that counted member savings for a membership, with what it counts now (its
    counted savings net of what refunds reversed)."""

    payment_id: str
    merchant_id: str
    out_trade_no: str
    paid_at: datetime
    discount_fen: int
    savings_fen: int
    confirmed: bool


class PaymentHistory(Protocol):
    """Read access to the recorded payments for other areas (offers, savings statements, contest,
    audit). Implemented over the payments table by `chalicelib.payments.dynamo.DynamoPaymentHistory`."""

    def merchant_payments(self, merchant_id: str, since: datetime, until: datetime) -> list[PaymentRecord]:
        """Payments of a merchant with `since` ≤ paid_at < `until`, each with its refunds."""
        ...

    def earliest_qualifying(self, merchant_id: str, min_fen: int,
                            before: datetime | None = None) -> PaymentRecord | None:
        """The merchant's earliest payment of at least `min_fen` (ties by out_trade_no)."""
        ...

    def merchant_confirmed_payments(self, merchant_id: str, since: datetime, until: datetime) -> list[PaymentRecord]:
        """A merchant's confirmed payments with `since` ≤ platform_paid_at < `until`."""
        ...

    def buyer_payments(self, merchant_id: str, buyer_id: str, since: datetime,
                       until: datetime) -> list[PaymentRecord]:
        """A buyer's payments at one merchant with `since` ≤ paid_at ≤ `until`."""
        ...

    def payments_between(self, since: datetime, until: datetime) -> list[PaymentRecord]:
        """Every payment with `since` ≤ paid_at < `until` (a scan: contest backfill only)."""
        ...

    def all_payments(self) -> list[PaymentRecord]:
        """Every recorded payment (audits only: a scan)."""
        ...

    def savings_by_membership(self) -> dict[str, int]:
        """Σ counted savings net of reversals per membership id (audits only: a scan)."""
        ...

    def from_stream_image(self, image: dict[str, Any]) -> PaymentRecord | None:
        """The payment a payments-table stream image shows (None for refunds and other items)."""
        ...

    def membership_payments(self, membership_id: str) -> list[SavingsPayment]:
        """The payments that counted savings for the membership, oldest `paid_at` first (ties by
        out_trade_no); refunds are in each one's `savings_fen`."""
        ...


# ---------------------------------------------------------------- the read side for people


@dataclass(frozen=True)
class PaymentView:
    """A recorded payment as its merchant, partner or an admin reads it."""

    payment_id: str
    merchant_id: str
    out_trade_no: str
    trade_no: str | None
    amount_fen: int
    discount_fen: int
    buyer_id: str
    paid_at: datetime
    platform_paid_at: datetime | None
    refunded_fen: int
    member_savings_fen: int  # counted when recorded
    savings_reversed_fen: int  # of it, reversed by refunds since
    channels: tuple[str, ...]  # who reported it; `(source,)` for payments recorded before revision 2
    confirmed_at: datetime | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class PagePosition:
    """Where a page of a merchant's day ended: the last payment returned (its key in the list's
    order, latest `paid_at` first)."""

    paid_at: datetime
    out_trade_no: str


@dataclass(frozen=True)
class PaymentPage:
    payments: tuple[PaymentView, ...]
    more: bool  # further payments follow the last one


class PaymentReadStore(Protocol):
    """Reads of the payments table for people (`chalicelib.payments.reading`), never a scan.
    Implemented by `chalicelib.payments.dynamo_reads.DynamoPaymentReads`."""

    def payment(self, merchant_id: str, out_trade_no: str) -> PaymentView | None:
        """One payment of a merchant, None when there is none."""
        ...

    def day_page(self, merchant_id: str, since: datetime, until: datetime, limit: int,
                 after: PagePosition | None) -> PaymentPage:
        """Up to `limit` payments (never refunds) of the merchant with `since` ≤ paid_at < `until`,
        latest first, starting after `after` (None: from the latest); `more` tells whether any
        follow. Following the last payment of each page visits every payment once."""
        ...

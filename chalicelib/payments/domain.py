"""Payment rules: plain data and integer-fen arithmetic, no AWS.

A payment is identified by (merchant_id, out_trade_no) whichever channel reports it (a terminal
callback or an Alipay notification): the first report records it, later reports of the same
payment are duplicates, and a report that contradicts the recorded one is a conflict.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from chalicelib.payments.limits import MAX_AMOUNT_FEN  # noqa: F401 - re-exported

PAID_AT_FUTURE_TOLERANCE_SECONDS = 300
YUAN_RE = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")

FLAG_NOT_ENTITLED = "discount_not_entitled"
FLAG_OVER_ALLOWANCE = "discount_over_allowance"
FLAG_MEMBERSHIP_CLOSED = "membership_closed"
FLAG_PLATFORM_CONFLICT = "platform_conflict"  # a platform notification disagreed with the recorded payment
# the platform refunded more than the terminals' reports left (it moved the money: recorded, capped at the payment)
FLAG_PLATFORM_REFUND_EXCESS = "platform_refund_exceeds_terminals"
TERMINAL = "terminal"


def business_day(at: datetime, tz: ZoneInfo) -> str:
    """The calendar day (YYYY-MM-DD) of `at` in the business time zone."""
    return at.astimezone(tz).date().isoformat()


def month_of(day: str) -> str:
    return day[:7]


def parse_day(text: str) -> date:
    """A YYYY-MM-DD date; ValueError otherwise."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    return date.fromisoformat(text)


def yuan_to_fen(text: str) -> int:
    """'12.34' → 1234, exactly (Decimal); more than two decimals, signs or exponents are refused."""
    if not isinstance(text, str) or not YUAN_RE.fullmatch(text):
        raise ValueError(f"not a yuan amount: {text!r}")
    try:
        fen = Decimal(text) * 100
    except InvalidOperation as exc:  # pragma: no cover - the regex already excludes these
        raise ValueError(f"not a yuan amount: {text!r}") from exc
    assert fen == fen.to_integral_value()
    return int(fen)


def utc_iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class PaymentFacts:
    """What a channel reports about one payment."""

    merchant_id: str
    partner_id: str
    source: str  # "terminal" | "alipay"
    out_trade_no: str
    amount_fen: int
    buyer_id: str
    paid_at: datetime
    discount_fen: int = 0
    trade_no: str | None = None
    store_id: str | None = None
    terminal_id: str | None = None

    @property
    def content_hash(self) -> str:
        """What a duplicate from the same channel must match exactly."""
        doc = [self.source, self.out_trade_no, self.trade_no, self.amount_fen, self.discount_fen,
               self.buyer_id, utc_iso(self.paid_at)]
        return hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class RecordedPayment:
    """The parts of a stored payment that decide duplicates, refunds and savings reversals."""

    payment_id: str
    merchant_id: str
    partner_id: str
    out_trade_no: str
    source: str
    content_hash: str
    amount_fen: int
    buyer_id: str
    paid_at: datetime
    refunded_fen: int = 0
    member_savings_fen: int = 0
    savings_reversed_fen: int = 0
    membership_id: str | None = None
    terminal_refunded_fen: int = 0  # what terminals asked to refund, in total
    channels: tuple[str, ...] = ()  # who reported it (empty: recorded before revision 2, by `source` alone)
    confirmed_at: datetime | None = None  # when the platform's verified word was recorded
    platform_paid_at: datetime | None = None
    platform_amount_fen: int | None = None
    flags: tuple[str, ...] = ()

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def refundable_fen(self) -> int:
        return self.amount_fen - self.refunded_fen

    @property
    def terminal_refundable_fen(self) -> int:
        """What terminals may still ask to refund."""
        return self.amount_fen - self.terminal_refunded_fen


def terminal_refund_adds(payment: RecordedPayment, requested_fen: int) -> int:
    """How much a terminal refund adds to the payment's refunded total.

    Terminal refund callbacks and the platform's cumulative `refund_fee` report the same money
    from two channels, in any order. The refunded total is max(Σ terminal refunds, the
    platform's total): a refund the platform already reported adds nothing, and one it has not
    reported yet adds what it exceeds. (Alipay notifications add `refund_fee − refunded total`
    when positive, which keeps the same invariant.)"""
    return max(payment.terminal_refunded_fen + requested_fen, payment.refunded_fen) - payment.refunded_fen


def same_payment(recorded: RecordedPayment, incoming: PaymentFacts) -> bool:
    """Is `incoming` a repeat of `recorded`? From the same channel every field must match; across
    channels (terminal vs Alipay) the channel-independent facts must: amount and buyer."""
    if recorded.source == incoming.source:
        return recorded.content_hash == incoming.content_hash
    return agrees(recorded, incoming.amount_fen, incoming.buyer_id)


def cumulative_reversal(member_savings_fen: int, refunded_total_fen: int, amount_fen: int) -> int:
    """Savings reversed once `refunded_total_fen` of the payment is refunded:
    floor(savings × refunded / amount) — a full refund reverses everything."""
    if amount_fen <= 0 or member_savings_fen <= 0:
        return 0
    refunded = min(max(refunded_total_fen, 0), amount_fen)
    return (member_savings_fen * refunded) // amount_fen


def reversal_delta(payment: RecordedPayment, new_refunded_total_fen: int) -> int:
    """What a refund bringing the total to `new_refunded_total_fen` reverses now."""
    target = cumulative_reversal(payment.member_savings_fen, new_refunded_total_fen, payment.amount_fen)
    return max(target - payment.savings_reversed_fen, 0)


@dataclass(frozen=True)
class PlatformReport:
    """A payment platform's verified notification of a payment, as it came through a binding."""

    platform: str  # alipay | wechatpay
    platform_id: str  # the merchant's id there (seller_id, sub_mchid)
    merchant_id: str
    out_trade_no: str
    amount_fen: int
    buyer_id: str
    paid_at: datetime  # the platform's payment time
    trade_no: str | None
    binding_verified: bool  # only the word of a verified binding confirms

    @property
    def pending_key(self) -> str:
        return f"{self.platform}#{self.platform_id}"


def agrees(recorded: RecordedPayment, amount_fen: int, buyer_id: str) -> bool:
    """Reports of one payment from different channels agree when amount and buyer agree (times,
    trade numbers and discounts are each channel's own)."""
    return recorded.amount_fen == amount_fen and recorded.buyer_id == buyer_id


def channels_of(recorded: RecordedPayment) -> tuple[str, ...]:
    """Who reported a payment (items recorded before revision 2 name only their `source`)."""
    return recorded.channels or (recorded.source,)

"""Use cases of the payments area: terminal payment and refund callbacks, Alipay notifications,
the merchant dashboard.

Exactly once: each payment or refund is recorded by one conditional transaction (see the
repository); a repeat is recognised from the transaction's failed condition and the old item,
never by a read followed by a write.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.auth import Principal
from chalicelib.clock import Clock
from chalicelib.config import Config
from chalicelib.errors import AppError, Conflict, Forbidden, Invalid, NotFound, StorageUnavailable
from chalicelib.ids import new_id
from chalicelib.observability import logger, metrics
from chalicelib.onboarding.domain import Merchant, TerminalIdentity
from chalicelib.payments import alipay
from chalicelib.payments.domain import (
    FLAG_MEMBERSHIP_CLOSED,
    PAID_AT_FUTURE_TOLERANCE_SECONDS,
    PaymentFacts,
    RecordedPayment,
    SavingsDecision,
    business_day,
    parse_day,
    reversal_delta,
    same_payment,
    savings_decision,
    terminal_refund_adds,
)
from chalicelib.payments.repository import (
    CallbackEntry,
    NewPayment,
    NewRefund,
    PaymentsRepository,
    TerminalGuard,
    raise_guard_failure,
)
from chalicelib.payments.schemas import TerminalPayment, TerminalRefund

T = TypeVar("T")
GUARD_LABELS = frozenset({"nonce", "terminal"})
REFUND_ATTEMPTS = 12


@dataclass
class _Guard:
    """A terminal request's nonce: claimed by the recording transaction, or on its own."""

    guard: TerminalGuard | None
    settled: bool = False


def refund_id_for(merchant_id: str, out_trade_no: str, refund_sk: str) -> str:
    """Refund ids are derived from the refund's key, so a replay names the same refund."""
    digest = hashlib.sha256(f"{merchant_id}#{out_trade_no}#{refund_sk}".encode()).hexdigest()[:24]
    return f"ref_{digest}"


def _token() -> str:
    return uuid.uuid4().hex  # ClientRequestToken: retries of one transaction are applied once


class PaymentsService:
    def __init__(self, repo: PaymentsRepository, clock: Clock, config: Config,
                 merchant_for: Callable[[Principal, str], Merchant],
                 merchant_by_seller: Callable[[str], Merchant | None]) -> None:
        self.repo = repo
        self.clock = clock
        self.config = config
        self._merchant_for = merchant_for
        self._merchant_by_seller = merchant_by_seller
        self._sellers: dict[str, Merchant] = {}

    # ------------------------------------------------------------------ terminal callbacks

    def _guarded(self, identity: TerminalIdentity, wall_now: Any, fn: Callable[[_Guard], T]) -> T:
        """Run a terminal use case. When it fails with a 4xx before its transaction claimed the
        nonce, claim it now: a replayed nonce answers 401 whatever else is wrong."""
        g = _Guard(TerminalGuard(identity.terminal_id, identity.nonce, wall_now))
        try:
            return fn(g)
        except AppError as err:
            if err.status < 500 and not g.settled and g.guard is not None:
                g.settled = True
                self.repo.claim_guard(g.guard)
            raise

    def _settle(self, g: _Guard, duplicate_of: CallbackEntry | None = None) -> None:
        """Claim the nonce of a request that records nothing; a duplicate's callback log entry
        goes in the same write (one round trip instead of two)."""
        if g.guard is not None and not g.settled:
            g.settled = True
            if duplicate_of is not None:
                duplicate_of.status, duplicate_of.code, duplicate_of.outcome = 200, None, "duplicate"
            self.repo.claim_guard(g.guard, duplicate_of, self.clock.now())

    def terminal_payment(self, identity: TerminalIdentity, parse: Callable[[], TerminalPayment],
                         log: CallbackEntry | None, wall_now: Any) -> dict[str, Any]:
        """Record a completed payment reported by a terminal (exactly once)."""

        def run(g: _Guard) -> dict[str, Any]:
            body = parse()
            if log is not None:
                log.out_trade_no = body.out_trade_no
            now = self.clock.now()
            if body.paid_at > now + timedelta(seconds=PAID_AT_FUTURE_TOLERANCE_SECONDS):
                raise Invalid("paid_at is more than 300 s in the future", code="paid_at_in_future")
            facts = PaymentFacts(
                merchant_id=identity.merchant_id, partner_id=identity.partner_id, source="terminal",
                out_trade_no=body.out_trade_no, amount_fen=body.amount_fen, buyer_id=body.buyer_id,
                paid_at=body.paid_at, discount_fen=body.discount_fen, trade_no=body.trade_no,
                store_id=identity.store_id, terminal_id=identity.terminal_id,
            )
            return self._record_payment(facts, g, log)

        return self._guarded(identity, wall_now, run)

    def terminal_refund(self, identity: TerminalIdentity, parse: Callable[[], TerminalRefund],
                        log: CallbackEntry | None, wall_now: Any) -> dict[str, Any]:
        """Record a (partial) refund of a payment, idempotent by out_request_no."""

        def run(g: _Guard) -> dict[str, Any]:
            body = parse()
            if log is not None:
                log.out_trade_no = body.out_trade_no
            sk = f"REF#terminal#{body.out_request_no}"
            rid = refund_id_for(identity.merchant_id, body.out_trade_no, sk)
            for _ in range(REFUND_ATTEMPTS):
                payment, refunds = self.repo.load_payment(identity.merchant_id, body.out_trade_no)
                if payment is None:
                    raise NotFound(f"no payment {body.out_trade_no} at this merchant", code="payment_not_found")
                if sk in refunds:
                    if refunds[sk] != body.amount_fen:
                        raise Conflict("out_request_no already used with another amount", code="refund_conflict")
                    self._settle(g, log)
                    self._duplicate("refund", identity.merchant_id, body.out_trade_no)
                    return {"refund_id": rid, "duplicate": True, "refunded_total_fen": payment.refunded_fen}
                if body.amount_fen > payment.terminal_refundable_fen:
                    raise Conflict(f"only {payment.terminal_refundable_fen} fen left to refund",
                                   code="refund_exceeds_payment")
                adds = terminal_refund_adds(payment, body.amount_fen)
                if self._apply_refund(payment, sk, rid, body.out_request_no, "terminal", adds, g, log,
                                      requested_fen=body.amount_fen):
                    return {"refund_id": rid, "duplicate": False, "refunded_total_fen": payment.refunded_fen + adds}
            raise StorageUnavailable("the payment is changing too fast, retry")

        return self._guarded(identity, wall_now, run)

    # ------------------------------------------------------------------ recording

    def _record_payment(self, facts: PaymentFacts, g: _Guard, log: CallbackEntry | None) -> dict[str, Any]:
        decision = SavingsDecision(0, None)
        if facts.discount_fen > 0:
            membership = self.repo.membership_at(facts.merchant_id, facts.buyer_id, facts.paid_at)
            decision = savings_decision(facts.amount_fen, facts.discount_fen, facts.paid_at, membership)
        day = business_day(facts.paid_at, self.config.tz)
        for _ in range(2):
            new = NewPayment(facts, new_id("pay"), day, decision.counted_fen, decision.membership_id,
                             decision.flags, self.clock.now())
            if log is not None:
                log.status, log.code, log.outcome = 200, None, "recorded"
            result = self.repo.record_payment(new, g.guard, log, _token())
            if result.ok:
                g.settled = True
                metrics.add_metric(name="PaymentRecorded", unit="Count", value=1)
                logger.info("payment recorded", extra={
                    "merchant_id": facts.merchant_id, "terminal_id": facts.terminal_id, "source": facts.source,
                    "out_trade_no": facts.out_trade_no, "payment_id": new.payment_id,
                    "amount_fen": facts.amount_fen, "member_savings_fen": new.member_savings_fen,
                    "flags": list(new.flags)})
                return {"payment_id": new.payment_id, "duplicate": False,
                        "member_savings_fen": new.member_savings_fen}
            if result.failed & GUARD_LABELS:
                g.settled = True
                raise_guard_failure(result)
            if "payment" in result.failed:
                recorded = result.existing
                assert recorded is not None, "a taken payment key comes with the recorded payment"
                if not same_payment(recorded, facts):
                    raise Conflict("out_trade_no already recorded with different content", code="payment_conflict")
                self._settle(g, log)
                self._duplicate("payment", facts.merchant_id, facts.out_trade_no, facts.terminal_id)
                return {"payment_id": recorded.payment_id, "duplicate": True,
                        "member_savings_fen": recorded.member_savings_fen}
            # Only the membership's condition failed: it was refunded or settled meanwhile.
            decision = SavingsDecision(0, None, (FLAG_MEMBERSHIP_CLOSED,))
        raise AssertionError("unreachable: the second attempt writes no membership")

    def _apply_refund(self, payment: RecordedPayment, sk: str, rid: str, out_request_no: str, source: str,
                      amount: int, g: _Guard, log: CallbackEntry | None, requested_fen: int | None = None) -> bool:
        """One attempt at recording a refund that adds `amount` to `payment`'s refunded total as
        read (a terminal's `requested_fen` also adds to its terminal total); False if the payment
        or the refund changed meanwhile (the caller reads again)."""
        frozen = False
        while True:
            delta = 0 if frozen or not payment.membership_id else reversal_delta(payment, payment.refunded_fen + amount)
            now = self.clock.now()
            new = NewRefund(payment, sk, rid, out_request_no, source, amount, now,
                            business_day(now, self.config.tz), delta, requested_fen, requested_fen or 0)
            if log is not None:
                log.status, log.code, log.outcome = 200, None, "recorded"
            result = self.repo.record_refund(new, g.guard, log, _token())
            if result.ok:
                g.settled = True
                metrics.add_metric(name="RefundRecorded", unit="Count", value=1)
                logger.info("refund recorded", extra={
                    "merchant_id": payment.merchant_id, "out_trade_no": payment.out_trade_no, "source": source,
                    "refund_id": rid, "amount_fen": amount, "savings_reversed_fen": delta})
                return True
            if result.failed & GUARD_LABELS:
                g.settled = True
                raise_guard_failure(result)
            if result.failed == {"membership"}:
                frozen = True  # refunded or settled meanwhile: its savings are frozen
                continue
            return False

    def _duplicate(self, kind: str, merchant_id: str, out_trade_no: str, terminal_id: str | None = None) -> None:
        metrics.add_metric(name="DuplicateCallback", unit="Count", value=1)
        logger.info(f"duplicate {kind}", extra={"merchant_id": merchant_id, "out_trade_no": out_trade_no,
                                                "terminal_id": terminal_id})

    # ------------------------------------------------------------------ Alipay

    @cached_property
    def _alipay_key(self) -> rsa.RSAPublicKey | None:
        if not self.config.alipay_public_key:
            return None
        try:
            return alipay.load_public_key(self.config.alipay_public_key)
        except ValueError:
            logger.error("ALIPAY_PUBLIC_KEY is not a usable RSA public key")
            return None

    def _seller(self, seller_id: str) -> Merchant:
        merchant = self._sellers.get(seller_id)
        if merchant is None:
            merchant = self._merchant_by_seller(seller_id)
            if merchant is None:
                raise NotFound("no merchant with this seller_id", code="unknown_seller")
            self._sellers[seller_id] = merchant  # a merchant's seller id never changes
        return merchant

    def alipay_notification(self, raw: bytes, log: CallbackEntry) -> str:
        """Verify and record an Alipay async notification; returns what was done. Any failure
        raises (the view answers `fail` with its status)."""
        params = alipay.parse_form(raw)
        log.out_trade_no = params.get("out_trade_no")
        if params.get("sign_type") == "RSA2" and self._alipay_key is None:
            raise StorageUnavailable("the Alipay public key is not configured", code="alipay_not_configured")
        alipay.verify(params, self._alipay_key)  # type: ignore[arg-type]  # sign_type checked first
        notice = alipay.notice_from(params)
        if notice.app_id != self.config.alipay_app_id:
            raise Forbidden("app_id is not this application's", code="wrong_app_id")
        merchant = self._seller(notice.seller_id)
        log.merchant_id = merchant.merchant_id
        status = notice.trade_status
        if status == alipay.WAIT_BUYER_PAY or (status == alipay.TRADE_CLOSED and not notice.refund_fee_fen):
            return "ignored"
        if status not in (*alipay.PAID_STATUSES, alipay.TRADE_CLOSED):
            raise Invalid(f"unknown trade_status {status!r}", code="invalid_enum")
        if status in alipay.PAID_STATUSES or notice.has_payment_facts:
            if not notice.has_payment_facts:
                raise Invalid("total_amount, buyer_id and gmt_payment are required", code="missing_field")
            assert notice.total_fen is not None and notice.buyer_id is not None and notice.paid_at is not None
            facts = PaymentFacts(
                merchant_id=merchant.merchant_id, partner_id=merchant.partner_id, source="alipay",
                out_trade_no=notice.out_trade_no, amount_fen=notice.total_fen, buyer_id=notice.buyer_id,
                paid_at=notice.paid_at, trade_no=notice.trade_no,
            )
            self._record_payment(facts, _Guard(None), None)
        if notice.refund_fee_fen:
            self._converge_refunds(merchant.merchant_id, notice.out_trade_no, notice.refund_fee_fen)
        return "recorded"

    def _converge_refunds(self, merchant_id: str, out_trade_no: str, target_fen: int) -> None:
        """Record what is missing so the payment's refunded total reaches `target_fen` (the
        platform's cumulative refund_fee). Idempotent and order-independent: the refund's key is
        the total it brings the payment to, and a total already reached records nothing."""
        sk = f"REF#alipay#{target_fen}"
        for _ in range(REFUND_ATTEMPTS):
            payment, refunds = self.repo.load_payment(merchant_id, out_trade_no)
            if payment is None:
                raise NotFound("refund for a payment not recorded yet", code="payment_not_found")
            if target_fen > payment.amount_fen:
                raise Invalid("refund_fee exceeds the payment", code="invalid_value")
            if payment.refunded_fen >= target_fen or sk in refunds:
                return
            rid = refund_id_for(merchant_id, out_trade_no, sk)
            if self._apply_refund(payment, sk, rid, f"alipay-{target_fen}", "alipay",
                                  target_fen - payment.refunded_fen, _Guard(None), None):
                return
        raise StorageUnavailable("the payment is changing too fast, retry")

    # ------------------------------------------------------------------ dashboard

    def dashboard(self, who: Principal, merchant_id: str, date_text: str | None) -> dict[str, Any]:
        """A merchant's day and month figures and its active memberships."""
        merchant = self._merchant_for(who, merchant_id)
        if date_text is None:
            day = business_day(self.clock.now(), self.config.tz)
        else:
            try:
                day = parse_day(date_text).isoformat()
            except ValueError as exc:
                raise Invalid("date must be YYYY-MM-DD", code="invalid_date") from exc
        return {
            "date": day,
            "day": self.repo.day_figures(merchant.merchant_id, day).as_dict(),
            "month": self.repo.month_figures(merchant.merchant_id, day[:7]).as_dict(),
            "members": self.repo.members_summary(merchant.merchant_id, self.clock.now()),
        }

    def callbacks(self, who: Principal, merchant_id: str | None, source: str | None) -> dict[str, Any]:
        """The latest callbacks received for a merchant (or the unattributed ones of a source)."""
        if merchant_id:
            self._merchant_for(who, merchant_id)
            key = merchant_id
        else:
            who.require_role("admin")
            key = f"unknown#{source or 'terminal'}"
        return {"callbacks": self.repo.callbacks(key)}

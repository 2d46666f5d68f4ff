"""Use cases of the payments area: terminal payment and refund callbacks, Alipay notifications,
the merchant dashboard.

Exactly once: each payment or refund is recorded by one conditional transaction (see the
repository); a repeat is recognised from the transaction's failed condition and the old item,
never by a read followed by a write.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel

from chalicelib.auth import Principal, parse_terminal_headers
from chalicelib.clock import Clock
from chalicelib.config import Config
from chalicelib.errors import (
    AppError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
    Unauthorized,
)
from chalicelib.ids import new_id
from chalicelib.observability import logger, metrics
from chalicelib.onboarding.domain import ALIPAY, Binding, BindingChange, Merchant, TerminalGuard, TerminalIdentity
from chalicelib.onboarding.platforms import PLATFORM_ID_PATTERNS, WECHATPAY
from chalicelib.payments import alipay, wechatpay
from chalicelib.payments.callbacks import CallbackReply, CallbackRequest, new_record, rejected
from chalicelib.payments.domain import (
    FLAG_MEMBERSHIP_CLOSED,
    FLAG_PLATFORM_CONFLICT,
    FLAG_PLATFORM_REFUND_EXCESS,
    PAID_AT_FUTURE_TOLERANCE_SECONDS,
    TERMINAL,
    PaymentFacts,
    PlatformReport,
    RecordedPayment,
    agrees,
    business_day,
    channels_of,
    reversal_delta,
    same_payment,
    terminal_refund_adds,
)
from chalicelib.payments.ports import (
    NO_SAVINGS,
    CallbackRecord,
    MemberSavings,
    NewPayment,
    NewRefund,
    PaymentsRepository,
    SavingsDecision,
    WriteResult,
)
from chalicelib.payments.schemas import TerminalPayment, TerminalRefund
from chalicelib.payments.terminal import TerminalVerifier
from chalicelib.schemas import MAX_BODY_BYTES, parse_body
from chalicelib.storage import translate_storage_errors

B = TypeVar("B", bound=BaseModel)
GUARD_LABELS = frozenset({"nonce", "terminal"})
JOIN_ATTEMPTS = 4
REFUND_ATTEMPTS = 12
class Merchants(Protocol):
    """What the payments area needs of onboarding's merchants (OnboardingService offers it)."""

    def merchant_for(self, who: Principal, merchant_id: str) -> Merchant: ...
    def merchant(self, merchant_id: str) -> Merchant: ...
    def binding(self, platform: str, platform_id: str) -> Binding | None: ...
    def verify_binding(self, who: Principal, merchant_id: str, platform: str, raw: bytes) -> BindingChange: ...


@dataclass
class _Attempt:
    """One terminal callback being handled (private to the service): its nonce, claimed exactly
    once — by the write that records it, or on its own when nothing is recorded — and its log
    record, written exactly once: in that same write, or on its own."""

    record: CallbackRecord
    guard: TerminalGuard | None = None
    settled: bool = False  # the nonce was claimed, or its claim failed for good
    logged: bool = False
    ok_status: int = 200  # what a recorded callback is answered (and logged) with

    def recorded(self) -> CallbackRecord:
        return self.record.with_outcome(self.ok_status, "recorded")

    def done(self, result: WriteResult) -> None:
        self.settled = True
        self.logged = result.ok


def numbered_refund_sk(out_request_no: str) -> str:
    """The key of a refund a channel names by its number — a terminal's `out_request_no`, WeChat
    Pay's `out_refund_no` — so both channels' reports of it are one refund. (The key's spelling
    predates WeChat Pay; stored refunds keep it.)"""
    return f"REF#terminal#{out_request_no}"


def refund_id_for(merchant_id: str, out_trade_no: str, refund_sk: str) -> str:
    """Refund ids are derived from the refund's key, so a replay names the same refund."""
    digest = hashlib.sha256(f"{merchant_id}#{out_trade_no}#{refund_sk}".encode()).hexdigest()[:24]
    return f"ref_{digest}"


def raise_guard_failure(result: WriteResult) -> None:
    """Turn a failed terminal guard into the contract's 401 (revocation wins over the nonce)."""
    if "terminal" in result.failed:
        raise Unauthorized("terminal revoked", code="terminal_revoked")
    if "nonce" in result.failed:
        raise Unauthorized("nonce already used", code="replayed_nonce")


def _token() -> str:
    return uuid.uuid4().hex  # ClientRequestToken: retries of one transaction are applied once


class PaymentsService:
    """Terminal payment and refund callbacks, Alipay notifications, the dashboard and the
    callback log. Callbacks come in raw (`CallbackRequest`) and go out as a `CallbackReply`; the
    service authenticates, parses, records and logs them itself."""

    def __init__(self, repo: PaymentsRepository, clock: Clock, config: Config, merchants: Merchants,
                 savings: MemberSavings, verifier: TerminalVerifier) -> None:
        self.repo = repo
        self.clock = clock
        self.config = config
        self.merchants = merchants
        self.savings = savings
        self.verifier = verifier

    # ------------------------------------------------------------------ terminal callbacks

    def terminal_payment(self, req: CallbackRequest) -> CallbackReply:
        """Record a completed payment reported by a terminal (exactly once)."""
        return self._terminal_callback(req, TerminalPayment, self._terminal_payment)

    def terminal_refund(self, req: CallbackRequest) -> CallbackReply:
        """Record a (partial) refund of a payment, idempotent by out_request_no."""
        return self._terminal_callback(req, TerminalRefund, self._terminal_refund)

    def _terminal_callback(self, req: CallbackRequest, schema: type[B],
                           use_case: Callable[[TerminalIdentity, B, _Attempt], dict[str, Any]]) -> CallbackReply:
        """Authenticate, parse and run a terminal callback; log it exactly once.

        The nonce is claimed inside the recording transaction (one round trip). A request that
        records nothing — a duplicate, or a 4xx after the signature was verified — claims it on its
        own, with its log record in the same write: a replayed nonce answers 401 whatever else is
        wrong with the request."""
        at = self.clock.now()
        attempt = _Attempt(new_record(req, at))
        try:
            if len(req.body) > MAX_BODY_BYTES:
                raise PayloadTooLarge("request body exceeds 64 KiB")
            signed = parse_terminal_headers(req.headers, req.wall_time)
            identity = self.verifier.verify(signed, req.method, req.path, req.body)
            attempt.record = attempt.record.about(merchant_id=identity.merchant_id, terminal_id=identity.terminal_id)
            attempt.guard = TerminalGuard(identity.terminal_id, identity.nonce,
                                          datetime.fromtimestamp(req.wall_time, UTC))
            body = parse_body(schema, req.body)
            attempt.record = attempt.record.about(out_trade_no=getattr(body, "out_trade_no", None))
            reply = use_case(identity, body, attempt)
        except Exception as exc:  # noqa: BLE001 - every failure is answered and logged; see _failure
            err = self._failure(exc)
            if err.status < 500 and attempt.guard is not None and not attempt.settled:
                result = self.repo.claim_guard(attempt.guard, rejected(attempt.record, err))
                attempt.done(result)
                if not result.ok:
                    try:
                        raise_guard_failure(result)
                    except Unauthorized as guard_err:
                        err = guard_err
            if not attempt.logged:
                self._log(rejected(attempt.record, err))
            return CallbackReply(err.status, err.body())
        if not attempt.logged:
            self._log(attempt.record.with_outcome(200, "duplicate" if reply.get("duplicate") else "recorded"))
        return CallbackReply(200, reply)

    @staticmethod
    def _failure(exc: Exception) -> AppError:
        """The error a failed callback answers; unexpected non-storage errors propagate (a bug)."""
        if isinstance(exc, AppError):
            if exc.status >= 500:
                logger.warning("callback failed", extra={"code": exc.code}, exc_info=exc.__cause__ is not None)
            return exc
        storage = translate_storage_errors(exc)
        if storage is None:
            raise exc
        logger.exception("storage failure")
        metrics.add_metric(name="StorageFailure", unit="Count", value=1)
        return storage

    def _log(self, record: CallbackRecord) -> None:
        try:
            self.repo.log_callback(record)
        except Exception:  # noqa: BLE001 - the log must never change the answer to the caller
            logger.warning("could not write the callback log", exc_info=True)

    def _settle(self, attempt: _Attempt | None, record: CallbackRecord) -> None:
        """Claim the nonce of a request that records nothing, with its log record."""
        if attempt is None or attempt.guard is None or attempt.settled:
            return
        result = self.repo.claim_guard(attempt.guard, record)
        attempt.done(result)
        raise_guard_failure(result)

    def _terminal_payment(self, identity: TerminalIdentity, body: TerminalPayment, attempt: _Attempt) -> dict[str, Any]:
        now = self.clock.now()
        if body.paid_at > now + timedelta(seconds=PAID_AT_FUTURE_TOLERANCE_SECONDS):
            raise Invalid("paid_at is more than 300 s in the future", code="paid_at_in_future")
        facts = PaymentFacts(
            merchant_id=identity.merchant_id, partner_id=identity.partner_id, source="terminal",
            out_trade_no=body.out_trade_no, amount_fen=body.amount_fen, buyer_id=body.buyer_id,
            paid_at=body.paid_at, discount_fen=body.discount_fen, trade_no=body.trade_no,
            store_id=identity.store_id, terminal_id=identity.terminal_id,
        )
        return self._record_payment(facts, attempt)

    def _terminal_refund(self, identity: TerminalIdentity, body: TerminalRefund, attempt: _Attempt) -> dict[str, Any]:
        sk = numbered_refund_sk(body.out_request_no)
        rid = refund_id_for(identity.merchant_id, body.out_trade_no, sk)
        for _ in range(REFUND_ATTEMPTS):
            payment, refunds = self.repo.load_payment(identity.merchant_id, body.out_trade_no)
            if payment is None:
                raise NotFound(f"no payment {body.out_trade_no} at this merchant", code="payment_not_found")
            if sk in refunds:
                if refunds[sk] != body.amount_fen:
                    raise Conflict("out_request_no already used with another amount", code="refund_conflict")
                self._settle(attempt, attempt.record.with_outcome(200, "duplicate"))
                self._duplicate("refund", identity.merchant_id, body.out_trade_no)
                return {"refund_id": rid, "duplicate": True, "refunded_total_fen": payment.refunded_fen}
            if body.amount_fen > payment.terminal_refundable_fen:
                raise Conflict(f"only {payment.terminal_refundable_fen} fen left to refund",
                               code="refund_exceeds_payment")
            adds = terminal_refund_adds(payment, body.amount_fen)
            if self._apply_refund(payment, sk, rid, body.out_request_no, "terminal", adds, attempt,
                                  requested_fen=body.amount_fen):
                return {"refund_id": rid, "duplicate": False, "refunded_total_fen": payment.refunded_fen + adds}
        raise StorageUnavailable("the payment is changing too fast, retry")

    # ------------------------------------------------------------------ recording

    def _record_payment(self, facts: PaymentFacts, attempt: _Attempt | None,
                        report: PlatformReport | None = None) -> dict[str, Any]:
        """Record a payment (exactly once); `attempt` is the terminal callback carrying it, `report`
        the platform notification (one of the two). A report of a payment already recorded joins it:
        a terminal's adds its channel and its member discount, a platform's its confirmation."""
        decision: SavingsDecision = NO_SAVINGS
        if facts.discount_fen > 0:
            decision = self.savings.decide(facts.merchant_id, facts.buyer_id, facts.amount_fen, facts.discount_fen,
                                           facts.paid_at)
        day = business_day(facts.paid_at, self.config.tz)
        guard = attempt.guard if attempt else None
        log = attempt.recorded() if attempt else None
        for _ in range(JOIN_ATTEMPTS):
            new = NewPayment(facts, new_id("pay"), day, decision.counted_fen, decision.membership_id,
                             decision.flags, self.clock.now())
            result = self.repo.record_payment(new, guard, log, _token(), report)
            if attempt is not None and (result.ok or result.failed & GUARD_LABELS):
                attempt.done(result)
            if result.ok:
                metrics.add_metric(name="PaymentRecorded", unit="Count", value=1)
                if report is not None and report.binding_verified:
                    metrics.add_metric(name="PaymentConfirmed", unit="Count", value=1)
                logger.info("payment recorded", extra={
                    "merchant_id": facts.merchant_id, "terminal_id": facts.terminal_id, "source": facts.source,
                    "out_trade_no": facts.out_trade_no, "payment_id": new.payment_id,
                    "amount_fen": facts.amount_fen, "member_savings_fen": new.member_savings_fen,
                    "flags": list(new.flags)})
                return {"payment_id": new.payment_id, "duplicate": False,
                        "member_savings_fen": new.member_savings_fen}
            raise_guard_failure(result)
            if "payment" in result.failed:
                recorded = result.existing
                assert recorded is not None, "a taken payment key comes with the recorded payment"
                joined = self._join(recorded, facts, decision, attempt, report)
                if joined is not None:
                    self._duplicate("payment", facts.merchant_id, facts.out_trade_no, facts.terminal_id)
                    return joined
                continue  # the payment changed under the join: read it again
            # Only the membership's condition failed: it was refunded or settled meanwhile.
            decision = SavingsDecision(0, None, (FLAG_MEMBERSHIP_CLOSED,))
        raise StorageUnavailable("the payment is changing too fast, retry")

    def _join(self, recorded: RecordedPayment, facts: PaymentFacts, decision: SavingsDecision,
              attempt: _Attempt | None, report: PlatformReport | None) -> dict[str, Any] | None:
        """Another report of a recorded payment: the duplicate's answer, or None when the payment
        changed meanwhile (the caller tries again). Disagreement is a 409 that changes no figure."""
        duplicate = {"payment_id": recorded.payment_id, "duplicate": True,
                     "member_savings_fen": recorded.member_savings_fen}
        if report is not None:
            if not agrees(recorded, report.amount_fen, report.buyer_id):
                self.repo.flag_payment(recorded.merchant_id, recorded.out_trade_no, FLAG_PLATFORM_CONFLICT)
                raise Conflict("the platform's amount or buyer disagrees with the recorded payment",
                               code="payment_conflict")
            if report.platform in channels_of(recorded) and (recorded.confirmed or not report.binding_verified):
                return duplicate  # a redelivery, or nothing more to confirm
            log = attempt.recorded() if attempt is not None else None
            joined = self.repo.add_platform_report(recorded, report, self.clock.now(), log)
            if attempt is not None and joined.ok:
                attempt.done(joined)
            if joined.ok and report.binding_verified and not recorded.confirmed:
                metrics.add_metric(name="PaymentConfirmed", unit="Count", value=1)
            return duplicate if joined.ok or "platform" in joined.failed else None
        if not same_payment(recorded, facts):
            raise Conflict("out_trade_no already recorded with different content", code="payment_conflict")
        assert attempt is not None
        if TERMINAL in channels_of(recorded):
            self._settle(attempt, attempt.record.with_outcome(200, "duplicate"))
            return duplicate
        # The platform reported it first: the terminal's discount counts now, once.
        log = attempt.record.with_outcome(200, "duplicate")
        joined = self.repo.add_terminal_report(recorded, facts, decision.counted_fen, decision.membership_id,
                                               attempt.guard, log, self.clock.now())
        if joined.ok or joined.failed & GUARD_LABELS:
            attempt.done(joined)
        raise_guard_failure(joined)
        if joined.ok:
            return {**duplicate, "member_savings_fen": decision.counted_fen}
        if joined.failed == {"membership"}:  # refunded or settled meanwhile: count nothing
            joined = self.repo.add_terminal_report(recorded, facts, 0, None, attempt.guard, log, self.clock.now())
            if joined.ok:
                attempt.done(joined)
                return duplicate
        return None

    def _apply_refund(self, payment: RecordedPayment, sk: str, rid: str, out_request_no: str, source: str,
                      amount: int, attempt: _Attempt | None, requested_fen: int | None = None,
                      terminal_fen: int | None = None, flag: str | None = None) -> bool:
        """One attempt at recording a refund that adds `amount` to `payment`'s refunded total as
        read (a terminal's `requested_fen` also adds to its terminal total); False if the payment
        or the refund changed meanwhile (the caller reads again)."""
        frozen = False
        guard = attempt.guard if attempt else None
        log = attempt.recorded() if attempt else None
        while True:
            delta = 0 if frozen or not payment.membership_id else reversal_delta(payment, payment.refunded_fen + amount)
            now = self.clock.now()
            new = NewRefund(payment, sk, rid, out_request_no, source, amount, now,
                            business_day(now, self.config.tz), delta, requested_fen,
                            requested_fen or 0 if terminal_fen is None else terminal_fen, flag)
            result = self.repo.record_refund(new, guard, log, _token())
            if attempt is not None and (result.ok or result.failed & GUARD_LABELS):
                attempt.done(result)
            if result.ok:
                metrics.add_metric(name="RefundRecorded", unit="Count", value=1)
                logger.info("refund recorded", extra={
                    "merchant_id": payment.merchant_id, "out_trade_no": payment.out_trade_no, "source": source,
                    "refund_id": rid, "amount_fen": amount, "savings_reversed_fen": delta})
                return True
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

    def _bound(self, platform: str, platform_id: str, code: str = "unknown_seller") -> Binding:
        """The binding a notification routes by — it names the merchant and its partner — read
        consistently (bindings move when an admin verifies an id another merchant only claimed).
        An id that cannot be the platform's is unknown without a read."""
        binding = None
        if re.fullmatch(PLATFORM_ID_PATTERNS[platform], platform_id):
            binding = self.merchants.binding(platform, platform_id)
        if binding is None:
            raise NotFound(f"no merchant with this {platform} id", code=code)
        return binding

    def alipay_notification(self, req: CallbackRequest) -> CallbackReply:
        """Verify and record an Alipay async notification. Alipay reads the plain-text answer:
        `success` once durably recorded, `fail` (with the error's status) otherwise."""
        attempt = _Attempt(new_record(req, self.clock.now()))
        try:
            if len(req.body) > MAX_BODY_BYTES:
                raise PayloadTooLarge("request body exceeds 64 KiB")
            outcome = self._alipay(req.body, attempt)
        except Exception as exc:  # noqa: BLE001 - every failure is answered and logged; see _failure
            err = self._failure(exc)
            self._log(rejected(attempt.record, err))
            return CallbackReply(err.status, "fail", "text/plain")
        self._log(attempt.record.with_outcome(200, outcome))
        return CallbackReply(200, "success", "text/plain")

    def _alipay(self, raw: bytes, attempt: _Attempt) -> str:
        """What was done with a notification (`recorded` or `ignored`); `attempt.record` learns
        which payment and merchant it concerns as they become known."""
        params = alipay.parse_form(raw)
        attempt.record = attempt.record.about(out_trade_no=params.get("out_trade_no"))
        if params.get("sign_type") == "RSA2" and self._alipay_key is None:
            raise StorageUnavailable("the Alipay public key is not configured", code="alipay_not_configured")
        alipay.verify(params, self._alipay_key)  # type: ignore[arg-type]  # sign_type checked first
        notice = alipay.notice_from(params)
        if notice.app_id != self.config.alipay_app_id:
            raise Forbidden("app_id is not this application's", code="wrong_app_id")
        binding = self._bound(ALIPAY, notice.seller_id)
        attempt.record = attempt.record.about(merchant_id=binding.merchant_id)
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
                merchant_id=binding.merchant_id, partner_id=binding.partner_id, source=ALIPAY,
                out_trade_no=notice.out_trade_no, amount_fen=notice.total_fen, buyer_id=notice.buyer_id,
                paid_at=notice.paid_at, trade_no=notice.trade_no,
            )
            report = PlatformReport(ALIPAY, notice.seller_id, binding.merchant_id, notice.out_trade_no,
                                    notice.total_fen, notice.buyer_id, notice.paid_at, notice.trade_no,
                                    binding.verified)
            self._record_payment(facts, None, report)
        if notice.refund_fee_fen:
            self._converge_refunds(binding.merchant_id, notice.out_trade_no, notice.refund_fee_fen)
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
                                  target_fen - payment.refunded_fen, None):
                return
        raise StorageUnavailable("the payment is changing too fast, retry")

    # ------------------------------------------------------------------ WeChat Pay

    @cached_property
    def _wechatpay(self) -> tuple[wechatpay.WechatPayKeys, bytes] | None:
        """The platform's verification keys and the APIv3 key, or None when not configured."""
        c = self.config
        if not c.wechatpay_sp_mchid or not c.wechatpay_apiv3_key:
            return None
        try:
            keys = wechatpay.WechatPayKeys.load(c.wechatpay_public_key_id, c.wechatpay_public_key,
                                                c.wechatpay_platform_certs)
            apiv3 = wechatpay.apiv3_key_bytes(c.wechatpay_apiv3_key)
        except ValueError as exc:
            logger.error("the WeChat Pay configuration is not usable", extra={"reason": str(exc)})
            return None
        return (keys, apiv3) if keys else None

    def wechatpay_notification(self, req: CallbackRequest) -> CallbackReply:
        """Verify, decrypt and record a WeChat Pay v3 notification: `204` once durably recorded,
        already recorded, or acknowledged; otherwise the error (the platform retries any non-2xx).
        The record and its log entry are one transaction."""
        attempt = _Attempt(new_record(req, self.clock.now()), ok_status=204)
        try:
            if len(req.body) > MAX_BODY_BYTES:
                raise PayloadTooLarge("request body exceeds 64 KiB")
            outcome = self._wechatpay_notice(req, attempt)
        except Exception as exc:  # noqa: BLE001 - every failure is answered and logged; see _failure
            err = self._failure(exc)
            if not attempt.logged:
                self._log(rejected(attempt.record, err))
            return CallbackReply(err.status, err.body())
        if not attempt.logged:
            self._log(attempt.record.with_outcome(204, outcome))
        return CallbackReply(204, "")

    def _wechatpay_notice(self, req: CallbackRequest, attempt: _Attempt) -> str:
        setup = self._wechatpay
        if setup is None:
            raise StorageUnavailable("WeChat Pay is not configured", code="wechatpay_not_configured")
        keys, apiv3_key = setup
        wechatpay.verify_headers(req.headers, req.body, keys, req.wall_time)
        envelope = wechatpay.parse_envelope(req.body)
        plaintext = wechatpay.decrypt(envelope.resource, apiv3_key)
        if not wechatpay.handled(envelope.event_type):
            return "ignored"
        routing = wechatpay.routing_of(plaintext)
        if routing.sp_mchid != self.config.wechatpay_sp_mchid:
            raise Forbidden("sp_mchid is not this service provider's", code="wrong_sp_mchid")
        binding = self._bound(WECHATPAY, routing.sub_mchid, code="unknown_sub_mchid")
        attempt.record = attempt.record.about(merchant_id=binding.merchant_id)
        if envelope.event_type == wechatpay.TRANSACTION_SUCCESS:
            paid = wechatpay.payment_notice(plaintext)
            attempt.record = attempt.record.about(out_trade_no=paid.out_trade_no)
            if not paid.succeeded:
                return "ignored"
            assert paid.amount_fen is not None and paid.buyer_id is not None and paid.paid_at is not None
            facts = PaymentFacts(
                merchant_id=binding.merchant_id, partner_id=binding.partner_id, source=WECHATPAY,
                out_trade_no=paid.out_trade_no, amount_fen=paid.amount_fen, buyer_id=paid.buyer_id,
                paid_at=paid.paid_at, trade_no=paid.transaction_id,
            )
            report = PlatformReport(WECHATPAY, routing.sub_mchid, binding.merchant_id, paid.out_trade_no,
                                    paid.amount_fen, paid.buyer_id, paid.paid_at, paid.transaction_id,
                                    binding.verified)
            result = self._record_payment(facts, attempt, report)
            return "duplicate" if result["duplicate"] and not attempt.logged else "recorded"
        if envelope.event_type == wechatpay.REFUND_SUCCESS:
            refunded = wechatpay.refund_notice(plaintext)
            attempt.record = attempt.record.about(out_trade_no=refunded.out_trade_no)
            if not refunded.succeeded:
                return "ignored"
            return self._platform_refund(binding.merchant_id, refunded, attempt)
        return "ignored"

    def _platform_refund(self, merchant_id: str, notice: wechatpay.RefundNotice, attempt: _Attempt) -> str:
        """Record the platform's refund `out_refund_no` once. It is the same refund as a terminal's
        with that `out_request_no`; one the terminals did not leave room for is still recorded (the
        platform moved the money), capped at the payment and flagged."""
        sk = numbered_refund_sk(notice.out_refund_no)
        rid = refund_id_for(merchant_id, notice.out_trade_no, sk)
        for _ in range(REFUND_ATTEMPTS):
            payment, refunds = self.repo.load_payment(merchant_id, notice.out_trade_no)
            if payment is None:
                raise NotFound("refund for a payment not recorded yet", code="payment_not_found")
            if sk in refunds:
                if refunds[sk] != notice.amount_fen:
                    self.repo.flag_payment(merchant_id, notice.out_trade_no, FLAG_PLATFORM_CONFLICT)
                    raise Conflict("out_refund_no already recorded with another amount", code="refund_conflict")
                self._duplicate("refund", merchant_id, notice.out_trade_no)
                return "duplicate"
            if notice.amount_fen > payment.amount_fen:
                raise Invalid("amount.refund exceeds the payment", code="invalid_value")
            room = max(payment.terminal_refundable_fen, 0)
            adds = min(terminal_refund_adds(payment, notice.amount_fen), payment.refundable_fen)
            flag = FLAG_PLATFORM_REFUND_EXCESS if notice.amount_fen > room else None
            if self._apply_refund(payment, sk, rid, notice.out_refund_no, WECHATPAY, adds, attempt,
                                  requested_fen=notice.amount_fen, terminal_fen=min(notice.amount_fen, room),
                                  flag=flag):
                return "recorded"
        raise StorageUnavailable("the payment is changing too fast, retry")

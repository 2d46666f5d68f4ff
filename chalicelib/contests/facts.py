"""The contest's border with the areas it reads: their records (through their ports) become the
contest's own facts here, and stream records become plain images for the owner to decode."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from chalicelib.contests.domain import MembershipFact, PaymentFact, Rules
from chalicelib.memberships.ports import MembershipRecord
from chalicelib.payments.ports import PaymentHistory, PaymentRecord

_TD = TypeDeserializer()


def payment_fact(r: PaymentRecord) -> PaymentFact:
    return PaymentFact(r.merchant_id, r.partner_id, r.out_trade_no, r.buyer_id, r.amount_fen, r.paid_at,
                       r.refunded_fen, confirmed=r.confirmed, platform_paid_at=r.platform_paid_at,
                       platform_amount_fen=r.platform_amount_fen)


def membership_fact(r: MembershipRecord) -> MembershipFact:
    return MembershipFact(r.membership_id, r.merchant_id, r.partner_id, r.created_at)


def image(record: dict[str, Any], which: str = "NewImage") -> dict[str, Any] | None:
    """A DynamoDB stream record's item image as plain values (None when it has none)."""
    raw = (record.get("dynamodb") or {}).get(which)
    if not raw:
        return None
    return {k: _TD.deserialize(v) for k, v in raw.items()}


def payments_for(history: PaymentHistory, merchant_ids: Iterable[str], since: datetime, until: datetime,
                 rules: Rules, workers: int = 8) -> list[PaymentFact]:
    """Everything the reference computation needs about these merchants for [since, until).

    Revision 1: their payments recorded in the window plus each one's earliest qualifying
    payment before it. Confirmation rule: their confirmed payments by the platform's time in the
    window (a sparse index of the payments area; a terminal's `paid_at` cannot bound it) plus each
    one's first recorded payment ever (any amount, confirmed or not: it decides onboarding)."""

    def one(mid: str) -> list[PaymentFact]:
        if rules.require_platform_confirmation:
            confirmed = [payment_fact(r) for r in history.merchant_confirmed_payments(mid, since, until)]
            first = history.earliest_qualifying(mid, 0)
            return confirmed + ([payment_fact(first)] if first else [])
        facts = [payment_fact(r) for r in history.merchant_payments(mid, since, until)]
        earlier = history.earliest_qualifying(mid, rules.min_payment_fen, before=since)
        return facts + ([payment_fact(earlier)] if earlier else [])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [f for chunk in pool.map(one, sorted(set(merchant_ids))) for f in chunk]

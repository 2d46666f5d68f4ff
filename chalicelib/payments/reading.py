"""Reading payments for people: a merchant's business day, newest first and page by page, and one
payment (`GET /v1/merchants/{merchant_id}/payments[/{out_trade_no}]`). Viewers are the merchant,
its partner and admins (`Merchants.merchant_for`: 404 unknown merchant, 403 another tenant).

A day's pages are chained by cursors (`chalicelib.cursors`) bound to the caller and to the query
as resolved: the merchant and the business day, a defaulted day included (a cursor issued for
"today" without `date` is refused once today is another day, rather than reading on in another
day's list). The page size is not bound: a cursor holds the last payment returned, and any `limit`
resumes right after it, so changing it between pages skips and repeats nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.auth import Principal
from chalicelib.clock import Clock, iso
from chalicelib.cursors import CursorSigner, invalid_cursor
from chalicelib.errors import Invalid, NotFound
from chalicelib.parsing import parse_int
from chalicelib.payments.domain import business_day, parse_day, utc_iso
from chalicelib.payments.ports import PagePosition, PaymentReadStore, PaymentView
from chalicelib.payments.service import Merchants

SCOPE = "merchant_payments"  # the list cursors of this module are made for
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
OUT_TRADE_NO_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what any channel may record (contract)


def parse_limit(text: str | None) -> int:
    """A list's `limit`: 1..200 in ASCII digits, default 50; `422 invalid_value` otherwise."""
    return DEFAULT_LIMIT if text is None else parse_int(text, "limit", lo=1, hi=MAX_LIMIT)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The business day as a half-open UTC interval [its midnight, the next midnight) in `tz`."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _time(at: datetime | None) -> str | None:
    return None if at is None else iso(at.astimezone(UTC))


def payment_document(p: PaymentView) -> dict[str, Any]:
    """The contract's payment document (plus `savings_reversed_fen`, what refunds took back of
    `member_savings_fen`)."""
    return {
        "payment_id": p.payment_id, "out_trade_no": p.out_trade_no, "trade_no": p.trade_no,
        "amount_fen": p.amount_fen, "discount_fen": p.discount_fen, "buyer_id": p.buyer_id,
        "paid_at": _time(p.paid_at), "platform_paid_at": _time(p.platform_paid_at),
        "refunded_fen": p.refunded_fen, "member_savings_fen": p.member_savings_fen,
        "savings_reversed_fen": p.savings_reversed_fen, "channels": list(p.channels),
        "confirmed": p.confirmed_at is not None, "confirmed_at": _time(p.confirmed_at), "flags": list(p.flags),
    }


class PaymentReads:
    """A merchant's payments as its viewers read them; parses its own query parameters."""

    def __init__(self, store: PaymentReadStore, merchants: Merchants, clock: Clock, tz: ZoneInfo,
                 cursors: CursorSigner) -> None:
        self.store = store
        self.merchants = merchants
        self.clock = clock
        self.tz = tz
        self.cursors = cursors

    def day(self, who: Principal, merchant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """`{"payments", "next_cursor"}`: the merchant's payments whose `paid_at` falls on the
        business day `date` (default today), latest first, `limit` at a time, after `cursor`."""
        merchant = self.merchants.merchant_for(who, merchant_id)
        day, (since, until) = self._day(query.get("date"))
        limit = parse_limit(query.get("limit"))
        bound = {"merchant_id": merchant.merchant_id, "date": day.isoformat()}
        cursor = query.get("cursor")
        after = None if cursor is None else self._position(self.cursors.open(cursor, SCOPE, who, bound))
        page = self.store.day_page(merchant.merchant_id, since, until, limit, after)
        next_cursor = None
        if page.more and page.payments:
            last = page.payments[-1]
            next_cursor = self.cursors.issue(SCOPE, who, bound, {"paid_at": utc_iso(last.paid_at),
                                                                 "out_trade_no": last.out_trade_no})
        return {"payments": [payment_document(p) for p in page.payments], "next_cursor": next_cursor}

    def one(self, who: Principal, merchant_id: str, out_trade_no: str) -> dict[str, Any]:
        """One payment of the merchant, or `404 payment_not_found`."""
        merchant = self.merchants.merchant_for(who, merchant_id)
        found = self.store.payment(merchant.merchant_id, out_trade_no) if OUT_TRADE_NO_RE.fullmatch(
            out_trade_no) else None  # no channel records any other out_trade_no: not one to look up
        if found is None:
            raise NotFound(f"no payment {out_trade_no[:64]!r} at this merchant", code="payment_not_found")
        return payment_document(found)

    def _day(self, text: str | None) -> tuple[date, tuple[datetime, datetime]]:
        try:
            day = parse_day(text) if text is not None else date.fromisoformat(
                business_day(self.clock.now(), self.tz))
            return day, day_bounds(day, self.tz)
        except (ValueError, OverflowError) as exc:  # not a date, or one whose bounds no clock reaches
            raise Invalid("date must be YYYY-MM-DD", code="invalid_date") from exc

    @staticmethod
    def _position(raw: dict[str, Any]) -> PagePosition:
        try:
            paid_at = datetime.fromisoformat(str(raw["paid_at"]))
            out_trade_no = raw["out_trade_no"]
        except (KeyError, ValueError) as exc:  # pragma: no cover - only a cursor we signed gets here
            raise invalid_cursor() from exc
        if paid_at.tzinfo is None or not isinstance(out_trade_no, str):  # pragma: no cover - as above
            raise invalid_cursor()
        return PagePosition(paid_at, out_trade_no)

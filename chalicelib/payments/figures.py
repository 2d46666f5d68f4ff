"""A merchant's figures and callback log as its viewers read them: the dashboard (day and month
aggregates, active memberships), its day-by-day series, and the callbacks received, page by page.

The callback log's pages are chained by cursors (`chalicelib.cursors`, as the payments list's)
bound to the caller and the log read (the merchant, or the admin's `source`, "all" without one);
a cursor holds the last `received` key returned and the next page starts strictly before it, in
every partition of the log alike, so no entry is skipped or repeated."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Protocol

from chalicelib.auth import Principal
from chalicelib.clock import Clock
from chalicelib.config import Config
from chalicelib.cursors import CursorSigner, invalid_cursor, parse_limit
from chalicelib.errors import Invalid
from chalicelib.onboarding.domain import Merchant
from chalicelib.payments.callbacks import SOURCES as CALLBACK_SOURCES
from chalicelib.payments.callbacks import log_entry, unknown_log_key
from chalicelib.payments.domain import business_day, parse_day
from chalicelib.payments.ports import MemberSavings, PaymentsRepository

MAX_SERIES_DAYS = 92
CALLBACKS_SCOPE = "callbacks"


def _day(text: str | None, name: str) -> date:
    if text is None:
        raise Invalid(f"{name}: required (YYYY-MM-DD)", code="missing_field")
    try:
        return parse_day(text)
    except ValueError as exc:
        raise Invalid(f"{name} must be YYYY-MM-DD", code="invalid_date") from exc


class Viewers(Protocol):
    def merchant_for(self, who: Principal, merchant_id: str) -> Merchant: ...


class PaymentFigures:
    def __init__(self, repo: PaymentsRepository, clock: Clock, config: Config, merchants: Viewers,
                 savings: MemberSavings, cursors: CursorSigner) -> None:
        self.repo = repo
        self.cursors = cursors
        self.clock = clock
        self.config = config
        self.merchants = merchants
        self.savings = savings

    def dashboard(self, who: Principal, merchant_id: str, date_text: str | None) -> dict[str, Any]:
        """A merchant's day and month figures and its active memberships."""
        merchant = self.merchants.merchant_for(who, merchant_id)
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
            "members": self.savings.summary(merchant.merchant_id, self.clock.now()),
        }

    def series(self, who: Principal, merchant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """`{"days": [...]}`: each business day from `from` to `to` (both inclusive, at most 92),
        ascending, with the figures the dashboard shows as that day's `day`."""
        merchant = self.merchants.merchant_for(who, merchant_id)
        first, last = _day(query.get("from"), "from"), _day(query.get("to"), "to")
        if first > last:
            raise Invalid("from must not be after to", code="invalid_value")
        span = (last - first).days + 1
        if span > MAX_SERIES_DAYS:
            raise Invalid(f"at most {MAX_SERIES_DAYS} days at a time", code="range_too_long")
        days = [(first + timedelta(days=n)).isoformat() for n in range(span)]
        figures = self.repo.day_series(merchant.merchant_id, days)
        return {"days": [{"date": d, **f.as_dict()} for d, f in zip(days, figures, strict=True)]}

    def callbacks(self, who: Principal, merchant_id: str | None, query: Mapping[str, str]) -> dict[str, Any]:
        """`{"callbacks", "next_cursor"}`: the callbacks received for a merchant (or, for admins,
        the unattributed ones of `source`, all three sources merged without it), newest first,
        `limit` at a time, after `cursor`."""
        if merchant_id:
            self.merchants.merchant_for(who, merchant_id)
            keys = [merchant_id]
            bound = {"merchant_id": merchant_id}
        else:
            who.require_role("admin")
            source = query.get("source")
            if source is not None and source not in CALLBACK_SOURCES:
                raise Invalid(f"source must be one of {', '.join(CALLBACK_SOURCES)}", code="invalid_enum")
            keys = [unknown_log_key(s) for s in ((source,) if source else CALLBACK_SOURCES)]
            bound = {"source": source or "all"}
        limit = parse_limit(query.get("limit"))
        cursor = query.get("cursor")
        before = None if cursor is None else self.cursors.open(cursor, CALLBACKS_SCOPE, who, bound).get("received")
        if cursor is not None and not isinstance(before, str):
            raise invalid_cursor()
        page = self.repo.callback_page(keys, limit, before)
        next_cursor = None
        if page.more and page.records:
            next_cursor = self.cursors.issue(CALLBACKS_SCOPE, who, bound, {"received": page.records[-1].received})
        return {"callbacks": [log_entry(r) for r in page.records], "next_cursor": next_cursor}

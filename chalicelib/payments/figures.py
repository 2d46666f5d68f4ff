"""A merchant's figures and callback log as its viewers read them: the dashboard (day and month
aggregates, active memberships) and the latest callbacks received."""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.auth import Principal
from chalicelib.clock import Clock
from chalicelib.config import Config
from chalicelib.errors import Invalid
from chalicelib.onboarding.domain import Merchant
from chalicelib.payments.callbacks import SOURCES as CALLBACK_SOURCES
from chalicelib.payments.callbacks import unknown_log_key
from chalicelib.payments.domain import business_day, parse_day
from chalicelib.payments.ports import MemberSavings, PaymentsRepository


class Viewers(Protocol):
    def merchant_for(self, who: Principal, merchant_id: str) -> Merchant: ...


class PaymentFigures:
    def __init__(self, repo: PaymentsRepository, clock: Clock, config: Config, merchants: Viewers,
                 savings: MemberSavings) -> None:
        self.repo = repo
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

    def callbacks(self, who: Principal, merchant_id: str | None, source: str | None) -> dict[str, Any]:
        """The latest callbacks received for a merchant (or the unattributed ones of a source)."""
        if merchant_id:
            self.merchants.merchant_for(who, merchant_id)
            key = merchant_id
        else:
            who.require_role("admin")
            source = source or "terminal"
            if source not in CALLBACK_SOURCES:
                raise Invalid(f"source must be one of {', '.join(CALLBACK_SOURCES)}", code="invalid_enum")
            key = unknown_log_key(source)
        return {"callbacks": self.repo.callbacks(key)}

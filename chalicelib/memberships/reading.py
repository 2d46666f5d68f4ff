"""Reading a merchant's plans and memberships for people (contract, "Reads for people"):
`GET /v1/merchants/{merchant_id}/plans` and `GET /v1/merchants/{merchant_id}/memberships`. Viewers
are the merchant, its partner and admins (`OnboardingService.merchant_for`: 404 unknown merchant,
403 another tenant).

Memberships are newest first and chained by cursors (`chalicelib.cursors`) bound to the caller and
the query as resolved (the merchant and the `status` filter); a cursor holds the last membership
returned, so any `limit` resumes right after it. `status` is what a membership shows
(`Membership.status_at` on the business clock), as `GET /v1/memberships/{id}` answers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.auth import Principal
from chalicelib.clock import Clock, iso
from chalicelib.cursors import CursorSigner, parse_limit
from chalicelib.errors import Invalid
from chalicelib.memberships.domain import STATUSES, Plan
from chalicelib.memberships.ports import MembershipRepository
from chalicelib.onboarding.domain import list_order
from chalicelib.onboarding.reading import position, resume_after
from chalicelib.onboarding.service import OnboardingService

SCOPE = "merchant_memberships"


def plan_document(plan: Plan) -> dict[str, Any]:
    """A plan as its creation answers it."""
    return {**plan.to_dict(), "created_at": iso(plan.created_at)}


class MembershipReads:
    """A merchant's plans and memberships as its viewers read them; parses its own query."""

    def __init__(self, repo: MembershipRepository, onboarding: OnboardingService, clock: Clock,
                 cursors: CursorSigner) -> None:
        self.repo = repo
        self.onboarding = onboarding
        self.clock = clock
        self.cursors = cursors

    def plans(self, who: Principal, merchant_id: str) -> dict[str, Any]:
        """`{"plans"}`: the merchant's plans, oldest first."""
        merchant = self.onboarding.merchant_for(who, merchant_id)
        return {"plans": [plan_document(p) for p in self.repo.list_plans(merchant.merchant_id)]}

    def memberships(self, who: Principal, merchant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """`{"memberships", "next_cursor"}`: the merchant's memberships, newest first, those of
        `status` only if given, `limit` at a time after `cursor`."""
        merchant = self.onboarding.merchant_for(who, merchant_id)
        status = query.get("status")
        if status is not None and status not in STATUSES:
            raise Invalid(f"status must be one of {', '.join(STATUSES)}", code="invalid_enum")
        limit = parse_limit(query.get("limit"))
        bound = {"merchant_id": merchant.merchant_id, "status": status or ""}
        cursor = query.get("cursor")
        after = None if cursor is None else position(self.cursors.open(cursor, SCOPE, who, bound))
        now = self.clock.now()
        page = self.repo.merchant_page(merchant.merchant_id, status, now, limit, after)
        next_cursor = None
        if page.more and page.items:
            last = page.items[-1]
            next_cursor = self.cursors.issue(SCOPE, who, bound, resume_after(
                list_order(last.created_at, last.membership_id), last.membership_id))
        return {"memberships": [m.to_dict(now) for m in page.items], "next_cursor": next_cursor}

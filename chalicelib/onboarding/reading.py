"""Reading partners, merchants and terminals for people (contract, "Reads for people"):
`GET /v1/partners[/{partner_id}]`, `GET /v1/partners/{partner_id}/merchants`,
`GET /v1/merchants/{merchant_id}` (with its stores and platform bindings) and
`GET /v1/merchants/{merchant_id}/terminals`. Viewers are those of revision 1: admins see all, a
partner itself and its merchants, a merchant itself (404 unknown, 403 `forbidden_tenant`).

Lists are newest first, one Query each, chained by cursors (`chalicelib.cursors`) bound to the
caller and the list's query (the partner whose merchants they are); a cursor holds the last item
returned, so any `limit` resumes right after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chalicelib.auth import Principal
from chalicelib.clock import iso
from chalicelib.cursors import CursorSigner, invalid_cursor, parse_limit
from chalicelib.onboarding.domain import (
    PLATFORMS,
    Binding,
    ListPosition,
    Merchant,
    Page,
    Partner,
    Store,
    TerminalInfo,
    list_order,
)
from chalicelib.onboarding.ports import OnboardingRepository
from chalicelib.onboarding.service import OnboardingService

PARTNERS_SCOPE = "partners"
MERCHANTS_SCOPE = "partner_merchants"
T = TypeVar("T")


def binding_document(b: Binding) -> dict[str, Any]:
    """A platform binding as the API shows it (`PUT /v1/admin/merchants/{id}/bindings/{platform}`
    answers the same)."""
    return {"platform": b.platform, "id": b.platform_id, "verified": b.verified,
            "verified_at": iso(b.verified_at) if b.verified_at else None}


def partner_document(p: Partner) -> dict[str, Any]:
    return {"partner_id": p.partner_id, "name": p.name, "created_at": iso(p.created_at)}


def store_document(s: Store) -> dict[str, Any]:
    return {"store_id": s.store_id, "name": s.name, "address": s.address}


def terminal_document(t: TerminalInfo) -> dict[str, Any]:
    return {"terminal_id": t.terminal_id, "store_id": t.store_id, "kind": t.kind, "revoked": t.revoked,
            "created_at": iso(t.created_at)}


def position(raw: dict[str, Any]) -> ListPosition:
    """The position a cursor of a `list_order` list carries."""
    order, item_id = raw.get("order"), raw.get("id")
    if not isinstance(order, str) or not isinstance(item_id, str):  # pragma: no cover - we signed it
        raise invalid_cursor()
    return ListPosition(order, item_id)


def resume_after(order: str, item_id: str) -> dict[str, str]:
    """A cursor's position: after the item of this `list_order` and id."""
    return {"order": order, "id": item_id}


class OnboardingReads:
    """Partners, merchants and terminals as their viewers read them; parses its own query."""

    def __init__(self, repo: OnboardingRepository, onboarding: OnboardingService, cursors: CursorSigner) -> None:
        self.repo = repo
        self.onboarding = onboarding
        self.cursors = cursors

    # -- partners
    def partners(self, who: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """`{"partners", "next_cursor"}`: every partner, newest first (admins)."""
        who.require_role("admin")
        limit = parse_limit(query.get("limit"))
        bound: dict[str, str] = {}
        page = self.repo.partners_page(limit, self._after(query, PARTNERS_SCOPE, who, bound))
        return {"partners": [partner_document(p) for p in page.items],
                "next_cursor": self._next(page, PARTNERS_SCOPE, who, bound,
                                          lambda p: resume_after(list_order(p.created_at, p.partner_id), p.partner_id))}

    def partner(self, who: Principal, partner_id: str) -> dict[str, Any]:
        """One partner (admins, the partner itself)."""
        who.require_partner(partner_id)
        return partner_document(self.onboarding.partner(partner_id))

    # -- merchants
    def merchants(self, who: Principal, partner_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """`{"merchants", "next_cursor"}`: the partner's merchants, newest first (admins, the partner)."""
        who.require_partner(partner_id)
        partner = self.onboarding.partner(partner_id)
        limit = parse_limit(query.get("limit"))
        bound = {"partner_id": partner.partner_id}
        page = self.repo.merchants_page(partner.partner_id, limit, self._after(query, MERCHANTS_SCOPE, who, bound))
        return {"merchants": self._merchant_documents(list(page.items)),
                "next_cursor": self._next(page, MERCHANTS_SCOPE, who, bound,
                                          lambda m: resume_after(list_order(m.created_at, m.merchant_id),
                                                                 m.merchant_id))}

    def merchant(self, who: Principal, merchant_id: str) -> dict[str, Any]:
        """One merchant with its stores and platform bindings (its viewers)."""
        return self._merchant_documents([self.onboarding.merchant_for(who, merchant_id)])[0]

    def _merchant_documents(self, merchants: list[Merchant]) -> list[dict[str, Any]]:
        """Merchants with their stores (a Query each, in parallel) and the bindings of the platform
        ids they hold (one BatchGetItem per 100), in the order given."""
        stores = self.repo.stores_of(m.merchant_id for m in merchants)
        held = {(p, pid): m.merchant_id for m in merchants for p in PLATFORMS if (pid := m.platform_id(p))}
        bindings: dict[str, list[Binding]] = {}
        for b in self.repo.bindings_of(held):
            if held.get((b.platform, b.platform_id)) == b.merchant_id:  # not one moved on since
                bindings.setdefault(b.merchant_id, []).append(b)
        return [{
            "merchant_id": m.merchant_id, "partner_id": m.partner_id, "name": m.name, "category": m.category,
            "city": m.city, "created_at": iso(m.created_at),
            "stores": [store_document(s) for s in stores.get(m.merchant_id, [])],
            "bindings": [binding_document(b) for b in sorted(bindings.get(m.merchant_id, []),
                                                             key=lambda b: PLATFORMS.index(b.platform))],
        } for m in merchants]

    # -- terminals
    def terminals(self, who: Principal, merchant_id: str) -> dict[str, Any]:
        """`{"terminals"}`: the merchant's terminals, revoked ones included, newest first; no secret."""
        merchant = self.onboarding.merchant_for(who, merchant_id)
        return {"terminals": [terminal_document(t) for t in self.repo.terminals_of(merchant.merchant_id)]}

    # -- cursors
    def _after(self, query: Mapping[str, str], scope: str, who: Principal,
               bound: Mapping[str, str]) -> ListPosition | None:
        cursor = query.get("cursor")
        return None if cursor is None else position(self.cursors.open(cursor, scope, who, bound))

    def _next(self, page: Page[T], scope: str, who: Principal, bound: Mapping[str, str],
              resume: Callable[[T], dict[str, str]]) -> str | None:
        if not (page.more and page.items):
            return None
        return self.cursors.issue(scope, who, bound, resume(page.items[-1]))

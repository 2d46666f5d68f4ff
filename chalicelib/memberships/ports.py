"""The memberships area's ports: its repository, what it offers the contest, and the data they
pass. No AWS here; the DynamoDB adapters are in `chalicelib.memberships.dynamo`, the fakes in
`tests/fakes/memberships.py`, and both pass tests/integration/test_memberships_contract.py.

What the payments area needs of memberships (`MemberSavings`) is declared by payments, in
`chalicelib.payments.ports`, since the dependency runs memberships → payments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.memberships.domain import LedgerEntry, Membership, Plan
from chalicelib.onboarding.domain import ListPosition, Page


class MembershipRepository(Protocol):
    """Plans, memberships and their fee ledger. Every status change is one conditional write
    together with its ledger entry (and the one-active-membership guard), so two racing writers
    never both win and a failure leaves nothing half-written."""

    def add_plan(self, plan: Plan) -> None:
        """`Conflict` if the plan id is taken."""
    def get_plan(self, plan_id: str) -> Plan | None: ...
    def list_plans(self, merchant_id: str) -> list[Plan]:
        """Oldest first."""
    def get(self, membership_id: str) -> Membership | None:
        """Read consistently."""
    def for_customer(self, customer_id: str) -> list[Membership]:
        """Newest first."""
    def merchant_page(self, merchant_id: str, status: str | None, now: datetime, limit: int,
                      after: ListPosition | None) -> Page[Membership]:
        """Up to `limit` of the merchant's memberships, newest first (`list_order` descending),
        after `after`; only those whose status at `now` (`Membership.status_at`) is `status`, if given."""
    def for_member(self, merchant_id: str, customer_id: str, started_by: datetime) -> list[Membership]:
        """The customer's memberships at the merchant started by then, newest first."""
    def active_holder(self, merchant_id: str, customer_id: str) -> str | None:
        """The membership id holding the one-active guard, if any (read consistently)."""
    def lock(self, m: Membership, entry: LedgerEntry, provider_ref: str, now: datetime) -> Membership:
        """Claim the guard, store the membership and its LOCK entry, atomically. A holder whose
        period already ended is moved to `expired` in the same write. `Conflict(already_member)`
        while another membership is active; returns the stored one if this id exists already."""
    def expire(self, m: Membership) -> bool:
        """`active` → `expired` (releases the guard); False if it was no longer active."""
    def settle(self, m: Membership, entry: LedgerEntry, now: datetime) -> bool:
        """`expired` → `settled` with the CAPTURE entry, capture pending at the provider."""
    def refund(self, m: Membership, refund_fen: int, entry: LedgerEntry, now: datetime, key: str | None) -> bool:
        """→ `refunded` with the REFUND entry, refund pending at the provider, if status and
        savings are still those of `m`; False otherwise."""
    def provider_done(self, membership_id: str, pending: str) -> None:
        """The provider confirmed the `pending` call ("capture" | "refund")."""
    def due(self, now: datetime, limit: int) -> list[Membership]:
        """Memberships whose next lifecycle step (or pending provider call) is due."""
    def all_memberships(self) -> list[Membership]:
        """Audits only: a scan."""
    def all_entries(self) -> list[LedgerEntry]:
        """Audits only: a scan."""


# ---------------------------------------------------------------- what the area offers the contest


@dataclass(frozen=True)
class MembershipRecord:
    """A locked membership as the contest counts it (`new_members`)."""

    membership_id: str
    merchant_id: str
    partner_id: str
    created_at: datetime

    @classmethod
    def of(cls, m: Membership) -> MembershipRecord:
        return cls(m.membership_id, m.merchant_id, m.partner_id, m.created_at)


class MembershipHistory(Protocol):
    """Read access to the locked memberships for the contest. Windows are half-open:
    `since` ≤ created_at < `until`."""

    def for_partners(self, partner_ids: Iterable[str], since: datetime, until: datetime) -> list[MembershipRecord]:
        """Memberships locked at the partners' merchants in the window."""
        ...

    def between(self, since: datetime, until: datetime) -> list[MembershipRecord]:
        """Every membership locked in the window (a scan: contest backfill only)."""
        ...

    def all(self) -> list[MembershipRecord]:
        """Every membership (audits only: a scan)."""
        ...

    def from_stream_image(self, image: dict[str, Any]) -> MembershipRecord | None:
        """The membership a memberships-table stream image (deserialized NewImage) shows."""
        ...

"""The memberships table as other areas read it: `DynamoMemberSavings` (the payments area's
`MemberSavings` port) and `DynamoMembershipHistory` (the contest's `MembershipHistory`). Both pass
the contract suites of their fakes (tests/integration/test_memberships_contract.py)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition

from chalicelib.memberships.domain import (
    ACTIVE,
    SAVINGS_OPEN_STATUSES,
    Membership,
    MembershipTerms,
    members_summary,
    savings_decision,
)
from chalicelib.memberships.dynamo import DynamoMembershipRepository, membership_from
from chalicelib.memberships.models import MembershipModel, member_key
from chalicelib.memberships.ports import MembershipRecord
from chalicelib.payments.ports import NO_SAVINGS, SavingsDecision
from chalicelib.storage import Tx, with_retries

# ---------------------------------------------------------------- what payments asks of memberships


def savings_move(now: datetime) -> Condition:
    """`Membership.savings_move_at(now)` as a condition on the membership item."""
    return (MembershipModel.membership_id.exists() & MembershipModel.status.is_in(*SAVINGS_OPEN_STATUSES)
            & (MembershipModel.refund_deadline > now))


class DynamoMemberSavings:
    """`chalicelib.payments.ports.MemberSavings` over the memberships table."""

    def __init__(self, connection: Connection) -> None:
        self._repo = DynamoMembershipRepository(connection)

    def decide(self, merchant_id: str, buyer_id: str, amount_fen: int, discount_fen: int,
               paid_at: datetime) -> SavingsDecision:
        if discount_fen <= 0:
            return NO_SAVINGS
        return savings_decision(amount_fen, discount_fen, paid_at, self.membership_at(merchant_id, buyer_id, paid_at))

    def membership_at(self, merchant_id: str, buyer_id: str, at: datetime) -> MembershipTerms | None:
        """The buyer's membership at this merchant that started last at or before `at`.

        The index is eventually consistent: a membership locked a moment ago may not be in it
        yet. When it shows none covering `at`, the active guard (a consistent read) names the
        current one, so a member paying right after locking in still counts."""
        items = with_retries(lambda: list(MembershipModel.member_index.query(
            member_key(merchant_id, buyer_id), MembershipModel.starts_at <= at,
            scan_index_forward=False, limit=1)))
        m = membership_from(items[0]) if items else None
        if m is None or m.ends_at <= at:
            m = self._holder_covering(merchant_id, buyer_id, at) or m
        return None if m is None else m.terms()

    def _holder_covering(self, merchant_id: str, buyer_id: str, at: datetime) -> Membership | None:
        holder_id = self._repo.active_holder(merchant_id, buyer_id)
        m = self._repo.get(holder_id) if holder_id else None
        return m if m is not None and m.starts_at <= at < m.ends_at else None

    def contribute(self, tx: Tx, membership_id: str, delta_fen: int, now: datetime) -> None:
        tx.update("membership", MembershipModel(membership_id), [MembershipModel.savings_fen.add(delta_fen)],
                  condition=savings_move(now))

    def summary(self, merchant_id: str, now: datetime) -> dict[str, int]:
        # the filter is `members_summary`'s own test (status_at(now) == active), pushed down
        active = (MembershipModel.status == ACTIVE) & (MembershipModel.ends_at > now)
        return members_summary(with_retries(lambda: [membership_from(m) for m in MembershipModel.merchant_index.query(
            merchant_id, filter_condition=active)]), now)

    def all_savings(self) -> dict[str, int]:
        return with_retries(lambda: {
            m.membership_id: int(m.savings_fen or 0)
            for m in MembershipModel.scan(attributes_to_get=["membership_id", "savings_fen"])})


# ---------------------------------------------------------------- what the contest reads


def membership_record(image: dict[str, Any]) -> MembershipRecord | None:
    """The membership a (deserialized) memberships-table item image shows, None for other items."""
    if "membership_id" not in image or "sk" in image:
        return None
    return MembershipRecord(str(image["membership_id"]), str(image["merchant_id"]), str(image["partner_id"]),
                            MembershipModel.created_at.deserialize(str(image["created_at"])))


def _record(m: MembershipModel) -> MembershipRecord:
    return MembershipRecord(m.membership_id, m.merchant_id, m.partner_id, m.created_at)


class DynamoMembershipHistory:
    """`ports.MembershipHistory` over the memberships table (partner_created_index, scans)."""

    def __init__(self, workers: int = 8) -> None:
        self._workers = workers

    def for_partners(self, partner_ids: Iterable[str], since: datetime, until: datetime) -> list[MembershipRecord]:
        def one(pid: str) -> list[MembershipRecord]:
            return with_retries(lambda: [
                _record(m) for m in MembershipModel.partner_index.query(
                    pid, MembershipModel.created_at.between(since, until)) if m.created_at < until])

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            return [r for chunk in pool.map(one, sorted(set(partner_ids))) for r in chunk]

    def between(self, since: datetime, until: datetime) -> list[MembershipRecord]:
        window = (MembershipModel.created_at >= since) & (MembershipModel.created_at < until)
        return with_retries(lambda: [_record(m) for m in MembershipModel.scan(window)])

    def all(self) -> list[MembershipRecord]:
        return with_retries(lambda: [_record(m) for m in MembershipModel.scan()])

    def from_stream_image(self, image: dict[str, Any]) -> MembershipRecord | None:
        return membership_record(image)

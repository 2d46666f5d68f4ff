"""How the composition root builds the memberships area (kept here so `container.py` only
holds a few one-line hooks)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from chalicelib.memberships.idempotency import DynamoIdempotencyStore, Idempotency
from chalicelib.memberships.provider import build_fee_provider
from chalicelib.memberships.repository import DynamoMembershipRepository
from chalicelib.memberships.service import MembershipService
from chalicelib.storage import connection

if TYPE_CHECKING:
    from chalicelib.container import Container


def build_service(container: Container) -> MembershipService:
    return MembershipService(
        repo=DynamoMembershipRepository(connection()),
        clock=container.clock,
        provider=build_fee_provider(os.environ.get("YUNDIAN_FEE_PROVIDER", "sandbox")),
        onboarding=container.onboarding,
        idempotency=Idempotency(DynamoIdempotencyStore(), ttl_seconds=container.config.idempotency_ttl_seconds),
    )


def jobs(container: Container) -> dict[str, Any]:
    return {"memberships_lifecycle": lambda: container.memberships.run_lifecycle()}


def audit_checks(container: Container) -> list[Any]:
    return [lambda: container.memberships.audit_fees()]

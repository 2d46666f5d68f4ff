"""Routes: membership plans, lock-ins, refunds and the terminal's offer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.api.routing import IDEMPOTENCY_KEY, PAGED, Ctx, Param, Router
from chalicelib.memberships.responses import (
    Membership,
    MembershipPage,
    MembershipRefund,
    MyMemberships,
    Offer,
    Plan,
    PlanList,
    SavingsStatement,
)
from chalicelib.memberships.schemas import CreatePlan, LockIn, OfferRequest, RefundRequest

router = Router(__name__)
STATUS = Param("status", {"type": "string", "enum": ["active", "expired", "refunded", "settled"]},
               description="only memberships in this status")

if TYPE_CHECKING:
    from chalicelib.memberships.idempotency import Outcome


def _respond(outcome: Outcome) -> Response:
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(body=outcome.body, status_code=outcome.status, headers=headers)


@router.route("/v1/merchants/{merchant_id}/plans", "POST", roles=("admin", "partner", "merchant"), body=CreatePlan,
              status=201, tag="memberships", response=Plan, errors=(409,))
def create_plan(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """Create a membership plan for a merchant."""
    return ctx.services.memberships.create_plan(ctx.who, merchant_id, ctx.raw)


@router.route("/v1/merchants/{merchant_id}/plans", "GET", roles=("admin", "partner", "merchant"), tag="memberships",
              response=PlanList)
def list_plans(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """A merchant's membership plans."""
    return ctx.services.membership_reads.plans(ctx.who, merchant_id)


@router.route("/v1/merchants/{merchant_id}/memberships", "GET", roles=("admin", "partner", "merchant"),
              tag="memberships", query=(STATUS, *PAGED), response=MembershipPage)
def list_memberships(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """A merchant's memberships, newest first, page by page (`status` filters)."""
    return ctx.services.membership_reads.memberships(ctx.who, merchant_id, ctx.query)


# 404 plan_not_found (the plan is named in the body); 409 already_member, idempotency_in_progress; 502
# fee_provider_unavailable (the provider refused or failed the freeze: nothing decided, retry).
@router.route("/v1/memberships", "POST", roles=("customer",), body=LockIn, status=201, tag="memberships",
              headers=(IDEMPOTENCY_KEY,), response=Membership, errors=(404, 409, 502))
def lock_in(ctx: Ctx) -> Response:
    """Lock a plan's fee and become a member (idempotent by Idempotency-Key)."""
    return _respond(ctx.services.memberships.lock_in(ctx.who, ctx.raw, ctx.header("Idempotency-Key")))


@router.route("/v1/memberships/{membership_id}", "GET", tag="memberships", response=Membership)
def get_membership(ctx: Ctx, membership_id: str) -> dict[str, Any]:
    """One membership (its customer, its merchant or partner, admin)."""
    return ctx.services.memberships.get(ctx.who, membership_id)


@router.route("/v1/me/memberships", "GET", roles=("customer",), tag="memberships", response=MyMemberships)
def my_memberships(ctx: Ctx) -> dict[str, Any]:
    """The calling customer's memberships."""
    return ctx.services.memberships.mine(ctx.who)


@router.route("/v1/memberships/{membership_id}/refund", "POST", roles=("customer",), body=RefundRequest,
              tag="memberships", headers=(IDEMPOTENCY_KEY,), response=MembershipRefund, errors=(409,))
def refund(ctx: Ctx, membership_id: str) -> Response:
    """Ask back the shortfall after the period (idempotent by Idempotency-Key)."""
    return _respond(ctx.services.memberships.refund(ctx.who, membership_id, ctx.raw, ctx.header("Idempotency-Key")))


@router.route("/v1/terminal/offers", "POST", auth="terminal", body=OfferRequest, tag="memberships", response=Offer)
def offers(ctx: Ctx) -> dict[str, Any]:
    """What the big screen shows before the buyer pays: member discount or a membership offer."""
    return ctx.services.memberships.offer(ctx.terminal, ctx.raw)


@router.route("/v1/memberships/{membership_id}/savings", "GET", tag="memberships", response=SavingsStatement)
def savings_statement(ctx: Ctx, membership_id: str) -> dict[str, Any]:
    """The payments that counted savings for a membership, with what each counts now."""
    return ctx.services.memberships.savings_statement(ctx.who, membership_id)

"""Routes: partners, merchants, stores, terminals."""

from __future__ import annotations

from typing import Any

from chalicelib.api.routing import PAGED, Ctx, Router
from chalicelib.onboarding.responses import (
    Binding,
    Merchant,
    MerchantCreated,
    MerchantPage,
    Partner,
    PartnerPage,
    StorePage,
    TerminalIdentity,
    TerminalList,
    TerminalRegistered,
)
from chalicelib.onboarding.schemas import CreateMerchant, CreatePartner, CreateTerminal, PutBinding

router = Router(__name__)


@router.route("/v1/partners", "POST", roles=("admin",), body=CreatePartner, status=201, tag="onboarding",
              response=Partner, errors=(409,))
def create_partner(ctx: Ctx) -> dict[str, Any]:
    """Register a partner (payment service provider)."""
    return ctx.services.onboarding.create_partner(ctx.who, ctx.raw)


@router.route("/v1/partners", "GET", roles=("admin",), tag="onboarding", query=PAGED, response=PartnerPage)
def list_partners(ctx: Ctx) -> dict[str, Any]:
    """Every partner, newest first, page by page (admin)."""
    return ctx.services.onboarding_reads.partners(ctx.who, ctx.query)


@router.route("/v1/partners/{partner_id}", "GET", roles=("admin", "partner"), tag="onboarding", response=Partner)
def get_partner(ctx: Ctx, partner_id: str) -> dict[str, Any]:
    """One partner (admin, the partner itself)."""
    return ctx.services.onboarding_reads.partner(ctx.who, partner_id)


@router.route("/v1/partners/{partner_id}/merchants", "GET", roles=("admin", "partner"), tag="onboarding",
              query=PAGED, response=MerchantPage)
def list_merchants(ctx: Ctx, partner_id: str) -> dict[str, Any]:
    """A partner's merchants, newest first, page by page."""
    return ctx.services.onboarding_reads.merchants(ctx.who, partner_id, ctx.query)


@router.route("/v1/merchants/{merchant_id}", "GET", roles=("admin", "partner", "merchant"), tag="onboarding",
              response=Merchant)
def get_merchant(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """One merchant with its stores and platform bindings."""
    return ctx.services.onboarding_reads.merchant(ctx.who, merchant_id)


@router.route("/v1/merchants/{merchant_id}/terminals", "GET", roles=("admin", "partner", "merchant"),
              tag="onboarding", response=TerminalList)
def list_terminals(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """A merchant's terminals, revoked ones included (never a secret)."""
    return ctx.services.onboarding_reads.terminals(ctx.who, merchant_id)


@router.route("/v1/partners/{partner_id}/merchants", "POST", roles=("admin", "partner"), body=CreateMerchant,
              status=201, tag="onboarding", response=MerchantCreated, errors=(409,))
def create_merchant(ctx: Ctx, partner_id: str) -> dict[str, Any]:
    """Onboard a merchant with its stores."""
    return ctx.services.onboarding.create_merchant(ctx.who, partner_id, ctx.raw)


@router.route("/v1/merchants/{merchant_id}/terminals", "POST", roles=("admin", "partner", "merchant"),
              body=CreateTerminal, status=201, tag="onboarding", response=TerminalRegistered, errors=(409,))
def create_terminal(ctx: Ctx, merchant_id: str) -> dict[str, Any]:
    """Register a terminal at a store; its secret is returned once."""
    return ctx.services.onboarding.create_terminal(ctx.who, merchant_id, ctx.raw)


@router.route("/v1/terminals/{terminal_id}", "DELETE", roles=("admin", "partner", "merchant"), status=204,
              tag="onboarding")
def revoke_terminal(ctx: Ctx, terminal_id: str) -> None:
    """Revoke a terminal at once."""
    ctx.services.onboarding.revoke_terminal(ctx.who, terminal_id)


@router.route("/v1/stores/{store_id}", "GET", auth="none", tag="onboarding", response=StorePage, errors=(503,))
def store_page(ctx: Ctx, store_id: str) -> dict[str, Any]:
    """The public cloud-store page."""
    return ctx.services.onboarding.store_page(store_id)


@router.route("/v1/terminal/ping", "POST", auth="terminal", tag="onboarding", response=TerminalIdentity,
              errors=(413,))
def terminal_ping(ctx: Ctx) -> dict[str, Any]:
    """Check a terminal's signing set-up: answers who the signed request came from."""
    t = ctx.terminal
    return {"terminal_id": t.terminal_id, "store_id": t.store_id, "merchant_id": t.merchant_id}


@router.route("/v1/admin/merchants/{merchant_id}/bindings/{platform}", "PUT", roles=("admin",), body=PutBinding,
              tag="onboarding", response=Binding, errors=(409,))
def put_binding(ctx: Ctx, merchant_id: str, platform: str) -> dict[str, Any]:
    """Verify a merchant's id on a payment platform (alipay, wechatpay); confirms what it notified."""
    return ctx.services.confirmations.verify_binding(ctx.who, merchant_id, platform, ctx.raw)


@router.route("/v1/admin/merchants/{merchant_id}/bindings/{platform}", "DELETE", roles=("admin",), status=204,
              tag="onboarding")
def delete_binding(ctx: Ctx, merchant_id: str, platform: str) -> None:
    """Release a merchant's id on a payment platform (recorded confirmations stay)."""
    ctx.services.onboarding.delete_binding(ctx.who, merchant_id, platform)

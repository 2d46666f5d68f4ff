"""Routes: API keys and the tokens issued from them."""

from __future__ import annotations

from typing import Any

from chalicelib.api.routing import PAGED, Ctx, Router
from chalicelib.identity.responses import ApiKeyCreated, ApiKeyPage, Token
from chalicelib.identity.schemas import CreateApiKey

router = Router(__name__)

KEY_HOLDERS = ("admin", "partner", "merchant")


@router.route("/v1/api-keys", "POST", roles=KEY_HOLDERS, body=CreateApiKey, status=201, tag="identity",
              response=ApiKeyCreated, errors=(404, 409))
def create_api_key(ctx: Ctx) -> dict[str, Any]:
    """Create an API key (admins: any; a partner: for itself or its merchants; a merchant: for
    itself); its secret is returned once."""
    return ctx.services.identity.create_key(ctx.who, ctx.raw)


@router.route("/v1/api-keys", "GET", roles=KEY_HOLDERS, tag="identity", query=PAGED, response=ApiKeyPage)
def list_api_keys(ctx: Ctx) -> dict[str, Any]:
    """The keys the caller could create, newest first, `?limit=` (1..200, default 50) at a time;
    follow `next_cursor` with `?cursor=`."""
    return ctx.services.identity.list_keys(ctx.who, ctx.query)


@router.route("/v1/api-keys/{key_id}", "DELETE", roles=KEY_HOLDERS, status=204, tag="identity")
def revoke_api_key(ctx: Ctx, key_id: str) -> None:
    """Revoke an API key: no new token at once, its tokens refused within 60 s."""
    ctx.services.identity.revoke_key(ctx.who, key_id)


@router.route("/v1/auth/token", "POST", auth="none", doc_auth="basic", tag="identity", response=Token)
def token(ctx: Ctx) -> dict[str, Any]:
    """A bearer token (1 h) for an API key given as `Authorization: Basic base64(key_id:secret)`."""
    return ctx.services.identity.token(ctx.header("authorization"))


@router.route("/v1/auth/refresh", "POST", tag="identity", response=Token)
def refresh(ctx: Ctx) -> dict[str, Any]:
    """A fresh token (1 h) of the API key a still-valid token was issued from."""
    return ctx.services.identity.refresh(ctx.who)

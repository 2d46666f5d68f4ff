"""What the identity routes answer on success, as the OpenAPI document declares it (the services
build these bodies as dicts; tests/document_check.py holds every answer the tests see to these
schemas). Extra fields may be added later: clients must tolerate them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

KeyRole = Literal["admin", "partner", "merchant"]  # chalicelib.identity.domain.KEY_ROLES
NextCursor = Annotated[str | None, Field(description="pass as `cursor` for the next page; null on the last")]
JWT = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"


# ---------------------------------------------------------------- API keys


class _KeyFields(BaseModel):
    key_id: str
    name: str
    role: KeyRole
    partner_id: str | None = Field(description="a partner key's partner, a merchant key's merchant's partner; "
                                               "null for an admin key")
    merchant_id: str | None = Field(description="a merchant key's merchant; null otherwise")
    created_at: dt.datetime


class ApiKey(_KeyFields):
    """An API key as its holders' lists show it (never its secret)."""

    revoked: bool


class ApiKeyPage(BaseModel):
    """One page of the API keys the caller could create, newest first."""

    api_keys: list[ApiKey]
    next_cursor: NextCursor


class ApiKeyCreated(_KeyFields):
    """An API key just created, with its secret: shown only here."""

    secret: str = Field(min_length=43, pattern=r"^[A-Za-z0-9_-]+$",
                        description="the key's secret, for `POST /v1/auth/token` (HTTP Basic `key_id:secret`)")


# ---------------------------------------------------------------- tokens


class Token(BaseModel):
    """A bearer token issued from an API key (valid one hour)."""

    token: str = Field(pattern=JWT, description="an HS256 JWT, for `Authorization: Bearer <token>`")
    token_type: Literal["Bearer"]
    expires_at: dt.datetime


class CustomerToken(Token):
    """A customer's bearer token from a mini-program login (valid 24 hours)."""

    customer_id: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
                             description="the platform's user id (Alipay `user_id` or `open_id`, WeChat `openid`)")


# ---------------------------------------------------------------- the Alipay app authorization


class AuthorizeUrl(BaseModel):
    """Alipay's app-authorization page for the merchant's owner."""

    url: str = Field(json_schema_extra={"format": "uri"},
                     description="the page to open; its `state` expires at `expires_at`")
    expires_at: dt.datetime

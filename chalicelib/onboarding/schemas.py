"""Request bodies of the onboarding endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chalicelib.onboarding.platforms import (
    ANY_PLATFORM_ID_PATTERN,
    PLATFORM_ID_FORMATS,
    PLATFORM_ID_PATTERNS,
    WECHATPAY,
)
from chalicelib.schemas import Body, Id, Name


class CreatePartner(Body):
    name: Name


class NewStore(Body):
    name: Name
    address: Annotated[str, Field(max_length=256)] | None = None


class CreateMerchant(Body):
    name: Name
    category: Literal["retail", "restaurant", "services", "other"]
    city: Annotated[str, Field(max_length=64)] | None = None
    alipay_seller_id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")] | None = None
    wechat_sub_mchid: Annotated[str, Field(pattern=PLATFORM_ID_PATTERNS[WECHATPAY])] | None = None
    stores: Annotated[list[NewStore], Field(min_length=1, max_length=50)]


class CreateTerminal(Body):
    store_id: Id
    kind: Literal["qr", "face", "pos"]


class PutBinding(Body):
    # The format depends on the path's platform, which JSON Schema cannot refer to: the document
    # admits either platform's format and the service checks the one of the path (422 invalid_value).
    id: Annotated[str, Field(min_length=1, max_length=32,
                             description=f"the merchant's id on the path's platform ({PLATFORM_ID_FORMATS})",
                             json_schema_extra={"pattern": ANY_PLATFORM_ID_PATTERN})]

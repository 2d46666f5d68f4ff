"""Request bodies of the identity endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from chalicelib.schemas import Body, Id, Name

# What `IdentityService._tenant_of` checks of each role, for the OpenAPI document: an admin key
# names no tenant; a partner key its partner and no merchant; a merchant key its merchant (and, if
# it names a partner, that merchant's own). A partner or merchant creating a key of its own role
# may leave its own id out (the server fills it in); the document asks for it, which every caller
# may send.
_NO_TENANT: JsonDict = {"type": "null"}
_NAMED: JsonDict = {"type": "string"}
PER_ROLE: JsonDict = {"oneOf": [
    {"title": "an admin key", "properties": {"role": {"const": "admin"}, "partner_id": _NO_TENANT,
                                             "merchant_id": _NO_TENANT}},
    {"title": "a partner key", "required": ["partner_id"],
     "properties": {"role": {"const": "partner"}, "partner_id": _NAMED, "merchant_id": _NO_TENANT}},
    {"title": "a merchant key", "required": ["merchant_id"],
     "properties": {"role": {"const": "merchant"}, "merchant_id": _NAMED}},
]}


class CreateApiKey(Body):
    """An API key to create, of a role and its tenant."""

    model_config = ConfigDict(json_schema_extra=PER_ROLE)

    name: Name
    role: Literal["admin", "partner", "merchant"]
    partner_id: Id | None = Field(default=None, description=(
        "a partner key's partner (a partner may leave out its own); for a merchant key, if given, "
        "the merchant's partner; never for an admin key"))
    merchant_id: Id | None = Field(default=None, description=(
        "a merchant key's merchant (a merchant may leave out its own); never for an admin or partner key"))

"""Request bodies of the identity endpoints."""

from __future__ import annotations

from typing import Literal

from chalicelib.schemas import Body, Id, Name


class CreateApiKey(Body):
    name: Name
    role: Literal["admin", "partner", "merchant"]
    # a partner key names its partner, a merchant key its merchant (default: the caller's own)
    partner_id: Id | None = None
    merchant_id: Id | None = None

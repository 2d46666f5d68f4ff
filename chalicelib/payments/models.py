"""PynamoDB models of the payments area (owned by the payments issue)."""

from __future__ import annotations

from chalicelib.storage import BaseModel

MODELS: list[type[BaseModel]] = []

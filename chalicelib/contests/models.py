"""PynamoDB models of the contest area."""

from __future__ import annotations

from chalicelib.storage import BaseModel

MODELS: list[type[BaseModel]] = []

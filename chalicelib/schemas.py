"""Shared pydantic building blocks for request bodies (strict: no silent coercion)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints


class Body(BaseModel):
    """Base of every request body: strict types, unknown fields ignored (forward compatible)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
ExternalNo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Fen = Annotated[int, Field(ge=0, le=10**12)]
Timestamp = AwareDatetime

__all__ = ["Body", "Name", "ExternalNo", "Id", "Fen", "Timestamp", "datetime"]

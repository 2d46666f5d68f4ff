"""Shared pydantic building blocks for request bodies (strict: no silent coercion)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints


class Body(BaseModel):
    """Base of every request body: strict types, unknown fields ignored (forward compatible)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
ExternalNo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Fen = Annotated[int, Field(ge=0, le=10**12)]
# Times the business rules can compute with (a period or a window later, in any zone): outside
# these bounds date arithmetic would overflow, so such a time is a 422, never a 500.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def within_bounds(value: datetime) -> datetime:
    """`value` if it lies between EARLIEST and LATEST (ValueError otherwise)."""
    try:
        in_utc = value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("time out of range") from exc
    if not EARLIEST <= in_utc < LATEST:
        raise ValueError("time must lie between 1970 and 9000")
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(within_bounds)]

__all__ = ["Body", "Name", "ExternalNo", "Id", "Fen", "Timestamp", "datetime"]

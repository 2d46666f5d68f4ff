"""Shared pydantic building blocks for request bodies (strict: no silent coercion), and the one
translation of a validation failure into the contract's error codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from chalicelib.errors import AppError, BadRequest, Invalid

MAX_BODY_BYTES = 64 * 1024  # every request body, callbacks included (413 beyond)
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base of every request body: strict types, unknown fields ignored (forward compatible)."""

    # defer_build: a body's validator is built on its first use, not when the app is imported
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, defer_build=True)


# Surrounding white space (Unicode White_Space, what pydantic strips) is stripped first: a name has
# something besides it.
NOT_ONLY_SPACE = r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
                 Field(json_schema_extra={"pattern": NOT_ONLY_SPACE})]
ExternalNo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Fen = Annotated[int, Field(ge=0, le=10**12)]
# Times the business rules can compute with (a period or a window later, in any zone): outside
# these bounds date arithmetic would overflow, so such a time is a 422, never a 500.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


# The rule is on the year as written (1970..8999, whatever the offset), so the OpenAPI document can
# say it exactly (YEAR_PATTERN); a day's offset either side changes nothing for the arithmetic.
YEAR_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3})-"


def within_bounds(value: datetime) -> datetime:
    """`value` if its year, as written, lies from 1970 to 8999 (ValueError otherwise)."""
    if not EARLIEST.year <= value.year < LATEST.year:
        raise ValueError("time must lie between 1970 and 9000")
    return value


# An RFC 3339 time with its offset, in 1970..8999.
Timestamp = Annotated[AwareDatetime, AfterValidator(within_bounds),
                      Field(json_schema_extra={"pattern": YEAR_PATTERN})]

_TYPE_CODES = {
    "missing": "missing_field",
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
    "literal_error": "invalid_enum",
    "enum": "invalid_enum",
    "timezone_aware": "missing_timezone",
    "datetime_parsing": "invalid_datetime",
    "datetime_from_date_parsing": "invalid_datetime",
    "datetime_type": "invalid_datetime",
    "extra_forbidden": "unknown_field",
}
_RANGE_TYPES = {
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "string_too_short",
    "string_too_long", "too_short", "too_long", "string_pattern_mismatch", "value_error",
    "multiple_of", "date_from_datetime_parsing", "date_parsing",
}


def validation_error(exc: ValidationError) -> AppError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0] if errors else {"type": "value_error", "loc": (), "msg": "invalid"}
    etype = str(first["type"])
    fieldname = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__") or "body"
    detail = [{"field": ".".join(str(p) for p in e.get("loc", ())), "type": e["type"], "message": e["msg"]}
              for e in errors[:10]]
    if etype in ("json_invalid", "json_type"):
        return BadRequest("request body is not valid JSON", code="invalid_json")
    if etype == "model_type" and not first.get("loc"):
        return BadRequest("request body must be a JSON object", code="invalid_json")
    if etype in _TYPE_CODES:
        code = _TYPE_CODES[etype]
    elif etype in _RANGE_TYPES:
        code = "invalid_value"
    else:
        code = "invalid_type"
    return Invalid(f"{fieldname}: {first['msg']}", code=code, detail=detail)


def parse_body(model: type[M], raw: bytes) -> M:
    text = raw if raw else b"{}"
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise validation_error(exc) from exc


__all__ = ["Body", "Name", "ExternalNo", "Id", "Fen", "Timestamp", "datetime", "parse_body", "MAX_BODY_BYTES"]

"""The shared request types say in the OpenAPI document exactly what the server accepts: a value
the document admits is accepted, one it refuses is refused (schemathesis checks both ways)."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from chalicelib.schemas import NOT_ONLY_SPACE, YEAR_PATTERN, Name, Timestamp


def _server_accepts(adapter: TypeAdapter, value: str) -> bool:
    try:
        adapter.validate_json(f'"{value}"')
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("value", "ok"), [
    ("1969-12-31T23:59:59+00:00", False), ("1970-01-01T00:00:00+05:00", True),  # the year as written
    ("2026-12-02T10:00:00+08:00", True), ("8999-12-31T23:59:59-12:00", True), ("9000-01-01T00:00:00Z", False),
])
def test_a_time_is_in_1970_to_8999_as_written_on_both_sides(value: str, ok: bool) -> None:
    assert _server_accepts(TypeAdapter(Timestamp), value) is ok
    assert (re.search(YEAR_PATTERN, value) is not None) is ok
    assert TypeAdapter(Timestamp).json_schema()["pattern"] == YEAR_PATTERN


@pytest.mark.parametrize(("value", "ok"), [
    ("a", True), (" a ", True), (" ", False), ("\\u3000", False), ("\\u0085", False), ("\\u000b", False),
    ("\\u001c", True), ("\\u200b", True),  # not White_Space: pydantic keeps them, so the document does too
])
def test_a_name_is_more_than_white_space_on_both_sides(value: str, ok: bool) -> None:
    assert _server_accepts(TypeAdapter(Name), value) is ok
    text = value.encode().decode("unicode_escape")
    assert (re.search(NOT_ONLY_SPACE, text) is not None) is ok
    assert TypeAdapter(Name).json_schema()["pattern"] == NOT_ONLY_SPACE

"""The one strict parser for what arrives in paths, query strings and headers: integers and ids.

`str.isdigit()` accepts '²' and other scripts' digits, `int()` accepts spaces, signs, '_' and
non-ASCII digits, and a 2 KiB key makes DynamoDB answer a ValidationException (a 503). Here an
integer is ASCII digits only (`[0-9]+`, bounded length) and an id is 1–128 printable ASCII
characters; anything else is the caller's 4xx (contract, revision 2, "Conventions added").
"""

from __future__ import annotations

import re

from chalicelib.errors import AppError, Invalid, NotFound

MAX_DIGITS = 18  # below int64 and far below int()'s own 4,300-digit limit
MAX_ID_CHARS = 128
_DIGITS = re.compile(r"[0-9]+")
_SIGNED_DIGITS = re.compile(r"-?[0-9]+")
_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space: every id this API hands out or takes


def parse_int(text: str | None, name: str, *, lo: int | None = None, hi: int | None = None,
              allow_negative: bool = False, max_digits: int = MAX_DIGITS,
              error: type[AppError] = Invalid, code: str = "invalid_value") -> int:
    """`text` as an int within [lo, hi]: ASCII digits only (one leading '-' where
    `allow_negative`), at most `max_digits` of them; otherwise `error(code=code)`."""
    pattern = _SIGNED_DIGITS if allow_negative else _DIGITS
    if not isinstance(text, str) or not pattern.fullmatch(text) or len(text.lstrip("-")) > max_digits:
        raise error(f"{name} must be an integer of ASCII digits", code=code)
    n = int(text)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise error(f"{name} must be in {'' if lo is None else lo}..{'' if hi is None else hi}", code=code)
    return n


def is_id(text: object, max_chars: int = MAX_ID_CHARS) -> bool:
    """Whether `text` can be an id: 1..max_chars printable ASCII characters."""
    return isinstance(text, str) and len(text) <= max_chars and _ID.fullmatch(text) is not None


def check_id(text: str | None, name: str, *, error: type[AppError] = NotFound, code: str = "not_found",
             max_chars: int = MAX_ID_CHARS) -> str:
    """`text` if it can be an id; otherwise `error(code=code)` — an id that cannot exist is
    unknown, and never reaches storage."""
    if not is_id(text, max_chars):
        raise error(f"no such {name}" if error is NotFound else f"{name} is not a valid id", code=code)
    assert text is not None
    return text

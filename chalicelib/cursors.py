"""Opaque, tamper-evident page cursors for every list of the API.

A cursor carries a position (what the list needs to resume: the last item's key) and an
HMAC-SHA256 over that position together with what it was made for — the list (`scope`), the
caller (sub, role and tenant) and the query as resolved (e.g. merchant and business day, a
defaulted day included). Those are not stored in the cursor: opening it recomputes the MAC with
the current caller and query, so a cursor altered in any byte, made for another caller, another
tenant, another list or another query is refused (`400 invalid_cursor`) before its position is
even parsed. A cursor can therefore never move a caller onto items it could not list itself.

What belongs in `query` is each list's choice: whatever selects the items. A page size does not
(`limit` only says how many to return from the position on, so a caller may change it between
pages without any item being skipped or repeated).

The key is derived from the deployment's secret (`HMAC(secret, "yundian-cursor-v1")`), so a key
rotation invalidates outstanding cursors and nothing else; cursors do not expire otherwise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib.auth import Principal
from chalicelib.errors import BadRequest
from chalicelib.parsing import parse_int

KEY_LABEL = b"yundian-cursor-v1"
DEFAULT_LIMIT, MAX_LIMIT = 50, 200  # every list's `limit` (contract: 1..200, default 50)
MAX_CURSOR_CHARS = 1024
_TOKEN_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_CURSOR_CHARS}}}\.[A-Za-z0-9_-]{{43}}$")  # body . MAC


def list_order(created_at: datetime, item_id: str) -> str:
    """The sort key of an item in every list (partners, merchants, terminals, memberships, API
    keys): creation time (UTC, fixed width) then id, so newest first is descending order and no
    two items tie."""
    return f"{created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z#{item_id}"


def invalid_cursor() -> BadRequest:
    return BadRequest("cursor is not valid for this list, query or caller", code="invalid_cursor")


def parse_limit(text: str | None) -> int:
    """A list's `limit`: 1..200 in ASCII digits, default 50; `422 invalid_value` otherwise."""
    return DEFAULT_LIMIT if text is None else parse_int(text, "limit", lo=1, hi=MAX_LIMIT)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


class CursorSigner:
    """Issues and opens cursors; one per deployment (built in `chalicelib.bootstrap`)."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode("utf-8"), KEY_LABEL, hashlib.sha256).digest()

    def _mac(self, scope: str, who: Principal, query: Mapping[str, str], payload: bytes) -> bytes:
        binding = _canonical({
            "scope": scope,
            "caller": [who.role, who.sub, who.partner_id, who.merchant_id],
            "query": dict(query),
        })
        return hmac.new(self._key, binding + b"\n" + payload, hashlib.sha256).digest()

    def issue(self, scope: str, who: Principal, query: Mapping[str, str], position: Mapping[str, Any]) -> str:
        """A cursor resuming after `position` (JSON-serialisable) in list `scope`, for this caller
        and query only."""
        payload = _canonical(dict(position))
        return f"{_b64(payload)}.{_b64(self._mac(scope, who, query, payload))}"

    def open(self, token: str, scope: str, who: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """The position a cursor issued for exactly this scope, caller and query carries;
        `400 invalid_cursor` otherwise."""
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            raise invalid_cursor()
        body, _, mac = token.partition(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError) as exc:
            raise invalid_cursor() from exc
        if _b64(payload) != body or _b64(given) != mac:  # base64's spare bits: one token per cursor
            raise invalid_cursor()
        if not hmac.compare_digest(given, self._mac(scope, who, query, payload)):
            raise invalid_cursor()
        try:
            position = json.loads(payload)
        except ValueError as exc:  # pragma: no cover - we signed it, so it is our JSON
            raise invalid_cursor() from exc
        if not isinstance(position, dict):
            raise invalid_cursor()
        return position

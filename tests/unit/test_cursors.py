"""Cursors are opaque, tamper-evident and bound to their list, caller and query."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.auth import Principal
from chalicelib.cursors import CursorSigner
from chalicelib.errors import BadRequest

SECRET = "test-secret-0123456789-abcdefghijklmnop"
SCOPE = "merchant_payments"
QUERY = {"merchant_id": "mch_1", "date": "2026-03-10"}
POSITION = {"paid_at": "2026-03-10T02:00:05.000000+00:00", "out_trade_no": "o-1"}
MERCHANT = Principal("m-1", "merchant", merchant_id="mch_1")
PARTNER = Principal("p-1", "partner", partner_id="ptn_1")
ADMIN = Principal("admin-1", "admin")


def refused(signer: CursorSigner, token: str, who: Principal = MERCHANT, query: dict[str, str] | None = None,
            scope: str = SCOPE) -> None:
    with pytest.raises(BadRequest) as e:
        signer.open(token, scope, who, QUERY if query is None else query)
    assert (e.value.status, e.value.code) == (400, "invalid_cursor")


def test_a_cursor_round_trips_for_its_caller_and_query() -> None:
    signer = CursorSigner(SECRET)
    token = signer.issue(SCOPE, MERCHANT, QUERY, POSITION)
    assert signer.open(token, SCOPE, MERCHANT, dict(reversed(list(QUERY.items())))) == POSITION  # key order is moot
    assert CursorSigner(SECRET).open(token, SCOPE, MERCHANT, QUERY) == POSITION  # another container, same key
    assert token.isascii() and len(token) < 200 and "o-1" not in token  # opaque and URL-safe


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=40), st.integers()), max_size=4))
def test_any_position_round_trips(position: dict[str, object]) -> None:
    signer = CursorSigner(SECRET)
    assert signer.open(signer.issue(SCOPE, ADMIN, QUERY, position), SCOPE, ADMIN, QUERY) == position


def test_every_single_character_changed_is_refused() -> None:
    signer = CursorSigner(SECRET)
    token = signer.issue(SCOPE, MERCHANT, QUERY, POSITION)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, ch in enumerate(token):
        if ch == ".":
            continue
        for other in alphabet:
            if other != ch:
                refused(signer, token[:i] + other + token[i + 1:])


def test_a_rewritten_position_with_the_old_mac_is_refused() -> None:
    signer = CursorSigner(SECRET)
    token = signer.issue(SCOPE, MERCHANT, QUERY, POSITION)
    forged = {**POSITION, "out_trade_no": "o-0"}
    body = base64.urlsafe_b64encode(json.dumps(forged, sort_keys=True, separators=(",", ":")).encode())
    refused(signer, body.rstrip(b"=").decode() + "." + token.split(".")[1])


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.", ".abc", "a" * 5000 + "." + "b" * 43, "é.é",
                                   "eyJ9." + "A" * 43, "a.b.c", " " + "A" * 10 + "." + "A" * 43])
def test_garbage_is_refused(token: str) -> None:
    refused(CursorSigner(SECRET), token)


def test_a_cursor_of_another_deployment_is_refused() -> None:
    token = CursorSigner("another-secret-0123456789-abcdefghijk").issue(SCOPE, MERCHANT, QUERY, POSITION)
    refused(CursorSigner(SECRET), token)


@pytest.mark.parametrize("other", [
    Principal("m-2", "merchant", merchant_id="mch_1"),  # another user of the same merchant
    Principal("m-1", "merchant", merchant_id="mch_2"),  # the same sub for another merchant
    Principal("m-1", "partner", partner_id="ptn_1"),  # the same sub in another role
    Principal("m-1", "admin"),
    PARTNER,
])
def test_a_cursor_of_another_caller_is_refused(other: Principal) -> None:
    signer = CursorSigner(SECRET)
    refused(signer, signer.issue(SCOPE, MERCHANT, QUERY, POSITION), who=other)


def test_a_partner_cursor_is_bound_to_its_partner() -> None:
    signer = CursorSigner(SECRET)
    token = signer.issue(SCOPE, PARTNER, QUERY, POSITION)
    refused(signer, token, who=Principal("p-1", "partner", partner_id="ptn_2"))
    assert signer.open(token, SCOPE, PARTNER, QUERY) == POSITION


@pytest.mark.parametrize("query", [
    {"merchant_id": "mch_2", "date": "2026-03-10"},
    {"merchant_id": "mch_1", "date": "2026-03-11"},
    {"merchant_id": "mch_1"},
    {**QUERY, "status": "active"},
])
def test_a_cursor_of_another_query_is_refused(query: dict[str, str]) -> None:
    signer = CursorSigner(SECRET)
    refused(signer, signer.issue(SCOPE, MERCHANT, QUERY, POSITION), query=query)


def test_a_cursor_of_another_list_is_refused() -> None:
    signer = CursorSigner(SECRET)
    refused(signer, signer.issue("merchant_callbacks", MERCHANT, QUERY, POSITION))

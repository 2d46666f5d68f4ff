"""Bearer tokens and terminal header checks (pure functions)."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt
import pytest

from chalicelib.auth import (
    Principal,
    decode_bearer,
    issue_token,
    parse_basic,
    parse_terminal_headers,
    terminal_signature,
    verify_signature,
)
from chalicelib.errors import Forbidden, Unauthorized

SECRET = "unit-secret-0123456789-abcdefghijklmnop"


def bearer(**claims: object) -> str:
    return "Bearer " + jwt.encode({"exp": int(time.time()) + 60, **claims}, SECRET, algorithm="HS256")


def code_of(header: str | None) -> str:
    with pytest.raises(Unauthorized) as e:
        decode_bearer(header, SECRET, time.time())
    return e.value.code


def test_a_valid_token_becomes_a_principal() -> None:
    p = decode_bearer(bearer(sub="u1", role="partner", partner_id="ptn_1"), SECRET, time.time())
    assert p == Principal("u1", "partner", partner_id="ptn_1")
    assert decode_bearer(bearer(sub="2088x", role="customer"), SECRET, time.time()).role == "customer"


def test_issue_token_round_trips() -> None:
    token = issue_token(SECRET, sub="m", role="merchant", exp=time.time() + 60, merchant_id="mch_1")
    assert decode_bearer(f"Bearer {token}", SECRET, time.time()).merchant_id == "mch_1"


@pytest.mark.parametrize(("header", "code"), [
    (None, "missing_token"),
    ("", "missing_token"),
    ("Basic dXNlcjpwdw==", "invalid_token"),
    ("Bearer", "invalid_token"),
    ("Bearer not.a.jwt", "invalid_token"),
    ("Bearer abc", "invalid_token"),
])
def test_malformed_headers(header: str | None, code: str) -> None:
    assert code_of(header) == code


def test_the_key_id_claim_is_parsed_strictly() -> None:
    p = decode_bearer(bearer(sub="key_1", role="admin", key_id="key_1", iss="yundian", iat=int(time.time())),
                      SECRET, time.time())
    assert p == Principal("key_1", "admin", key_id="key_1")
    assert decode_bearer(bearer(sub="a", role="admin"), SECRET, time.time()).key_id is None
    for bad in (None, "", 7, ["key_1"], "k" * 129, "key 1", True):
        assert code_of(bearer(sub="a", role="admin", key_id=bad)) == "invalid_token"


def test_a_token_issued_a_moment_ahead_of_this_clock_is_accepted() -> None:
    # iat is informational: another container's clock may run a little ahead
    assert decode_bearer(bearer(sub="a", role="admin", iat=int(time.time()) + 2), SECRET, time.time()).sub == "a"


def test_basic_credentials() -> None:
    assert parse_basic("Basic a2V5XzE6czNjcjp0") == ("key_1", "s3cr:t")  # the secret may hold a colon
    assert parse_basic("basic  a2V5XzE6czNjcjp0 ") == ("key_1", "s3cr:t")
    for bad in (None, "", "Basic", "Bearer a2V5XzE6czNjcjp0", "Basic a2V5XzE6czNjcjp", "Basic *",
                "Basic OnNlY3JldA==", "Basic a2V5Og==", "Basic a2V5", "Basic " + "QUFB" * 300):
        with pytest.raises(Unauthorized) as e:
            parse_basic(bad)
        assert e.value.code == "bad_credentials", bad


def test_expired_token() -> None:
    token = jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) - 1}, SECRET, algorithm="HS256")
    assert code_of(f"Bearer {token}") == "token_expired"


@pytest.mark.parametrize("claims", [
    {"sub": "a", "role": "root"},  # unknown role
    {"sub": "a"},  # no role
    {"role": "admin"},  # no sub
    {"sub": "", "role": "admin"},
    {"sub": "p", "role": "partner"},  # partner without partner_id
    {"sub": "m", "role": "merchant", "merchant_id": ""},
])
def test_tokens_missing_required_claims(claims: dict[str, str]) -> None:
    assert code_of(bearer(**claims)) == "invalid_token"


def test_token_without_exp() -> None:
    token = jwt.encode({"sub": "a", "role": "admin"}, SECRET, algorithm="HS256")
    assert code_of(f"Bearer {token}") == "invalid_token"


def test_forged_and_unsigned_tokens() -> None:
    other = jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) + 60}, "another-secret-0123456789abcdefgh",
                       algorithm="HS256")
    assert code_of(f"Bearer {other}") == "invalid_token"
    unsigned = jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) + 60}, None, algorithm="none")
    assert code_of(f"Bearer {unsigned}") == "invalid_token"


def test_roles_and_tenants() -> None:
    partner = Principal("p", "partner", partner_id="ptn_1")
    with pytest.raises(Forbidden) as e:
        partner.require_role("admin")
    assert e.value.code == "forbidden_role"
    partner.require_partner("ptn_1")
    with pytest.raises(Forbidden) as e:
        partner.require_partner("ptn_2")
    assert e.value.code == "forbidden_tenant"
    partner.require_merchant("mch_9", "ptn_1")
    with pytest.raises(Forbidden):
        partner.require_merchant("mch_9", "ptn_2")
    merchant = Principal("m", "merchant", merchant_id="mch_1")
    merchant.require_merchant("mch_1", "ptn_1")
    with pytest.raises(Forbidden):
        merchant.require_merchant("mch_2", "ptn_1")
    with pytest.raises(Forbidden):
        Principal("c", "customer").require_merchant("mch_1", "ptn_1")
    Principal("a", "admin").require_merchant("mch_x", "ptn_y")


# ------------------------------------------------------------------ terminal headers

def headers(ts: int | str | None = None, nonce: str = "abcdefghijklmnop", sig: str = "0" * 64) -> dict[str, str]:
    return {"x-yundian-terminal": "tml_1", "x-yundian-timestamp": str(int(time.time()) if ts is None else ts),
            "x-yundian-nonce": nonce, "x-yundian-signature": sig}


def header_code(h: dict[str, str], now: float | None = None) -> str:
    with pytest.raises(Unauthorized) as e:
        parse_terminal_headers(h, time.time() if now is None else now)
    return e.value.code


def test_the_window_is_300_seconds_of_wall_clock() -> None:
    now = 1_800_000_000
    assert parse_terminal_headers(headers(now - 300), now).timestamp == str(now - 300)
    assert parse_terminal_headers(headers(now + 300), now).timestamp == str(now + 300)
    assert header_code(headers(now - 301), now) == "stale_timestamp"
    assert header_code(headers(now + 301), now) == "stale_timestamp"
    assert header_code(headers("12.5"), now) == "stale_timestamp"
    assert header_code(headers("-5"), now) == "stale_timestamp"


@pytest.mark.parametrize(("change", "code"), [
    ({"x-yundian-terminal": ""}, "unknown_terminal"),
    ({"x-yundian-nonce": ""}, "bad_signature"),
    ({"x-yundian-signature": ""}, "bad_signature"),
    ({"x-yundian-nonce": "short"}, "bad_signature"),
    ({"x-yundian-nonce": "a" * 65}, "bad_signature"),
    ({"x-yundian-nonce": "has space in it ok"}, "bad_signature"),
    ({"x-yundian-signature": "A" * 64}, "bad_signature"),  # must be lowercase hex
    ({"x-yundian-signature": "0" * 63}, "bad_signature"),
])
def test_malformed_terminal_headers(change: dict[str, str], code: str) -> None:
    assert header_code({**headers(), **change}) == code


def test_signature_is_hmac_sha256_over_the_contract_message() -> None:
    body = b'{"amount_fen":100}'
    expected = hmac.new(b"k" * 43, b"POST\n/v1/terminal/payments\n1700000000\nnonce-nonce-nonce\n" + body,
                        hashlib.sha256).hexdigest()
    assert terminal_signature("k" * 43, "POST", "/v1/terminal/payments", "1700000000", "nonce-nonce-nonce",
                              body) == expected
    req = parse_terminal_headers(headers(sig=expected, ts=1700000000, nonce="nonce-nonce-nonce"), 1700000000)
    verify_signature(req, "k" * 43, "POST", "/v1/terminal/payments", body)
    with pytest.raises(Unauthorized):
        verify_signature(req, "k" * 43, "POST", "/v1/terminal/payments", body + b" ")

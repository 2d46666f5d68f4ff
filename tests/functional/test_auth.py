"""Authentication through the app: bearer tokens on every onboarding endpoint and terminal
signatures (including the concurrent replay of one signed request on DynamoDB Local)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.helpers import Api, Reply, TerminalCreds

Call = Callable[[Api, dict[str, Any], str | None], Reply]


def _world(api: Api) -> dict[str, Any]:
    pid = api.new_partner()
    m = api.new_merchant(pid)
    t = api.new_terminal(m)
    return {"partner_id": pid, "merchant": m, "terminal": t}


ENDPOINTS: dict[str, Call] = {
    "create_partner": lambda api, w, tok: api.post("/v1/partners", {"name": "X"}, token=tok),
    "create_merchant": lambda api, w, tok: api.post(
        f"/v1/partners/{w['partner_id']}/merchants",
        {"name": "M", "category": "retail", "stores": [{"name": "S"}]}, token=tok),
    "create_terminal": lambda api, w, tok: api.post(
        f"/v1/merchants/{w['merchant']['merchant_id']}/terminals",
        {"store_id": w["merchant"]["stores"][0]["store_id"], "kind": "qr"}, token=tok),
    "revoke_terminal": lambda api, w, tok: api.delete(f"/v1/terminals/{w['terminal'].terminal_id}", token=tok),
    "admin_clock": lambda api, w, tok: api.get("/v1/admin/clock", token=tok),
    "admin_audit": lambda api, w, tok: api.get("/v1/admin/audit", token=tok),
    "admin_jobs": lambda api, w, tok: api.post("/v1/admin/jobs/rank_contests", token=tok),
}


def _expired(api: Api) -> str:
    return api.token("admin", "admin-1", ttl=-5)


def _forged(api: Api) -> str:
    return jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) + 60},
                      "not-the-secret-0123456789-abcdefghij", algorithm="HS256")


def _unsigned(api: Api) -> str:
    return jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) + 60}, None, algorithm="none")


BAD_TOKENS: dict[str, tuple[Callable[[Api], str | None], str]] = {
    "missing": (lambda api: None, "missing_token"),
    "malformed": (lambda api: "abc.def", "invalid_token"),
    "garbage": (lambda api: "%%%", "invalid_token"),
    "expired": (_expired, "token_expired"),
    "forged": (_forged, "invalid_token"),
    "alg_none": (_unsigned, "invalid_token"),
    "unknown_role": (lambda api: api.token("superuser"), "invalid_token"),
    "partner_without_tenant": (lambda api: api.token("partner"), "invalid_token"),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("bad", list(BAD_TOKENS))
def test_every_bearer_endpoint_refuses_bad_tokens(api: Api, endpoint: str, bad: str) -> None:
    world = _world(api)
    make, code = BAD_TOKENS[bad]
    r = ENDPOINTS[endpoint](api, world, make(api))
    assert r.status == 401, r.body
    assert r.code == code
    assert set(r.body) >= {"code", "message"}
    # nothing happened: the terminal still works
    assert api.signed(world["terminal"], "/v1/terminal/ping", {}).status == 200


def test_a_basic_authorization_header_is_401(api: Api) -> None:
    r = api.post("/v1/partners", {"name": "X"}, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert (r.status, r.code) == (401, "invalid_token")


WRONG_ROLES = {
    "create_partner": ["partner", "merchant", "customer"],
    "create_merchant": ["merchant", "customer"],
    "create_terminal": ["customer"],
    "revoke_terminal": ["customer"],
    "admin_clock": ["partner", "merchant", "customer"],
    "admin_audit": ["partner", "merchant", "customer"],
    "admin_jobs": ["partner", "merchant", "customer"],
}


@pytest.mark.parametrize(("endpoint", "role"), [(e, r) for e, rs in WRONG_ROLES.items() for r in rs])
def test_wrong_role_is_403(api: Api, endpoint: str, role: str) -> None:
    world = _world(api)
    claims = {"partner": {"partner_id": world["partner_id"]},
              "merchant": {"merchant_id": world["merchant"]["merchant_id"]}}.get(role, {})
    r = ENDPOINTS[endpoint](api, world, api.token(role, **claims))
    assert (r.status, r.code) == (403, "forbidden_role"), r.body
    assert api.signed(world["terminal"], "/v1/terminal/ping", {}).status == 200


# ------------------------------------------------------------------ tenants


def test_a_partner_never_touches_another_partners_merchants(api: Api) -> None:
    mine, theirs = _world(api), _world(api)
    tok = api.partner_token(mine["partner_id"])
    for endpoint in ("create_merchant", "create_terminal", "revoke_terminal"):
        r = ENDPOINTS[endpoint](api, theirs, tok)
        assert (r.status, r.code) == (403, "forbidden_tenant"), (endpoint, r.body)
    # their terminal is untouched, their merchant has no new merchant/terminal
    assert api.signed(theirs["terminal"], "/v1/terminal/ping", {}).status == 200
    merchants = api.services.onboarding_repo.list_merchants(theirs["partner_id"])
    assert [m.merchant_id for m in merchants] == [theirs["merchant"]["merchant_id"]]
    # while on its own tenant everything works
    for endpoint in ("create_merchant", "create_terminal"):
        assert ENDPOINTS[endpoint](api, mine, tok).status == 201
    assert ENDPOINTS["revoke_terminal"](api, mine, tok).status == 204


def test_a_merchant_never_touches_another_merchant(api: Api) -> None:
    pid = api.new_partner()
    m1, m2 = api.new_merchant(pid), api.new_merchant(pid)
    t2 = api.new_terminal(m2)
    tok = api.merchant_token(m1["merchant_id"])
    r = api.post(f"/v1/merchants/{m2['merchant_id']}/terminals",
                 {"store_id": m2["stores"][0]["store_id"], "kind": "qr"}, token=tok)
    assert (r.status, r.code) == (403, "forbidden_tenant")
    # with its own merchant id in the path but the other's store: that store is not found there
    r = api.post(f"/v1/merchants/{m1['merchant_id']}/terminals",
                 {"store_id": m2["stores"][0]["store_id"], "kind": "qr"}, token=tok)
    assert (r.status, r.code) == (404, "store_not_found")
    r = api.delete(f"/v1/terminals/{t2.terminal_id}", token=tok)
    assert (r.status, r.code) == (403, "forbidden_tenant")
    assert api.signed(t2, "/v1/terminal/ping", {}).status == 200
    r = api.post(f"/v1/partners/{pid}/merchants", {"name": "M", "category": "retail", "stores": [{"name": "S"}]},
                 token=tok)
    assert (r.status, r.code) == (403, "forbidden_role")


# ------------------------------------------------------------------ terminal signatures


@pytest.fixture
def term(api: Api) -> TerminalCreds:
    return api.new_terminal(api.new_merchant(api.new_partner()))


def test_a_signed_request_is_accepted(api: Api, term: TerminalCreds) -> None:
    r = api.signed(term, "/v1/terminal/ping", {})
    assert r.status == 200
    assert r.body == {"terminal_id": term.terminal_id, "store_id": term.store_id, "merchant_id": term.merchant_id}


def test_bad_signature(api: Api, term: TerminalCreds) -> None:
    r = api.signed(term, "/v1/terminal/ping", {}, secret=secrets.token_urlsafe(32))
    assert (r.status, r.code) == (401, "bad_signature")


def test_a_signature_covers_the_raw_body(api: Api, term: TerminalCreds) -> None:
    ts, nonce = str(int(time.time())), secrets.token_hex(12)
    from chalicelib.auth import terminal_signature

    sig = terminal_signature(term.secret, "POST", "/v1/terminal/ping", ts, nonce, b"{}")
    headers = {"X-Yundian-Terminal": term.terminal_id, "X-Yundian-Timestamp": ts, "X-Yundian-Nonce": nonce,
               "X-Yundian-Signature": sig}
    r = api.call("POST", "/v1/terminal/ping", headers=headers, raw=b'{ }')  # same JSON, other bytes
    assert (r.status, r.code) == (401, "bad_signature")
    r = api.call("POST", "/v1/terminal/ping", headers=headers, raw=b"{}")
    assert r.status == 200  # the refused attempt did not burn the nonce


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_timestamp_on_the_real_wall_clock(api: Api, term: TerminalCreds, offset: int) -> None:
    r = api.signed(term, "/v1/terminal/ping", {}, ts=int(time.time()) + offset)
    assert (r.status, r.code) == (401, "stale_timestamp")


def test_within_the_window_is_fresh(api: Api, term: TerminalCreds) -> None:
    assert api.signed(term, "/v1/terminal/ping", {}, ts=int(time.time()) - 280).status == 200
    assert api.signed(term, "/v1/terminal/ping", {}, ts=int(time.time()) + 280).status == 200


def test_freshness_ignores_the_business_clock(api: Api, term: TerminalCreds) -> None:
    api.services.clock.advance(3 * 86400)
    assert api.signed(term, "/v1/terminal/ping", {}).status == 200
    r = api.signed(term, "/v1/terminal/ping", {}, ts=int(api.services.clock.now().timestamp()))
    assert (r.status, r.code) == (401, "stale_timestamp")


def test_replayed_nonce(api: Api, term: TerminalCreds) -> None:
    nonce = secrets.token_hex(12)
    assert api.signed(term, "/v1/terminal/ping", {}, nonce=nonce).status == 200
    r = api.signed(term, "/v1/terminal/ping", {}, nonce=nonce)
    assert (r.status, r.code) == (401, "replayed_nonce")
    # the same nonce from another terminal is another nonce
    other = api.new_terminal(api.new_merchant(api.new_partner()))
    assert api.signed(other, "/v1/terminal/ping", {}, nonce=nonce).status == 200


def test_concurrent_replay_lets_exactly_one_through(api: Api, term: TerminalCreds) -> None:
    """20 threads send the same signed request at once through the app on DynamoDB Local."""
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    from chalicelib.auth import terminal_signature

    sig = terminal_signature(term.secret, "POST", "/v1/terminal/ping", ts, nonce, b"{}")
    headers = {"X-Yundian-Terminal": term.terminal_id, "X-Yundian-Timestamp": ts, "X-Yundian-Nonce": nonce,
               "X-Yundian-Signature": sig}
    barrier = threading.Barrier(20)
    replies: list[Reply] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait()
        r = api.call("POST", "/v1/terminal/ping", headers=headers, raw=b"{}")
        with lock:
            replies.append(r)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted((r.status, r.code) for r in replies)
    assert statuses == [(200, None)] + [(401, "replayed_nonce")] * 19


def test_unknown_terminal(api: Api, term: TerminalCreds) -> None:
    ghost = TerminalCreds("tml_" + secrets.token_hex(12), term.secret, term.store_id, term.merchant_id)
    r = api.signed(ghost, "/v1/terminal/ping", {})
    assert (r.status, r.code) == (401, "unknown_terminal")


def test_missing_terminal_headers(api: Api) -> None:
    r = api.post("/v1/terminal/ping", {})
    assert (r.status, r.code) == (401, "unknown_terminal")
    r = api.post("/v1/terminal/ping", {}, headers={"X-Yundian-Terminal": "tml_x"})
    assert (r.status, r.code) == (401, "bad_signature")


def test_a_revoked_terminal_is_refused_at_once(api: Api, term: TerminalCreds) -> None:
    assert api.signed(term, "/v1/terminal/ping", {}).status == 200
    r = api.delete(f"/v1/terminals/{term.terminal_id}", token=api.admin())
    assert r.status == 204 and r.raw == b""
    r = api.signed(term, "/v1/terminal/ping", {})
    assert (r.status, r.code) == (401, "terminal_revoked")
    # revoking again is harmless
    assert api.delete(f"/v1/terminals/{term.terminal_id}", token=api.admin()).status == 204

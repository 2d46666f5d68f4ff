"""API keys and the tokens issued from them, through the app on DynamoDB Local: every error code of
`/v1/api-keys` and `/v1/auth/token|refresh`, who may create, list and revoke what, secrets never
stored in clear nor logged, token claims, revocation within 60 s at one DynamoDB read per key per
minute, refresh, pages, the rate limit and independent keys."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import jwt
import pytest
from botocore.client import BaseClient

from chalicelib.auth import Principal
from chalicelib.bootstrap import Services, bootstrap
from chalicelib.clock import OffsetClock
from chalicelib.config import Config
from chalicelib.identity.rate_limit import RateLimit
from tests.helpers import Api, MovableWall, Reply

ADMIN = Principal("admin-1", "admin")


@pytest.fixture
def wall() -> MovableWall:
    return MovableWall()


@pytest.fixture
def services(test_config: Config, wall: MovableWall) -> Iterator[Services]:
    """The app with a wall clock the tests move (token lifetimes, the key cache, the rate limit)."""
    import app as app_module

    services = bootstrap(test_config, clock=OffsetClock(), wall=wall)
    app_module.runtime.install(services)
    try:
        yield services
    finally:
        app_module.runtime.install(None)


def basic(key_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()}


def new_key(api: Api, token: str | None = None, **body: Any) -> dict[str, Any]:
    r = api.post("/v1/api-keys", {"name": "tool", **body}, token=token or api.admin())
    assert r.status == 201, r.body
    return dict(r.body)


def token_for(api: Api, key: dict[str, Any]) -> str:
    r = api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"]))
    assert r.status == 200, r.body
    return str(r.body["token"])


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


class DynamoCalls:
    """Counts the DynamoDB requests of this process, by operation and table."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.calls.clear()

    def on(self, table_suffix: str) -> dict[str, int]:
        return {op: n for (op, table), n in self.calls.items() if table.endswith(table_suffix)}

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def dynamo_calls(monkeypatch: pytest.MonkeyPatch) -> DynamoCalls:
    meter = DynamoCalls()
    original = BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            with meter._lock:
                meter.calls[(operation, str(params.get("TableName", "")))] += 1
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return meter


# ------------------------------------------------------------------ creating keys


def test_a_key_is_created_once_with_its_secret_and_stored_as_a_keyed_hash(api: Api, test_config: Config) -> None:
    pid = api.new_partner()
    r = api.post("/v1/api-keys", {"name": "Billing robot", "role": "partner", "partner_id": pid}, token=api.admin())
    assert r.status == 201, r.body
    key = r.body
    assert set(key) == {"key_id", "secret", "name", "role", "partner_id", "merchant_id", "created_at"}
    assert (key["name"], key["role"], key["partner_id"], key["merchant_id"]) == ("Billing robot", "partner", pid, None)
    assert key["key_id"].startswith("key_") and len(key["secret"]) >= 43
    assert key["created_at"].endswith("+00:00")
    client = boto3.client("dynamodb", region_name="us-east-1")
    item = client.get_item(TableName=test_config.table_name("api_keys"), Key={"key_id": {"S": key["key_id"]}},
                           ConsistentRead=True)["Item"]
    text = json.dumps(item)
    assert key["secret"] not in text and key["secret"][:16] not in text
    assert set(item["secret_hash"]["S"]) <= set("0123456789abcdef") and len(item["secret_hash"]["S"]) == 64
    listed = api.get("/v1/api-keys", token=api.partner_token(pid)).body["api_keys"]
    assert [k["key_id"] for k in listed] == [key["key_id"]] and "secret" not in listed[0]
    assert listed[0]["revoked"] is False


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    from chalicelib.observability import logger

    handler = logger.registered_handler
    buf = io.StringIO()
    old_stream, old_level = handler.setStream(buf), logger.log_level  # type: ignore[attr-defined]
    logger.setLevel("DEBUG")
    try:
        yield buf
    finally:
        handler.setStream(old_stream)  # type: ignore[attr-defined]
        logger.setLevel(old_level)


def test_secrets_and_tokens_never_reach_the_logs(api: Api, logs: io.StringIO, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    key = new_key(api, role="admin")
    token = token_for(api, key)
    assert api.post("/v1/auth/refresh", token=token).status == 200
    assert api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"] + "x")).status == 401
    assert api.get("/v1/api-keys", token=token).status == 200
    written = logs.getvalue() + caplog.text
    assert "request" in logs.getvalue()  # the logs were captured
    for secret in (key["secret"], token, base64.b64encode(f"{key['key_id']}:{key['secret']}".encode()).decode()):
        assert secret not in written


def test_a_partner_mints_keys_for_itself_and_its_merchants_only(api: Api) -> None:
    mine, theirs = api.new_partner(), api.new_partner()
    my_shop, their_shop = api.new_merchant(mine)["merchant_id"], api.new_merchant(theirs)["merchant_id"]
    me = api.partner_token(mine)
    assert new_key(api, me, role="partner")["partner_id"] == mine
    shop_key = new_key(api, me, role="merchant", merchant_id=my_shop)
    assert (shop_key["partner_id"], shop_key["merchant_id"]) == (mine, my_shop)
    refused = {
        "admin key": ({"role": "admin"}, 403, "forbidden_role"),
        "another partner": ({"role": "partner", "partner_id": theirs}, 403, "forbidden_tenant"),
        "another partner's merchant": ({"role": "merchant", "merchant_id": their_shop}, 403, "forbidden_tenant"),
        "unknown merchant": ({"role": "merchant", "merchant_id": "mch_nobody"}, 404, "merchant_not_found"),
    }
    for what, (body, status, code) in refused.items():
        r = api.post("/v1/api-keys", {"name": "k", **body}, token=me)
        assert (r.status, r.code) == (status, code), what
    # and through a token of its own key, the same
    key_token = token_for(api, new_key(api, me, role="partner"))
    r = api.post("/v1/api-keys", {"name": "k", "role": "admin"}, token=key_token)
    assert (r.status, r.code) == (403, "forbidden_role")
    r = api.post("/v1/api-keys", {"name": "k", "role": "merchant", "merchant_id": their_shop}, token=key_token)
    assert (r.status, r.code) == (403, "forbidden_tenant")


def test_a_merchant_mints_keys_for_itself_only(api: Api) -> None:
    pid = api.new_partner()
    mid, other = api.new_merchant(pid)["merchant_id"], api.new_merchant(pid)["merchant_id"]
    me = api.merchant_token(mid)
    assert new_key(api, me, role="merchant")["merchant_id"] == mid
    for body, code in [({"role": "merchant", "merchant_id": other}, "forbidden_tenant"),
                       ({"role": "partner", "partner_id": pid}, "forbidden_role"),
                       ({"role": "admin"}, "forbidden_role")]:
        r = api.post("/v1/api-keys", {"name": "k", **body}, token=me)
        assert (r.status, r.code) == (403, code), body


def test_customers_have_no_keys(api: Api) -> None:
    customer = api.customer_token("2088000000000001")
    assert api.post("/v1/api-keys", {"name": "k", "role": "admin"}, token=customer).code == "forbidden_role"
    assert api.get("/v1/api-keys", token=customer).code == "forbidden_role"
    assert api.delete("/v1/api-keys/key_x", token=customer).code == "forbidden_role"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"role": "admin"}, 422, "missing_field"),
    ({"name": "k"}, 422, "missing_field"),
    ({"name": "k", "role": "owner"}, 422, "invalid_enum"),
    ({"name": "", "role": "admin"}, 422, "invalid_value"),
    ({"name": ["k"], "role": "admin"}, 422, "invalid_type"),
    ({"name": "k", "role": "admin", "partner_id": "ptn_1"}, 422, "invalid_value"),
    ({"name": "k", "role": "partner"}, 422, "missing_field"),
    ({"name": "k", "role": "merchant"}, 422, "missing_field"),
    ({"name": "k", "role": "partner", "partner_id": "ptn_nobody"}, 404, "partner_not_found"),
    ({"name": "k", "role": "merchant", "merchant_id": "mch_nobody"}, 404, "merchant_not_found"),
])
def test_create_errors(api: Api, body: dict[str, Any], status: int, code: str) -> None:
    r = api.post("/v1/api-keys", body, token=api.admin())
    assert (r.status, r.code) == (status, code), r.body


def test_create_refuses_what_is_no_json_object_too_large_or_unauthenticated(api: Api) -> None:
    admin = api.admin()
    assert api.post("/v1/api-keys", raw=b"{nope", token=admin).code == "invalid_json"
    assert api.post("/v1/api-keys", raw=b"[]", token=admin).code == "invalid_json"
    r = api.post("/v1/api-keys", raw=b'{"name": "' + b"x" * 70000 + b'"}', token=admin)
    assert r.status == 413
    assert api.post("/v1/api-keys", {"name": "k", "role": "admin"}).code == "missing_token"
    assert api.post("/v1/api-keys", {"name": "k", "role": "admin"}, token="abc").code == "invalid_token"


# ------------------------------------------------------------------ tokens


def test_a_token_of_the_keys_role_and_tenant_valid_one_hour(api: Api, wall: MovableWall) -> None:
    pid = api.new_partner()
    key = new_key(api, role="partner", partner_id=pid)
    r = api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"]))
    assert r.status == 200 and set(r.body) == {"token", "token_type", "expires_at"}
    assert r.body["token_type"] == "Bearer"
    c = claims(r.body["token"])
    assert c == {"iss": "yundian", "sub": key["key_id"], "role": "partner", "partner_id": pid,
                 "key_id": key["key_id"], "iat": int(wall()), "exp": int(wall()) + 3600}
    assert r.body["expires_at"] == datetime.fromtimestamp(c["exp"], tz=UTC).isoformat()
    # it is a partner's token: it onboards a merchant of its partner, and of no other
    token = r.body["token"]
    body = {"name": "M", "category": "retail", "stores": [{"name": "S"}]}
    assert api.post(f"/v1/partners/{pid}/merchants", body, token=token).status == 201
    other = api.new_partner()
    assert api.post(f"/v1/partners/{other}/merchants", body, token=token).code == "forbidden_tenant"


@pytest.mark.parametrize("header", [
    None, "Bearer abc", "Basic", "Basic %%%", "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b":only-secret").decode(), "Basic " + base64.b64encode(b"key_1:").decode(),
])
def test_malformed_basic_headers_are_bad_credentials(api: Api, header: str | None) -> None:
    r = api.post("/v1/auth/token", headers={"Authorization": header} if header is not None else None)
    assert (r.status, r.code) == (401, "bad_credentials")


def test_unknown_keys_and_wrong_secrets_answer_alike(api: Api) -> None:
    key = new_key(api, role="admin")
    wrong = api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"][:-1] + "!"))
    unknown = api.post("/v1/auth/token", headers=basic("key_" + "0" * 24, key["secret"]))
    too_long = api.post("/v1/auth/token", headers=basic("k" * 200, key["secret"]))
    assert {(r.status, r.code, r.body["message"]) for r in (wrong, unknown, too_long)} == {
        (401, "bad_credentials", "unknown key or wrong secret")}


def test_refresh(api: Api, wall: MovableWall) -> None:
    pid = api.new_partner()
    mid = api.new_merchant(pid)["merchant_id"]
    key = new_key(api, role="merchant", merchant_id=mid)
    token = token_for(api, key)
    wall.advance(1800)
    r = api.post("/v1/auth/refresh", token=token)
    assert r.status == 200 and r.body["token_type"] == "Bearer"
    fresh = claims(r.body["token"])
    assert (fresh["key_id"], fresh["merchant_id"], fresh["role"]) == (key["key_id"], mid, "merchant")
    assert fresh["exp"] == fresh["iat"] + 3600 == int(wall()) + 3600
    assert api.post("/v1/auth/refresh", token=api.admin()).code == "invalid_token"  # not issued from a key
    assert api.post("/v1/auth/refresh").code == "missing_token"
    assert api.post("/v1/auth/refresh", token=api.token("admin", ttl=-5)).code == "token_expired"


# ------------------------------------------------------------------ revocation


def test_a_revoked_key_gets_no_new_token_at_once_and_its_tokens_end(api: Api) -> None:
    pid = api.new_partner()
    key = new_key(api, role="partner", partner_id=pid)
    token = token_for(api, key)
    assert api.get("/v1/api-keys", token=token).status == 200
    r = api.delete(f"/v1/api-keys/{key['key_id']}", token=api.partner_token(pid))
    assert r.status == 204 and r.raw == b""
    assert api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"])).code == "key_revoked"
    assert api.get("/v1/api-keys", token=token).code == "key_revoked"  # revoked in this container: at once
    assert api.post("/v1/auth/refresh", token=token).code == "key_revoked"
    assert api.delete(f"/v1/api-keys/{key['key_id']}", token=api.admin()).status == 204  # idempotent
    listed = api.get("/v1/api-keys", token=api.partner_token(pid)).body["api_keys"]
    assert [(k["key_id"], k["revoked"]) for k in listed] == [(key["key_id"], True)]


def test_a_revocation_elsewhere_ends_issued_tokens_within_60_s_at_one_read_a_minute(
        api: Api, test_config: Config, wall: MovableWall, dynamo_calls: DynamoCalls) -> None:
    key = new_key(api, role="admin")
    token = token_for(api, key)  # this container read the key just now
    elsewhere = bootstrap(test_config, clock=OffsetClock(), wall=wall)  # another container, same tables
    dynamo_calls.reset()
    assert api.get("/v1/admin/clock", token=token).status == 200
    wall.advance(10)
    elsewhere.identity.revoke_key(ADMIN, key["key_id"])
    dynamo_calls.reset()
    for _ in range(5):  # this container's read is still under 60 s old: no read, still accepted
        assert api.get("/v1/admin/clock", token=token).status == 200
        wall.advance(9.8)
    assert dynamo_calls.total == 0
    wall.advance(1.1)  # 60.1 s after this container's read (50.1 s after the revocation): read again, refused
    r = api.get("/v1/admin/clock", token=token)
    assert (r.status, r.code) == (401, "key_revoked")
    assert dynamo_calls.on("api_keys") == {"GetItem": 1} and dynamo_calls.total == 1
    for _ in range(10):  # refused for the rest of the minute without reading again
        assert api.get("/v1/admin/clock", token=token).code == "key_revoked"
        wall.advance(5)
    assert dynamo_calls.total == 1
    assert api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"])).code == "key_revoked"


def test_the_check_reads_a_key_at_most_once_a_minute(api: Api, wall: MovableWall, dynamo_calls: DynamoCalls) -> None:
    tokens = [token_for(api, new_key(api, role="admin")) for _ in range(2)]
    dynamo_calls.reset()
    for _ in range(36):  # three minutes, a request every 5 s with each token
        for token in tokens:
            assert api.get("/v1/admin/clock", token=token).status == 200
        wall.advance(5)
    assert dynamo_calls.on("api_keys") == {"GetItem": 4}  # 2 keys x 2 re-reads (the token call read the first)
    assert dynamo_calls.total == 4


def test_round_trips_of_a_token_and_of_a_request_with_it(
        api: Api, test_config: Config, wall: MovableWall, dynamo_calls: DynamoCalls) -> None:
    key = new_key(api, role="admin")
    dynamo_calls.reset()
    token = token_for(api, key)
    assert dynamo_calls.on("api_keys") == {"GetItem": 1} and dynamo_calls.total == 1
    dynamo_calls.reset()
    assert api.get("/v1/admin/clock", token=token).status == 200  # cached
    assert dynamo_calls.total == 0
    import app as app_module

    cold = bootstrap(test_config, clock=OffsetClock(), wall=wall)  # a container that never saw the key
    app_module.runtime.install(cold)
    assert api.get("/v1/admin/clock", token=token).status == 200
    assert dynamo_calls.on("api_keys") == {"GetItem": 1} and dynamo_calls.total == 1
    dynamo_calls.reset()
    assert api.post("/v1/auth/refresh", token=token).status == 200  # the check is warm; refresh reads afresh
    assert dynamo_calls.on("api_keys") == {"GetItem": 1} and dynamo_calls.total == 1


def test_keys_are_independent_of_the_key_whose_token_created_them(api: Api) -> None:
    pid = api.new_partner()
    parent = new_key(api, role="partner", partner_id=pid)
    parent_token = token_for(api, parent)
    child = new_key(api, parent_token, role="partner")
    grandchild = new_key(api, token_for(api, child), role="merchant",
                         merchant_id=api.new_merchant(pid)["merchant_id"])
    assert api.delete(f"/v1/api-keys/{parent['key_id']}", token=parent_token).status == 204
    assert api.get("/v1/api-keys", token=parent_token).code == "key_revoked"
    for key in (child, grandchild):
        token = token_for(api, key)
        assert api.get("/v1/api-keys", token=token).status == 200
        assert api.post("/v1/auth/refresh", token=token).status == 200
    listed = {k["key_id"]: k["revoked"] for k in api.get("/v1/api-keys", token=api.partner_token(pid)).body["api_keys"]}
    assert listed == {parent["key_id"]: True, child["key_id"]: False, grandchild["key_id"]: False}


def test_revoke_errors(api: Api) -> None:
    p1, p2 = api.new_partner(), api.new_partner()
    m1 = api.new_merchant(p1)["merchant_id"]
    admin_key = new_key(api, role="admin")["key_id"]
    p1_key = new_key(api, role="partner", partner_id=p1)["key_id"]
    m1_key = new_key(api, role="merchant", merchant_id=m1)["key_id"]
    cases = [
        (api.partner_token(p1), admin_key, 403, "forbidden_role"),
        (api.partner_token(p2), p1_key, 403, "forbidden_tenant"),
        (api.partner_token(p2), m1_key, 403, "forbidden_tenant"),
        (api.merchant_token(m1), p1_key, 403, "forbidden_role"),
        (api.merchant_token(api.new_merchant(p1)["merchant_id"]), m1_key, 403, "forbidden_tenant"),
        (api.admin(), "key_nobody", 404, "key_not_found"),
        (api.admin(), "k" * 200, 404, "key_not_found"),
        (None, m1_key, 401, "missing_token"),
    ]
    for token, key_id, status, code in cases:
        r = api.delete(f"/v1/api-keys/{key_id}", token=token)
        assert (r.status, r.code) == (status, code), (key_id, r.body)
    listed = api.get("/v1/api-keys?limit=200", token=api.admin()).body["api_keys"]
    assert {k["key_id"]: k["revoked"] for k in listed if k["key_id"] in {admin_key, p1_key, m1_key}} == {
        admin_key: False, p1_key: False, m1_key: False}  # nothing refused was revoked
    assert api.delete(f"/v1/api-keys/{m1_key}", token=api.merchant_token(m1)).status == 204
    assert api.delete(f"/v1/api-keys/{p1_key}", token=api.partner_token(p1)).status == 204


# ------------------------------------------------------------------ lists


def page(api: Api, token: str, **query: str) -> Reply:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return api.get("/v1/api-keys" + (f"?{qs}" if qs else ""), token=token)


def test_lists_page_newest_first_without_repeating_or_skipping(api: Api, services: Services) -> None:
    pid = api.new_partner()
    shop = api.new_merchant(pid)["merchant_id"]
    made = []
    for i in range(7):
        services.clock.advance(1 if i % 3 else 0)  # type: ignore[attr-defined]  # ties in time too
        body = {"role": "partner", "partner_id": pid} if i % 2 else {"role": "merchant", "merchant_id": shop}
        made.append(new_key(api, **body)["key_id"])
    new_key(api, role="partner", partner_id=api.new_partner())  # another partner's: never listed
    token = api.partner_token(pid)
    seen: list[dict[str, Any]] = []
    r = page(api, token, limit="3")
    while True:
        assert r.status == 200, r.body
        seen += r.body["api_keys"]
        if r.body["next_cursor"] is None:
            break
        r = page(api, token, limit="2", cursor=r.body["next_cursor"])
    ids = [k["key_id"] for k in seen]
    assert sorted(ids) == sorted(made) and len(set(ids)) == len(ids)
    times = [k["created_at"] for k in seen]
    assert times == sorted(times, reverse=True)
    assert ids[-1] == made[0] or times[-1] == seen[-2]["created_at"]
    merchant_view = page(api, api.merchant_token(shop)).body["api_keys"]
    assert {k["key_id"] for k in merchant_view} == {made[i] for i in range(0, 7, 2)}


def test_list_errors(api: Api) -> None:
    pid = api.new_partner()
    for _ in range(3):
        new_key(api, role="partner", partner_id=pid)
    token = api.partner_token(pid)
    cursor = page(api, token, limit="1").body["next_cursor"]
    assert cursor
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for who, c in [(token, tampered), (token, "garbage"), (api.partner_token(api.new_partner()), cursor),
                   (api.admin(), cursor)]:
        r = page(api, who, cursor=c)
        assert (r.status, r.code) == (400, "invalid_cursor")
    for limit in ("0", "201", "x", "-3"):
        assert (page(api, token, limit=limit).status, page(api, token, limit=limit).code) == (422, "invalid_value")
    assert page(api, token).status == 200
    assert api.get("/v1/api-keys").code == "missing_token"


# ------------------------------------------------------------------ the rate limit


def test_auth_calls_are_rate_limited_per_client(test_config: Config, wall: MovableWall) -> None:
    from chalice.test import Client

    import app as app_module

    services = bootstrap(test_config, clock=OffsetClock(), wall=wall, auth_rate=RateLimit(burst=3, per_second=0.5))
    app_module.runtime.install(services)
    try:
        api = Api(Client(app_module.app), services)
        key = new_key(api, role="admin")
        answers = [api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"])) for _ in range(3)]
        assert [r.status for r in answers] == [200, 200, 200]
        limited = api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"]))
        assert (limited.status, limited.code) == (429, "rate_limited")
        assert limited.headers.get("Retry-After") == "2"
        assert api.post("/v1/auth/refresh", token=answers[0].body["token"]).code == "rate_limited"
        assert api.post("/v1/auth/token").code == "rate_limited"  # before anything else is looked at
        assert api.get("/v1/api-keys", token=answers[0].body["token"]).status == 200  # other routes: no limit
        wall.advance(2)
        assert api.post("/v1/auth/refresh", token=answers[0].body["token"]).status == 200
    finally:
        app_module.runtime.install(None)


def test_the_default_local_limit_leaves_a_test_suite_room(api: Api) -> None:
    key = new_key(api, role="admin")
    assert all(api.post("/v1/auth/token", headers=basic(key["key_id"], key["secret"])).status == 200
               for _ in range(100))

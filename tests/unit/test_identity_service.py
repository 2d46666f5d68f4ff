"""Identity use cases on the in-memory fakes, with a fixed business clock and a movable wall clock:
who may create, list and revoke which key, tokens from keys, the revocation check and its cache,
refresh, customer tokens, the rate limit and the memory of authorization codes."""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from chalicelib.auth import Principal, decode_bearer
from chalicelib.clock import FixedClock
from chalicelib.cursors import CursorSigner
from chalicelib.errors import AppError, BadRequest, Conflict, Forbidden, Invalid, TooManyRequests, Unauthorized
from chalicelib.identity import domain
from chalicelib.identity.domain import SecretHasher
from chalicelib.identity.rate_limit import RateLimit
from chalicelib.identity.service import IdentityService
from chalicelib.onboarding.domain import Merchant, Partner
from chalicelib.onboarding.service import OnboardingService
from tests.fakes.admin_trail import InMemoryAdminTrail
from tests.fakes.identity import InMemoryApiKeyRepository, InMemoryAuthCodes
from tests.fakes.onboarding import InMemoryOnboardingRepository
from tests.helpers import MovableWall, raw

SECRET = "unit-secret-0123456789-abcdefghijklmnop"
NOW = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)
ADMIN = Principal("admin-1", "admin")


@dataclass
class World:
    svc: IdentityService
    keys: InMemoryApiKeyRepository
    codes: InMemoryAuthCodes
    onboarding: InMemoryOnboardingRepository
    wall: MovableWall
    clock: FixedClock
    trail: InMemoryAdminTrail

    def container(self) -> IdentityService:
        """Another container of the same deployment: same tables, its own cache and limiter."""
        return service(self.keys, self.codes, self.onboarding, self.wall, self.clock, self.trail)

    def partner(self) -> str:
        pid = f"ptn_{len(self.onboarding.partners):04d}"
        self.onboarding.add_partner(Partner(pid, "P", NOW))
        return pid

    def merchant(self, partner_id: str) -> str:
        mid = f"mch_{len(self.onboarding.merchants):04d}"
        self.onboarding.add_merchant(Merchant(mid, partner_id, "M", "retail", NOW), [], NOW)
        return mid


def service(keys: InMemoryApiKeyRepository, codes: InMemoryAuthCodes, onboarding: InMemoryOnboardingRepository,
            wall: MovableWall, clock: FixedClock, trail: InMemoryAdminTrail, rate: RateLimit | None = None
            ) -> IdentityService:
    return IdentityService(keys, codes, OnboardingService(onboarding, clock), clock, jwt_secret=SECRET,
                           cursors=CursorSigner(SECRET), rate=rate or RateLimit(5, 1.0), wall=wall, trail=trail)


@pytest.fixture
def w() -> World:
    keys, codes, onboarding = InMemoryApiKeyRepository(), InMemoryAuthCodes(), InMemoryOnboardingRepository()
    wall, clock, trail = MovableWall(), FixedClock(NOW), InMemoryAdminTrail()
    return World(service(keys, codes, onboarding, wall, clock, trail), keys, codes, onboarding, wall, clock, trail)


def partner_p(pid: str) -> Principal:
    return Principal("p-user", "partner", partner_id=pid)


def merchant_p(mid: str) -> Principal:
    return Principal("m-user", "merchant", merchant_id=mid)


def basic(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def create(svc: IdentityService, who: Principal, **body: Any) -> dict[str, Any]:
    return svc.create_key(who, raw(**{"name": "tool", **body}))


def principal_of(token: str) -> Principal:
    return decode_bearer(f"Bearer {token}", SECRET, datetime.now(UTC).timestamp())


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iat": False}))


def code_of(fn: Any) -> tuple[int, str]:
    with pytest.raises(AppError) as e:
        fn()
    return e.value.status, e.value.code


# ------------------------------------------------------------------ creating keys


def test_an_admin_creates_a_key_whose_secret_is_shown_once_and_stored_as_a_keyed_hash(w: World) -> None:
    out = create(w.svc, ADMIN, name=" Ops console ", role="admin")
    assert set(out) == {"key_id", "secret", "name", "role", "partner_id", "merchant_id", "created_at"}
    assert out["key_id"].startswith("key_") and out["name"] == "Ops console" and out["role"] == "admin"
    assert (out["partner_id"], out["merchant_id"], out["created_at"]) == (None, None, "2026-05-01T04:00:00+00:00")
    assert len(out["secret"]) >= 43 and out["secret"] != out["key_id"]
    stored = w.keys.keys[out["key_id"]]
    assert stored.secret_hash == SecretHasher(SECRET).digest(out["key_id"], out["secret"])
    assert out["secret"] not in repr(stored)
    # the hash is keyed: neither a plain hash of the secret nor valid under another deployment's secret
    import hashlib

    assert stored.secret_hash not in {hashlib.sha256(out["secret"].encode()).hexdigest(),
                                      hashlib.sha256(f"{out['key_id']}\n{out['secret']}".encode()).hexdigest()}
    assert not SecretHasher("another-deployment-secret-0123456789").matches(
        out["key_id"], out["secret"], stored.secret_hash)
    assert [e["action"] for e in w.trail.entries("2026-05")] == ["api_key.create"]
    assert w.trail.entries("2026-05")[0]["who"] == "admin-1"


def test_each_key_gets_its_own_secret(w: World) -> None:
    secrets_ = {create(w.svc, ADMIN, role="admin")["secret"] for _ in range(20)}
    assert len(secrets_) == 20


def test_a_partner_creates_keys_for_itself_and_its_merchants(w: World) -> None:
    pid = w.partner()
    mid = w.merchant(pid)
    me = partner_p(pid)
    own = create(w.svc, me, role="partner")
    assert (own["role"], own["partner_id"], own["merchant_id"]) == ("partner", pid, None)
    assert create(w.svc, me, role="partner", partner_id=pid)["partner_id"] == pid
    shop = create(w.svc, me, role="merchant", merchant_id=mid)
    assert (shop["role"], shop["partner_id"], shop["merchant_id"]) == ("merchant", pid, mid)
    assert create(w.svc, me, role="merchant", merchant_id=mid, partner_id=pid)["merchant_id"] == mid


def test_a_merchant_creates_keys_for_itself_only(w: World) -> None:
    pid = w.partner()
    mid, other = w.merchant(pid), w.merchant(pid)
    me = merchant_p(mid)
    own = create(w.svc, me, role="merchant")
    assert (own["partner_id"], own["merchant_id"]) == (pid, mid)
    assert code_of(lambda: create(w.svc, me, role="merchant", merchant_id=other)) == (403, "forbidden_tenant")
    assert code_of(lambda: create(w.svc, me, role="partner", partner_id=pid)) == (403, "forbidden_role")
    assert code_of(lambda: create(w.svc, me, role="partner")) == (403, "forbidden_role")
    assert code_of(lambda: create(w.svc, me, role="admin")) == (403, "forbidden_role")


def test_a_partner_cannot_mint_admin_keys_or_keys_of_another_partner(w: World) -> None:
    mine, theirs = w.partner(), w.partner()
    their_shop = w.merchant(theirs)
    me = partner_p(mine)
    assert code_of(lambda: create(w.svc, me, role="admin")) == (403, "forbidden_role")
    assert code_of(lambda: create(w.svc, me, role="partner", partner_id=theirs)) == (403, "forbidden_tenant")
    assert code_of(lambda: create(w.svc, me, role="merchant", merchant_id=their_shop)) == (403, "forbidden_tenant")
    assert code_of(lambda: create(w.svc, me, role="merchant", merchant_id=their_shop, partner_id=mine)) == (
        403, "forbidden_tenant")
    assert code_of(lambda: create(w.svc, me, role="partner", partner_id="ptn_nobody")) == (403, "forbidden_tenant")
    assert w.keys.keys == {}


def test_customers_create_no_keys(w: World) -> None:
    assert code_of(lambda: create(w.svc, Principal("2088000000000001", "customer"), role="merchant",
                                  merchant_id="mch_x")) == (403, "forbidden_role")


def test_unknown_tenants_are_404(w: World) -> None:
    pid = w.partner()
    assert code_of(lambda: create(w.svc, ADMIN, role="partner", partner_id="ptn_nobody")) == (404, "partner_not_found")
    assert code_of(lambda: create(w.svc, ADMIN, role="merchant", merchant_id="mch_nobody")) == (
        404, "merchant_not_found")
    assert code_of(lambda: create(w.svc, partner_p(pid), role="merchant", merchant_id="mch_nobody")) == (
        404, "merchant_not_found")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"role": "admin"}, 422, "missing_field"),  # no name
    ({"name": "", "role": "admin"}, 422, "invalid_value"),
    ({"name": "x" * 129, "role": "admin"}, 422, "invalid_value"),
    ({"name": 5, "role": "admin"}, 422, "invalid_type"),
    ({"name": "k"}, 422, "missing_field"),
    ({"name": "k", "role": "customer"}, 422, "invalid_enum"),
    ({"name": "k", "role": "admin", "partner_id": "ptn_1"}, 422, "invalid_value"),
    ({"name": "k", "role": "admin", "merchant_id": "mch_1"}, 422, "invalid_value"),
    ({"name": "k", "role": "partner"}, 422, "missing_field"),  # an admin names the partner
    ({"name": "k", "role": "partner", "partner_id": "ptn_1", "merchant_id": "mch_1"}, 422, "invalid_value"),
    ({"name": "k", "role": "merchant"}, 422, "missing_field"),
    ({"name": "k", "role": "partner", "partner_id": 7}, 422, "invalid_type"),
    ({"name": "k", "role": "partner", "partner_id": ""}, 422, "invalid_value"),
])
def test_bodies_are_validated_like_the_rest_of_the_api(w: World, body: dict[str, Any], status: int, code: str) -> None:
    assert code_of(lambda: w.svc.create_key(ADMIN, json.dumps(body).encode())) == (status, code)


def test_a_merchant_key_names_its_merchants_partner_if_any(w: World) -> None:
    pid, other = w.partner(), w.partner()
    mid = w.merchant(pid)
    assert code_of(lambda: create(w.svc, ADMIN, role="merchant", merchant_id=mid, partner_id=other)) == (
        422, "invalid_value")


@pytest.mark.parametrize("text", [b"not json", b"[1]", b'{"name": "x", "role": "admin"'])
def test_a_body_that_is_not_a_json_object_is_400(w: World, text: bytes) -> None:
    with pytest.raises(BadRequest) as e:
        w.svc.create_key(ADMIN, text)
    assert e.value.code == "invalid_json"


# ------------------------------------------------------------------ tokens


def test_a_key_gets_a_one_hour_token_of_its_role_and_tenant(w: World) -> None:
    pid = w.partner()
    mid = w.merchant(pid)
    for body, tenant in [({"role": "admin"}, {}), ({"role": "partner", "partner_id": pid}, {"partner_id": pid}),
                         ({"role": "merchant", "merchant_id": mid}, {"merchant_id": mid})]:
        key = create(w.svc, ADMIN, **body)
        out = w.svc.token(basic(key["key_id"], key["secret"]))
        assert set(out) == {"token", "token_type", "expires_at"} and out["token_type"] == "Bearer"
        claims = claims_of(out["token"])
        iat = int(w.wall())
        assert claims == {"iss": "yundian", "sub": key["key_id"], "role": body["role"], "iat": iat,
                          "exp": iat + 3600, "key_id": key["key_id"], **tenant}
        assert out["expires_at"] == datetime.fromtimestamp(iat + 3600, UTC).isoformat()
        assert out["expires_at"].endswith("+00:00")
        who = principal_of(out["token"])
        assert (who.role, who.key_id, who.partner_id, who.merchant_id) == (
            body["role"], key["key_id"], tenant.get("partner_id"), tenant.get("merchant_id"))


def test_unknown_key_and_wrong_secret_are_the_same_401_after_the_same_work(
        w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    key = create(w.svc, ADMIN, role="admin")
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(domain.hmac, "compare_digest", spy)
    reads = w.keys.reads
    wrong = code_of(lambda: w.svc.token(basic(key["key_id"], key["secret"] + "x")))
    unknown = code_of(lambda: w.svc.token(basic("key_000000000000000000000000", key["secret"])))
    assert wrong == unknown == (401, "bad_credentials")
    assert len(compared) == 2 and all(len(a) == len(b) == 64 for a, b in compared)  # an HMAC either way
    assert w.keys.reads - reads == 2  # one read either way
    w.svc.token(basic(key["key_id"], key["secret"]))
    assert len(compared) == 3


@pytest.mark.parametrize("header", [
    None, "", "Bearer abc", "Basic", "Basic ", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode(),
    "Basic " + base64.b64encode(b":secret").decode(), "Basic " + base64.b64encode(b"key_x:").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(), "Basic " + "A" * 2000,
    "Basic " + base64.b64encode(("k" * 200 + ":secret").encode()).decode(),
])
def test_malformed_basic_credentials_are_bad_credentials(w: World, header: str | None) -> None:
    assert code_of(lambda: w.svc.token(header)) == (401, "bad_credentials")


def test_the_basic_scheme_is_case_insensitive(w: World) -> None:
    key = create(w.svc, ADMIN, role="admin")
    assert w.svc.token(basic(key["key_id"], key["secret"]).replace("Basic", "basic"))["token_type"] == "Bearer"


def test_a_revoked_key_gets_no_token_at_once_and_says_so_only_to_its_holder(w: World) -> None:
    key = create(w.svc, ADMIN, role="admin")
    w.container().revoke_key(ADMIN, key["key_id"])  # revoked in another container
    assert code_of(lambda: w.svc.token(basic(key["key_id"], key["secret"]))) == (401, "key_revoked")
    assert code_of(lambda: w.svc.token(basic(key["key_id"], "wrong-" + key["secret"]))) == (401, "bad_credentials")


# ------------------------------------------------------------------ the revocation check


def token_principal(w: World, svc: IdentityService, **body: Any) -> tuple[dict[str, Any], Principal]:
    key = create(svc, ADMIN, **({"role": "admin"} | body))
    return key, principal_of(svc.token(basic(key["key_id"], key["secret"]))["token"])


def test_a_token_without_key_id_costs_no_read(w: World) -> None:
    reads = w.keys.reads
    w.svc.check_key(ADMIN)
    assert w.keys.reads == reads


def test_an_issued_token_stops_working_within_60_s_of_a_revocation_elsewhere(w: World) -> None:
    key, who = token_principal(w, w.svc)
    other = w.container()
    w.svc.check_key(who)
    w.wall.advance(10)
    other.revoke_key(ADMIN, key["key_id"])
    w.wall.advance(49)  # 59 s after this container read the key: still trusted
    w.svc.check_key(who)
    w.wall.advance(2)  # 61 s: read again, refused
    assert code_of(lambda: w.svc.check_key(who)) == (401, "key_revoked")
    assert code_of(lambda: other.check_key(who)) == (401, "key_revoked")  # where it was revoked: at once


def test_a_revocation_in_this_container_ends_its_tokens_at_once(w: World) -> None:
    key, who = token_principal(w, w.svc)
    w.svc.check_key(who)
    w.svc.revoke_key(ADMIN, key["key_id"])
    assert code_of(lambda: w.svc.check_key(who)) == (401, "key_revoked")


def test_the_check_reads_each_key_at_most_once_a_minute_per_container(w: World) -> None:
    _, a = token_principal(w, w.svc)
    _, b = token_principal(w, w.svc)
    fresh = w.container()  # a cold container: nothing cached
    reads = w.keys.reads
    for _ in range(180):  # three minutes of requests, one a second with each token
        fresh.check_key(a)
        fresh.check_key(b)
        w.wall.advance(1)
    assert w.keys.reads - reads == 6  # 2 keys x 3 minutes


def test_the_token_call_warms_the_cache(w: World) -> None:
    _, who = token_principal(w, w.svc)
    reads = w.keys.reads
    w.svc.check_key(who)
    assert w.keys.reads == reads


def test_a_token_that_does_not_fit_its_key_is_invalid(w: World) -> None:
    pid = w.partner()
    key, who = token_principal(w, w.svc, role="partner", partner_id=pid)
    for forged in [Principal(who.sub, "admin", key_id=who.key_id),
                   Principal(who.sub, "partner", partner_id="ptn_other", key_id=who.key_id),
                   Principal("x", "admin", key_id="key_nobody")]:
        assert code_of(lambda f=forged: w.svc.check_key(f)) == (401, "invalid_token")


def test_a_clock_stepping_back_reads_again(w: World) -> None:
    _, who = token_principal(w, w.svc)
    reads = w.keys.reads
    w.wall.advance(-5)
    w.svc.check_key(who)
    assert w.keys.reads == reads + 1


# ------------------------------------------------------------------ refresh


def test_refresh_gives_a_fresh_token_of_the_same_key(w: World) -> None:
    pid = w.partner()
    mid = w.merchant(pid)
    key, who = token_principal(w, w.svc, role="merchant", merchant_id=mid)
    w.wall.advance(1800)
    out = w.svc.refresh(who)
    claims = claims_of(out["token"])
    assert claims["key_id"] == key["key_id"] and claims["merchant_id"] == mid and claims["role"] == "merchant"
    assert claims["iat"] == int(w.wall()) and claims["exp"] == claims["iat"] + 3600


def test_refresh_reads_the_key_now(w: World) -> None:
    key, who = token_principal(w, w.svc)
    w.container().revoke_key(ADMIN, key["key_id"])  # elsewhere: this container's cache still trusts it
    w.svc.check_key(who)
    assert code_of(lambda: w.svc.refresh(who)) == (401, "key_revoked")
    assert code_of(lambda: w.svc.check_key(who)) == (401, "key_revoked")  # and the cache learnt it


def test_only_key_tokens_refresh(w: World) -> None:
    assert code_of(lambda: w.svc.refresh(ADMIN)) == (401, "invalid_token")
    assert code_of(lambda: w.svc.refresh(Principal("2088000000000001", "customer"))) == (401, "invalid_token")


# ------------------------------------------------------------------ listing and revoking


def test_each_caller_lists_exactly_the_keys_it_could_create(w: World) -> None:
    p1, p2 = w.partner(), w.partner()
    m1, m2 = w.merchant(p1), w.merchant(p2)
    made = {
        "admin": create(w.svc, ADMIN, role="admin")["key_id"],
        "p1": create(w.svc, ADMIN, role="partner", partner_id=p1)["key_id"],
        "p2": create(w.svc, ADMIN, role="partner", partner_id=p2)["key_id"],
        "m1": create(w.svc, partner_p(p1), role="merchant", merchant_id=m1)["key_id"],
        "m2": create(w.svc, merchant_p(m2), role="merchant")["key_id"],
    }

    def listed(who: Principal) -> set[str]:
        return {k["key_id"] for k in w.svc.list_keys(who, {})["api_keys"]}

    assert listed(ADMIN) == set(made.values())
    assert listed(partner_p(p1)) == {made["p1"], made["m1"]}
    assert listed(merchant_p(m1)) == {made["m1"]}
    assert listed(merchant_p(m2)) == {made["m2"]}
    with pytest.raises(Forbidden):
        w.svc.list_keys(Principal("c", "customer"), {})
    doc = w.svc.list_keys(merchant_p(m1), {})["api_keys"][0]
    assert doc == {"key_id": made["m1"], "name": "tool", "role": "merchant", "partner_id": p1, "merchant_id": m1,
                   "created_at": "2026-05-01T04:00:00+00:00", "revoked": False}


def test_lists_page_newest_first_with_cursors_bound_to_the_caller(w: World) -> None:
    pid = w.partner()
    made = []
    for i in range(7):
        w.clock.set(NOW + timedelta(seconds=i // 2))  # ties in time too
        made.append(create(w.svc, ADMIN, role="partner", partner_id=pid)["key_id"])
    me = partner_p(pid)
    seen: list[str] = []
    query: dict[str, str] = {"limit": "3"}
    while True:
        page = w.svc.list_keys(me, query)
        seen += [k["key_id"] for k in page["api_keys"]]
        if page["next_cursor"] is None:
            break
        query = {"limit": "2", "cursor": page["next_cursor"]}
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    created = [w.keys.keys[k].key.created_at for k in seen]
    assert created == sorted(created, reverse=True)
    first = w.svc.list_keys(me, {"limit": "1"})
    cursor = first["next_cursor"]
    for who in [partner_p(w.partner()), Principal("other-user", "partner", partner_id=pid), ADMIN]:
        with pytest.raises(BadRequest) as e:
            w.svc.list_keys(who, {"cursor": cursor})
        assert e.value.code == "invalid_cursor"
    with pytest.raises(BadRequest):
        w.svc.list_keys(me, {"cursor": cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")})


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "１", "1.5", ""])
def test_limit_is_1_to_200(w: World, limit: str) -> None:
    with pytest.raises(Invalid) as e:
        w.svc.list_keys(ADMIN, {"limit": limit})
    assert e.value.code == "invalid_value"


def test_the_default_page_is_50(w: World) -> None:
    for _ in range(51):
        create(w.svc, ADMIN, role="admin")
    page = w.svc.list_keys(ADMIN, {})
    assert len(page["api_keys"]) == 50 and page["next_cursor"]
    assert len(w.svc.list_keys(ADMIN, {"limit": "200"})["api_keys"]) == 51


def test_revocation_is_for_whoever_could_create_the_key_and_idempotent(w: World) -> None:
    p1, p2 = w.partner(), w.partner()
    m1 = w.merchant(p1)
    admin_key = create(w.svc, ADMIN, role="admin")["key_id"]
    p1_key = create(w.svc, ADMIN, role="partner", partner_id=p1)["key_id"]
    m1_key = create(w.svc, ADMIN, role="merchant", merchant_id=m1)["key_id"]
    assert code_of(lambda: w.svc.revoke_key(partner_p(p1), admin_key)) == (403, "forbidden_role")
    assert code_of(lambda: w.svc.revoke_key(partner_p(p2), p1_key)) == (403, "forbidden_tenant")
    assert code_of(lambda: w.svc.revoke_key(partner_p(p2), m1_key)) == (403, "forbidden_tenant")
    assert code_of(lambda: w.svc.revoke_key(merchant_p(m1), p1_key)) == (403, "forbidden_role")
    assert code_of(lambda: w.svc.revoke_key(merchant_p("mch_other"), m1_key)) == (403, "forbidden_tenant")
    assert code_of(lambda: w.svc.revoke_key(Principal("c", "customer"), m1_key)) == (403, "forbidden_role")
    assert code_of(lambda: w.svc.revoke_key(ADMIN, "key_nobody")) == (404, "key_not_found")
    assert not any(s.key.revoked for s in w.keys.keys.values())
    w.svc.revoke_key(merchant_p(m1), m1_key)
    first = w.keys.keys[m1_key].key.revoked_at
    w.clock.advance(60)
    w.svc.revoke_key(partner_p(p1), m1_key)
    assert w.keys.keys[m1_key].key.revoked_at == first == NOW
    w.svc.revoke_key(partner_p(p1), p1_key)
    actions = [e["action"] for e in w.trail.entries("2026-05")]
    assert actions.count("api_key.revoke") == 2  # once per key, not per call
    listed = {k["key_id"]: k["revoked"] for k in w.svc.list_keys(ADMIN, {})["api_keys"]}
    assert listed == {admin_key: False, p1_key: True, m1_key: True}


def test_keys_are_independent_of_the_key_whose_token_created_them(w: World) -> None:
    pid = w.partner()
    parent, parent_who = token_principal(w, w.svc, role="partner", partner_id=pid)
    child = create(w.svc, parent_who, role="partner")
    w.svc.revoke_key(ADMIN, parent["key_id"])
    assert code_of(lambda: w.svc.check_key(parent_who)) == (401, "key_revoked")
    child_who = principal_of(w.svc.token(basic(child["key_id"], child["secret"]))["token"])
    w.svc.check_key(child_who)
    w.svc.refresh(child_who)
    assert w.keys.keys[child["key_id"]].key.created_by == parent["key_id"]  # who made it is kept, nothing more


# ------------------------------------------------------------------ customers, rate limit, codes


def test_a_customer_token_lasts_24_hours(w: World) -> None:
    out = w.svc.customer_token("2088000000000001")
    assert set(out) == {"token", "token_type", "expires_at", "customer_id"}
    assert (out["token_type"], out["customer_id"]) == ("Bearer", "2088000000000001")
    claims = claims_of(out["token"])
    iat = int(w.wall())
    assert claims == {"iss": "yundian", "sub": "2088000000000001", "role": "customer", "iat": iat,
                      "exp": iat + 86400}
    who = principal_of(out["token"])
    assert (who.role, who.sub, who.key_id) == ("customer", "2088000000000001", None)


@pytest.mark.parametrize("user_id", ["", "a b", "x" * 129, "é"])
def test_a_platform_user_id_that_cannot_be_a_sub_is_refused(w: World, user_id: str) -> None:
    with pytest.raises(Unauthorized) as e:
        w.svc.customer_token(user_id)
    assert e.value.code == "auth_code_rejected"


def test_the_rate_limit_is_per_client_with_retry_after(w: World) -> None:
    for _ in range(5):
        w.svc.admit("198.51.100.7")
    with pytest.raises(TooManyRequests) as e:
        w.svc.admit("198.51.100.7")
    assert (e.value.status, e.value.code, e.value.headers()) == (429, "rate_limited", {"Retry-After": "1"})
    w.svc.admit("203.0.113.9")  # another client has its own bucket
    w.wall.advance(1)
    w.svc.admit("198.51.100.7")
    with pytest.raises(TooManyRequests):
        w.svc.admit("198.51.100.7")
    w.wall.advance(10)
    for _ in range(5):
        w.svc.admit("198.51.100.7")


def test_auth_codes_are_remembered_on_the_wall_clock(w: World) -> None:
    result = {"platform": "alipay", "id": "2088000000000009"}
    assert w.svc.recall_auth_code("code-1") is None
    assert w.svc.remember_auth_code("code-1", "mch_1", result) == result
    assert w.svc.remember_auth_code("code-1", "mch_1", {"other": 1}) == result
    with pytest.raises(Conflict) as e:
        w.svc.remember_auth_code("code-1", "mch_2", result)
    assert e.value.code == "auth_code_used"
    assert w.svc.recall_auth_code("code-1") == ("mch_1", result)
    assert "code-1" not in repr(w.codes.entries)  # kept under a hash of the code
    w.wall.advance(24 * 3600 + 1)
    assert w.svc.recall_auth_code("code-1") is None


def test_a_shorter_key_token_lifetime_applies_to_issued_and_refreshed_tokens(w: World) -> None:
    svc = IdentityService(w.keys, w.codes, OnboardingService(w.onboarding, w.clock), w.clock, jwt_secret=SECRET,
                          cursors=CursorSigner(SECRET), rate=RateLimit(5, 1.0), wall=w.wall, trail=w.trail,
                          key_token_seconds=10)
    key = create(svc, ADMIN, role="admin")
    issued = claims_of(svc.token(basic(key["key_id"], key["secret"]))["token"])
    assert issued["exp"] - issued["iat"] == 10
    refreshed = claims_of(svc.refresh(principal_of(svc.token(basic(key["key_id"], key["secret"]))["token"]))["token"])
    assert refreshed["exp"] - refreshed["iat"] == 10
    default = claims_of(w.svc.token(basic(key["key_id"], key["secret"]))["token"])
    assert default["exp"] - default["iat"] == 3600

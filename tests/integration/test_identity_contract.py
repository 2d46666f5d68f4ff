"""One contract for the identity area's storage — API keys and remembered authorization codes —
run against the in-memory fakes and the DynamoDB adapters on DynamoDB Local."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import storage
from chalicelib.config import Config
from chalicelib.errors import Conflict
from chalicelib.identity.domain import ApiKey, KeyPosition, KeyScope, StoredKey, list_order
from chalicelib.identity.dynamo import DynamoApiKeyRepository, DynamoAuthCodes
from chalicelib.identity.ports import ApiKeyRepository, AuthCodes
from chalicelib.ids import new_id
from chalicelib.tables import ALL_MODELS
from tests.fakes.identity import InMemoryApiKeyRepository, InMemoryAuthCodes

T0 = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
# near the real time: a remembered code's expiry is a TTL attribute, which a real table acts on
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=["fake", "dynamodb"])
def keys(request: pytest.FixtureRequest) -> ApiKeyRepository:
    if request.param == "fake":
        return InMemoryApiKeyRepository()
    config: Config = request.getfixturevalue("test_config")
    storage.bind(config, ALL_MODELS)
    return DynamoApiKeyRepository()


@pytest.fixture(params=["fake", "dynamodb"])
def codes(request: pytest.FixtureRequest) -> AuthCodes:
    if request.param == "fake":
        return InMemoryAuthCodes()
    config: Config = request.getfixturevalue("test_config")
    storage.bind(config, ALL_MODELS)
    return DynamoAuthCodes()


def a_key(role: str = "partner", partner_id: str | None = None, merchant_id: str | None = None,
          at: datetime = T0, key_id: str | None = None) -> StoredKey:
    key = ApiKey(key_id or new_id("key"), f"{role} tool", role, partner_id, merchant_id, at, "admin-1")
    return StoredKey(key, secrets.token_hex(32))


# ------------------------------------------------------------------ API keys


def test_a_key_round_trips_with_its_hash(keys: ApiKeyRepository) -> None:
    stored = a_key("merchant", "ptn_1", new_id("mch"))
    keys.add(stored)
    assert keys.get(stored.key.key_id) == stored
    assert keys.get("key_missing") is None


def test_a_key_id_is_unique(keys: ApiKeyRepository) -> None:
    stored = a_key("admin")
    keys.add(stored)
    with pytest.raises(Conflict) as e:
        keys.add(a_key("partner", "ptn_x", key_id=stored.key.key_id))
    assert e.value.code == "key_exists"
    assert keys.get(stored.key.key_id) == stored


def test_revocation_is_idempotent_and_keeps_the_first_time(keys: ApiKeyRepository) -> None:
    stored = a_key("partner", new_id("ptn"))
    keys.add(stored)
    first = keys.revoke(stored.key.key_id, T0 + timedelta(minutes=5))
    assert first is not None and first.revoked and first.revoked_at == T0 + timedelta(minutes=5)
    assert first.name == stored.key.name and first.partner_id == stored.key.partner_id
    again = keys.revoke(stored.key.key_id, T0 + timedelta(hours=1))
    assert again == first
    got = keys.get(stored.key.key_id)
    assert got is not None and got.key == first and got.secret_hash == stored.secret_hash
    assert keys.revoke("key_missing", T0) is None
    assert keys.get("key_missing") is None  # revoking an unknown key creates nothing


def test_a_partner_lists_its_own_keys_and_its_merchants_newest_first(keys: ApiKeyRepository) -> None:
    pid, other = new_id("ptn"), new_id("ptn")
    mid = new_id("mch")
    mine = [a_key("partner", pid, at=T0 + timedelta(seconds=1)),
            a_key("merchant", pid, mid, at=T0 + timedelta(seconds=3)),
            a_key("merchant", pid, new_id("mch"), at=T0 + timedelta(seconds=2))]
    for s in [*mine, a_key("partner", other), a_key("merchant", other, new_id("mch")), a_key("admin")]:
        keys.add(s)
    page = keys.page(KeyScope("partner", pid), 10, None)
    assert [k.key_id for k in page.keys] == [mine[1].key.key_id, mine[2].key.key_id, mine[0].key.key_id]
    assert page.more is False
    assert page.keys[0] == mine[1].key  # everything a list shows
    merchant = keys.page(KeyScope("merchant", mid), 10, None)
    assert [k.key_id for k in merchant.keys] == [mine[1].key.key_id]
    assert keys.page(KeyScope("merchant", new_id("mch")), 10, None).keys == ()


def test_a_revoked_key_is_still_listed_as_revoked(keys: ApiKeyRepository) -> None:
    pid = new_id("ptn")
    stored = a_key("partner", pid)
    keys.add(stored)
    keys.revoke(stored.key.key_id, T0 + timedelta(seconds=9))
    (listed,) = keys.page(KeyScope("partner", pid), 5, None).keys
    assert listed.revoked and listed.revoked_at == T0 + timedelta(seconds=9)


def test_pages_chain_without_repeating_or_skipping(keys: ApiKeyRepository) -> None:
    pid = new_id("ptn")
    made = [a_key("partner", pid, at=T0 + timedelta(seconds=i % 3)) for i in range(7)]  # ties in time
    for s in made:
        keys.add(s)
    expected = sorted((s.key for s in made), key=lambda k: list_order(k.created_at, k.key_id), reverse=True)
    seen: list[ApiKey] = []
    after: KeyPosition | None = None
    for limit in (3, 1, 2, 5):
        page = keys.page(KeyScope("partner", pid), limit, after)
        seen.extend(page.keys)
        if not page.more:
            break
        last = page.keys[-1]
        after = KeyPosition(list_order(last.created_at, last.key_id), last.key_id)
    assert seen == expected


def test_admins_list_every_key_newest_first(keys: ApiKeyRepository) -> None:
    # the newest keys of this table (other tests write theirs in 2026): a year of this run's own
    start = datetime(5000 + secrets.randbelow(3000), 1, 1, tzinfo=UTC)
    made = [a_key("admin", at=start + timedelta(days=1)), a_key("partner", new_id("ptn"), at=start),
            a_key("merchant", new_id("ptn"), new_id("mch"), at=start + timedelta(days=2))]
    for s in made:
        keys.add(s)
    page = keys.page(KeyScope("all"), 3, None)
    assert [k.key_id for k in page.keys] == [made[2].key.key_id, made[0].key.key_id, made[1].key.key_id]
    last = page.keys[-1]
    rest = keys.page(KeyScope("all"), 200, KeyPosition(list_order(last.created_at, last.key_id), last.key_id))
    assert not {k.key_id for k in rest.keys} & {s.key.key_id for s in made}


# ------------------------------------------------------------------ authorization codes


def test_a_code_is_remembered_for_its_merchant(codes: AuthCodes) -> None:
    code, mid = f"code-{secrets.token_hex(8)}", new_id("mch")
    result = {"platform": "alipay", "id": "2088000000000001", "verified": True, "n": 1}
    assert codes.recall(code, NOW) is None
    assert codes.remember(code, mid, result, NOW) == result
    assert codes.recall(code, NOW + timedelta(hours=23)) == (mid, result)


def test_the_first_writer_wins_for_the_same_merchant(codes: AuthCodes) -> None:
    code, mid = f"code-{secrets.token_hex(8)}", new_id("mch")
    first = {"binding": "first"}
    codes.remember(code, mid, first, NOW)
    assert codes.remember(code, mid, {"binding": "second"}, NOW + timedelta(seconds=5)) == first
    assert codes.recall(code, NOW) == (mid, first)


def test_a_code_remembered_for_another_merchant_is_a_conflict(codes: AuthCodes) -> None:
    code, mid = f"code-{secrets.token_hex(8)}", new_id("mch")
    codes.remember(code, mid, {"ok": True}, NOW)
    with pytest.raises(Conflict) as e:
        codes.remember(code, new_id("mch"), {"ok": False}, NOW)
    assert e.value.code == "auth_code_used"
    assert codes.recall(code, NOW) == (mid, {"ok": True})


def test_a_code_is_forgotten_after_24_hours(codes: AuthCodes) -> None:
    code, mid, other = f"code-{secrets.token_hex(8)}", new_id("mch"), new_id("mch")
    codes.remember(code, mid, {"n": 1}, NOW)
    later = NOW + timedelta(hours=24, seconds=1)
    assert codes.recall(code, later) is None  # whether or not TTL deletion has happened
    assert codes.remember(code, other, {"n": 2}, later) == {"n": 2}
    assert codes.recall(code, later) == (other, {"n": 2})


def test_concurrent_first_uses_of_a_code_leave_one_holder(codes: AuthCodes) -> None:
    code = f"code-{secrets.token_hex(8)}"
    merchants = [new_id("mch") for _ in range(6)]

    def attempt(i: int) -> tuple[str, dict[str, int] | str]:
        mid = merchants[i % 3]
        try:
            return mid, codes.remember(code, mid, {"i": i}, NOW)
        except Conflict as e:
            return mid, e.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    recalled = codes.recall(code, NOW)
    assert recalled is not None
    holder, stored = recalled
    for mid, outcome in outcomes:
        assert outcome == (stored if mid == holder else "auth_code_used")

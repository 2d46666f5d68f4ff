"""The `IdempotencyStore` contract, on the in-memory fake and on `DynamoIdempotencyStore` (the
guards table on DynamoDB Local): claim, complete, release, a different request under the key,
a request racing an unfinished one, takeover of an abandoned claim, expiry."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import storage
from chalicelib.config import Config
from chalicelib.memberships.dynamo_idempotency import DynamoIdempotencyStore
from chalicelib.memberships.idempotency import Claim, Idempotency, IdempotencyStore, Outcome
from chalicelib.tables import ALL_MODELS
from tests.fakes.memberships import InMemoryIdempotencyStore

# near the real time: stored expiry is a TTL attribute, which a real table acts on
NOW = datetime.now(UTC).replace(microsecond=0)
LEASE = timedelta(seconds=30)
TTL = timedelta(hours=48)
H1, H2 = "a" * 64, "b" * 64


@pytest.fixture(params=["fake", "dynamo"])
def store(request: pytest.FixtureRequest) -> Iterator[IdempotencyStore]:
    if request.param == "fake":
        yield InMemoryIdempotencyStore()
    else:
        config: Config = request.getfixturevalue("test_config")
        storage.bind(config, ALL_MODELS)
        yield DynamoIdempotencyStore()


def key() -> str:
    return f"idem#contract#{secrets.token_hex(8)}"


def claim(store: IdempotencyStore, k: str, h: str, now: datetime = NOW, ttl: timedelta = TTL) -> Claim:
    return store.claim(k, h, now, now + LEASE, now + ttl)


def test_a_claim_is_held_until_completed_then_replayed(store: IdempotencyStore) -> None:
    k = key()
    assert claim(store, k, H1) == Claim("claimed")
    assert claim(store, k, H1) == Claim("in_progress")
    assert claim(store, k, H2) == Claim("mismatch")
    store.complete(k, H1, Outcome(201, {"membership_id": "mbs_1", "n": [1, 2]}))
    assert claim(store, k, H1) == Claim("done", Outcome(201, {"membership_id": "mbs_1", "n": [1, 2]}))
    assert claim(store, k, H2) == Claim("mismatch")


def test_a_stored_outcome_is_never_taken_over(store: IdempotencyStore) -> None:
    k = key()
    claim(store, k, H1)
    store.complete(k, H1, Outcome(409, {"code": "already_member", "message": "m"}))
    later = NOW + LEASE * 10
    assert claim(store, k, H1, later) == Claim("done", Outcome(409, {"code": "already_member", "message": "m"}))
    store.release(k, H1)  # only an unfinished claim is released
    assert claim(store, k, H1, later).state == "done"


def test_release_frees_the_key_for_a_retry(store: IdempotencyStore) -> None:
    k = key()
    claim(store, k, H1)
    store.release(k, H2)  # another request's release: nothing
    assert claim(store, k, H1) == Claim("in_progress")
    store.release(k, H1)
    assert claim(store, k, H2) == Claim("claimed")


def test_only_the_claiming_request_completes(store: IdempotencyStore) -> None:
    k = key()
    claim(store, k, H1)
    store.complete(k, H2, Outcome(200, {"x": 1}))
    assert claim(store, k, H1) == Claim("in_progress")


def test_an_abandoned_claim_is_taken_over_by_the_same_request_after_its_lease(store: IdempotencyStore) -> None:
    k = key()
    claim(store, k, H1)
    assert claim(store, k, H1, NOW + LEASE - timedelta(seconds=1)) == Claim("in_progress")
    assert claim(store, k, H2, NOW + LEASE + timedelta(seconds=1)) == Claim("mismatch")
    assert claim(store, k, H1, NOW + LEASE + timedelta(seconds=1)) == Claim("claimed")
    store.complete(k, H1, Outcome(200, {"ok": True}))
    assert claim(store, k, H1, NOW + LEASE * 3) == Claim("done", Outcome(200, {"ok": True}))


def test_an_expired_key_is_free_for_any_request(store: IdempotencyStore) -> None:
    k = key()
    claim(store, k, H1, ttl=timedelta(minutes=1))
    store.complete(k, H1, Outcome(200, {"first": True}))
    assert claim(store, k, H2, NOW + timedelta(seconds=59)) == Claim("mismatch")
    assert claim(store, k, H2, NOW + timedelta(minutes=2)) == Claim("claimed")
    assert claim(store, k, H2, NOW + timedelta(minutes=2)) == Claim("in_progress")


def test_concurrent_claims_let_one_run(store: IdempotencyStore) -> None:
    k = key()
    with ThreadPoolExecutor(8) as pool:
        states = list(pool.map(lambda _: claim(store, k, H1).state, range(8)))
    assert sorted(states) == ["claimed"] + ["in_progress"] * 7


def test_the_runner_runs_once_per_key_and_replays(store: IdempotencyStore) -> None:
    runs: list[int] = []

    def use_case() -> Outcome:
        runs.append(1)
        return Outcome(201, {"n": len(runs)})

    idem = Idempotency(store, wall=lambda: NOW)
    scope = f"contract{secrets.token_hex(4)}"
    first = idem.run(scope, "k-1", {"plan_id": "p"}, use_case)
    again = idem.run(scope, "k-1", {"plan_id": "p"}, use_case)
    assert (first.status, first.body, first.replayed) == (201, {"n": 1}, False)
    assert (again.status, again.body, again.replayed) == (201, {"n": 1}, True)
    assert idem.run(scope, "k-2", {"plan_id": "p"}, use_case).body == {"n": 2}
    assert len(runs) == 2

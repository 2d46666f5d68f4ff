"""The per-container memory of the identity area: the token-bucket rate limit of `/v1/auth/*` and
the cache of API key states (both on an injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.identity.domain import ApiKey
from chalicelib.identity.key_cache import KeyCache
from chalicelib.identity.rate_limit import RateLimit, RateLimiter
from tests.helpers import MovableWall

KEY = ApiKey("key_1", "k", "admin", None, None, datetime(2026, 1, 1, tzinfo=UTC), "admin-1")


def test_a_bucket_admits_its_burst_then_its_rate() -> None:
    wall = MovableWall(1000.0)
    limiter = RateLimiter(RateLimit(burst=3, per_second=0.5), wall)
    assert [limiter.admit("a") for _ in range(3)] == [None, None, None]
    assert limiter.admit("a") == pytest.approx(2.0)  # one call every 2 s
    wall.advance(1)
    assert limiter.admit("a") == pytest.approx(1.0)
    wall.advance(1)
    assert limiter.admit("a") is None
    wall.advance(3600)  # a long pause refills to the burst, no further
    assert [limiter.admit("a") for _ in range(4)][-1] is not None


def test_a_clock_stepping_back_refills_nothing() -> None:
    wall = MovableWall(1000.0)
    limiter = RateLimiter(RateLimit(burst=1, per_second=1.0), wall)
    assert limiter.admit("a") is None
    wall.advance(-30)
    assert limiter.admit("a") is not None


def test_the_limiter_remembers_a_bounded_number_of_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RateLimiter, "MAX_CLIENTS", 10)
    wall = MovableWall(1000.0)
    limiter = RateLimiter(RateLimit(burst=2, per_second=1.0), wall)
    limiter.admit("busy")
    limiter.admit("busy")
    for i in range(50):
        limiter.admit(f"client-{i}")
    assert len(limiter._buckets) <= 10


def test_a_limit_must_admit_and_refill() -> None:
    for bad in (RateLimit(0, 1.0), RateLimit(1, 0.0)):
        with pytest.raises(ValueError):
            RateLimiter(bad, MovableWall())


def test_a_cached_key_is_trusted_for_less_than_its_ttl_from_the_read() -> None:
    wall = MovableWall(1000.0)
    cache = KeyCache(60, wall)
    assert cache.get("key_1") == (False, None)
    cache.put("key_1", KEY, read_at=wall())
    cache.put("key_nobody", None, read_at=wall())
    wall.advance(59.9)
    assert cache.get("key_1") == (True, KEY) and cache.get("key_nobody") == (True, None)
    wall.advance(0.1)
    assert cache.get("key_1") == (False, None)


def test_an_older_read_does_not_replace_a_newer_one() -> None:
    wall = MovableWall(1000.0)
    cache = KeyCache(60, wall)
    revoked = ApiKey(**{**KEY.__dict__, "revoked_at": datetime(2026, 1, 2, tzinfo=UTC)})
    cache.put("key_1", revoked, read_at=1000.0)  # a revocation here
    cache.put("key_1", KEY, read_at=999.0)  # a read that began before it, finishing after
    assert cache.get("key_1") == (True, revoked)


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KeyCache, "MAX_KEYS", 5)
    wall = MovableWall(1000.0)
    cache = KeyCache(60, wall)
    for i in range(20):
        cache.put(f"key_{i}", None, read_at=wall())
    assert len(cache._keys) <= 5
    assert cache.get("key_19") == (True, None)

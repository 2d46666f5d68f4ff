"""The in-app limit of `/v1/auth/*` calls: a token bucket per client (source IP), per container.

Cheap and local: it holds no shared state, so N warm containers admit up to N times the limit;
the deployment's API Gateway throttling of the same routes (infra/build.py) bounds the total.
It exists because every such call can cost a request to a payment platform.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """`burst` calls at once, `per_second` sustained, per client and container."""

    burst: int
    per_second: float


AUTH_RATE = RateLimit(burst=30, per_second=1.0)  # deployed stages
LOCAL_AUTH_RATE = RateLimit(burst=1000, per_second=100.0)  # a laptop and the test suite: one client, 127.0.0.1


class RateLimiter:
    """Token buckets by client. `now` is a clock in seconds (injected: tests move it)."""

    MAX_CLIENTS = 10_000  # beyond it, idle (full) buckets are dropped; then all of them

    def __init__(self, limit: RateLimit, now: Callable[[], float]) -> None:
        if limit.burst < 1 or limit.per_second <= 0:
            raise ValueError("a rate limit admits at least one call and refills")
        self.limit = limit
        self._now = now
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self._lock = threading.Lock()

    def admit(self, client: str) -> float | None:
        """Take one call from `client`'s bucket: None when admitted, else the seconds until one
        call would be."""
        now = self._now()
        burst, rate = float(self.limit.burst), self.limit.per_second
        with self._lock:
            tokens, at = self._buckets.get(client, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - at) * rate)  # a clock stepping back adds nothing
            if tokens >= 1.0:
                self._remember(client, tokens - 1.0, now)
                return None
            self._remember(client, tokens, now)
            return (1.0 - tokens) / rate

    def _remember(self, client: str, tokens: float, now: float) -> None:
        if client not in self._buckets and len(self._buckets) >= self.MAX_CLIENTS:
            burst, rate = float(self.limit.burst), self.limit.per_second
            self._buckets = {c: (t, a) for c, (t, a) in self._buckets.items() if t + (now - a) * rate < burst}
            if len(self._buckets) >= self.MAX_CLIENTS:
                self._buckets.clear()
        self._buckets[client] = (tokens, now)

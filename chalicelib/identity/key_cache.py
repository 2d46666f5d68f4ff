"""What each API key looked like when last read, per container, for at most
`domain.KEY_CHECK_SECONDS`: the revocation check of every request with a key's token costs no
more than one DynamoDB read per key per minute per container, and a key revoked elsewhere stops
working within that minute (revoked in this container: at once, `KeyCache.put`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from chalicelib.identity.domain import ApiKey


class KeyCache:
    """Keys (or their absence) by id, each trusted for `ttl` seconds from the moment its read
    began. `now` is a clock in seconds (injected: tests move it)."""

    MAX_KEYS = 10_000  # beyond it, stale entries are dropped; then all of them

    def __init__(self, ttl: float, now: Callable[[], float]) -> None:
        self.ttl = ttl
        self._now = now
        self._keys: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now()

    def get(self, key_id: str) -> tuple[bool, ApiKey | None]:
        """`(True, key or None)` while a read of `key_id` is fresh; `(False, None)` otherwise."""
        now = self._now()
        with self._lock:
            entry = self._keys.get(key_id)
        if entry is None or not self._fresh(entry[0], now):
            return False, None
        return True, entry[1]

    def put(self, key_id: str, key: ApiKey | None, read_at: float) -> None:
        """What a read that began at `read_at` found (None: no such key). A read that began before
        the one cached (a revocation here racing a read) does not replace it."""
        with self._lock:
            held = self._keys.get(key_id)
            if held is not None and held[0] > read_at:
                return
            if key_id not in self._keys and len(self._keys) >= self.MAX_KEYS:
                now = self._now()
                self._keys = {k: e for k, e in self._keys.items() if self._fresh(e[0], now)}
                if len(self._keys) >= self.MAX_KEYS:
                    self._keys.clear()
            self._keys[key_id] = (read_at, key)

    def _fresh(self, read_at: float, now: float) -> bool:
        # a clock that stepped back makes an entry stale rather than fresh for longer
        return 0.0 <= now - read_at < self.ttl

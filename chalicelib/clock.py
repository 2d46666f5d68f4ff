"""The business clock: injected everywhere time matters, never `datetime.now()` in a rule.

Signature freshness uses `wall_clock` (the real time); all business rules use a `Clock`.
On the local stage the clock is the wall clock plus an adjustable, still-running offset.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def wall_clock() -> float:
    """Real unix time in seconds (signature freshness)."""
    return time.time()


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """Wall clock plus an offset that keeps running (the local test clock)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = offset_seconds
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, when: datetime) -> datetime:
        with self._lock:
            self._offset = (when - datetime.now(UTC)).total_seconds()
        return self.now()


class FixedClock:
    """A clock that only moves when told (unit tests)."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> datetime:
        self._now = when
        return self._now


def iso(dt: datetime) -> str:
    """RFC 3339 with offset, seconds precision kept as stored."""
    return dt.isoformat()

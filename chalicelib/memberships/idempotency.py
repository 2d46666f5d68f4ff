"""`Idempotency-Key` handling for the membership endpoints, as conditional writes.

A key is claimed with a conditional put (`in_progress`, the request's hash, a short lease);
the use case runs; its outcome (a success or a deterministic 4xx) is stored with the key for
48 h (`Config.idempotency_ttl_seconds`, ≥ the 24 h the contract promises). The same key and
request replays the stored outcome; a different request under the key is
`422 idempotency_key_reused`; a request racing an unfinished one is `409 idempotency_in_progress`.
A 5xx releases the claim, so the retry runs as if the first attempt had never happened; a claim
left behind by a crash is taken over once its lease ran out (the use cases are themselves safe
to re-run: lock-in ids derive from the key, refunds remember their key).

Keys are scoped by endpoint and caller, and kept against the real wall clock (expiry is about
the client's retries, not business time). `IdempotencyStore` is the port: its DynamoDB adapter is
`chalicelib.memberships.dynamo_idempotency.DynamoIdempotencyStore`, its fake
`tests.fakes.memberships.InMemoryIdempotencyStore`; `IdempotencyRecord` holds the rules both follow.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from chalicelib.errors import AppError, BadRequest, Conflict, Invalid
from chalicelib.observability import logger

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
IN_PROGRESS, DONE = "in_progress", "done"


@dataclass(frozen=True)
class Outcome:
    """What an idempotent request answered: a status and a JSON body."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class Claim:
    state: str  # "claimed" | "done" | "in_progress" | "mismatch"
    outcome: Outcome | None = None


@dataclass(frozen=True)
class IdempotencyRecord:
    """A stored claim of a key: what the store keeps, and the rules every store follows."""

    request_hash: str
    state: str  # in_progress | done
    lease_until: datetime | None
    expires_at: datetime | None
    outcome: Outcome | None = None  # when done

    def free_for(self, request_hash: str, now: datetime) -> bool:
        """May a new claim take the key: the record expired (TTL deletion is lazy), or it is an
        abandoned claim (lease run out) of this same request."""
        expired = self.expires_at is not None and self.expires_at < now
        abandoned = (self.state == IN_PROGRESS and self.lease_until is not None and self.lease_until < now
                     and self.request_hash == request_hash)
        return expired or abandoned

    def answer(self, request_hash: str) -> Claim:
        """What a claim that found this record (and could not take it) is told."""
        if self.request_hash != request_hash:
            return Claim("mismatch")
        if self.state == DONE:
            return Claim("done", self.outcome)
        return Claim("in_progress")

    def held_by(self, request_hash: str) -> bool:
        """May this request complete or release the claim."""
        return self.state == IN_PROGRESS and self.request_hash == request_hash


class IdempotencyStore(Protocol):
    """Where claims are kept. Every call is atomic per key."""

    def claim(self, key: str, request_hash: str, now: datetime, lease_until: datetime,
              expires_at: datetime) -> Claim:
        """Take the key (absent, or `IdempotencyRecord.free_for`) as `in_progress` until
        `lease_until`, or tell what holds it (`IdempotencyRecord.answer`)."""
        ...

    def complete(self, key: str, request_hash: str, outcome: Outcome) -> None:
        """Store the outcome, if this request still holds the claim (else nothing)."""
        ...

    def release(self, key: str, request_hash: str) -> None:
        """Drop the claim, if this request still holds it (else nothing)."""
        ...


def request_hash(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_key(key: str) -> str:
    if not KEY_RE.match(key):
        raise BadRequest("Idempotency-Key must be 1-64 chars of [A-Za-z0-9_-]", code="invalid_idempotency_key")
    return key


class Idempotency:
    """Runs a use case at most once per (scope, key) and replays its outcome."""

    def __init__(self, store: IdempotencyStore, ttl_seconds: int = 48 * 3600, lease_seconds: int = 30,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        assert ttl_seconds >= 24 * 3600, "the contract keeps keys at least 24 h"
        self.store = store
        self.ttl = timedelta(seconds=ttl_seconds)
        self.lease = timedelta(seconds=lease_seconds)
        self.wall = wall

    def run(self, scope: str, key: str | None, request: dict[str, Any], fn: Callable[[], Outcome]) -> Outcome:
        if key is None:
            return fn()
        full_key = f"idem#{scope}#{check_key(key)}"
        h = request_hash(request)
        now = self.wall()
        claim = self.store.claim(full_key, h, now, now + self.lease, now + self.ttl)
        if claim.state == "mismatch":
            raise Invalid("this Idempotency-Key was used with a different request", code="idempotency_key_reused")
        if claim.state == "done":
            assert claim.outcome is not None
            return Outcome(claim.outcome.status, claim.outcome.body, replayed=True)
        if claim.state == "in_progress":
            raise Conflict("a request with this Idempotency-Key is still in progress; retry shortly",
                           code="idempotency_in_progress")
        try:
            outcome = fn()
        except AppError as err:
            if err.status >= 500:
                self._release(full_key, h)
                raise
            outcome = Outcome(err.status, err.body())
        except BaseException:
            self._release(full_key, h)
            raise
        self.store.complete(full_key, h, outcome)
        return outcome

    def _release(self, key: str, h: str) -> None:
        try:
            self.store.release(key, h)
        except Exception:  # noqa: BLE001 - the lease expires anyway; the original error matters
            logger.warning("could not release an idempotency claim", extra={"key": key})

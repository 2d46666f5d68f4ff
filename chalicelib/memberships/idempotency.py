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
the client's retries, not business time).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from chalicelib.errors import AppError, BadRequest, Conflict, Invalid
from chalicelib.memberships.models import IdempotencyRecordModel as Rec
from chalicelib.observability import logger
from chalicelib.storage import error_code, with_retries

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


class IdempotencyStore(Protocol):
    def claim(self, key: str, request_hash: str, now: datetime, lease_until: datetime,
              expires_at: datetime) -> Claim: ...
    def complete(self, key: str, request_hash: str, outcome: Outcome) -> None: ...
    def release(self, key: str, request_hash: str) -> None: ...


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


# ---------------------------------------------------------------- DynamoDB adapter


class DynamoIdempotencyStore:
    def claim(self, key: str, request_hash: str, now: datetime, lease_until: datetime,
              expires_at: datetime) -> Claim:
        item = Rec(key, state=IN_PROGRESS, request_hash=request_hash, lease_until=lease_until,
                   expires_at=expires_at)
        # Free when absent, expired (TTL deletion is lazy), or an abandoned claim of this request.
        cond = (Rec.key.does_not_exist() | (Rec.expires_at < now)
                | ((Rec.state == IN_PROGRESS) & (Rec.lease_until < now) & (Rec.request_hash == request_hash)))
        for _ in range(3):
            try:
                with_retries(lambda: item.save(condition=cond))
                return Claim("claimed")
            except PutError as e:
                if error_code(e) != "ConditionalCheckFailedException":
                    raise
            try:
                found = with_retries(lambda: Rec.get(key, consistent_read=True))
            except DoesNotExist:
                continue  # released meanwhile: claim again
            if found.request_hash != request_hash:
                return Claim("mismatch")
            if found.state == DONE:
                body = json.loads(found.response_body or "{}")
                return Claim("done", Outcome(int(found.response_status or 200), body))
            return Claim("in_progress")
        return Claim("in_progress")

    def complete(self, key: str, request_hash: str, outcome: Outcome) -> None:
        item = Rec(key)
        try:
            with_retries(lambda: item.update(
                actions=[Rec.state.set(DONE), Rec.response_status.set(outcome.status),
                         Rec.response_body.set(json.dumps(outcome.body, separators=(",", ":")))],
                condition=(Rec.request_hash == request_hash) & (Rec.state == IN_PROGRESS),
            ))
        except UpdateError as e:
            if error_code(e) != "ConditionalCheckFailedException":
                raise
            logger.warning("idempotency claim was taken over before completion", extra={"key": key})

    def release(self, key: str, request_hash: str) -> None:
        try:
            with_retries(lambda: Rec(key).delete(
                condition=(Rec.request_hash == request_hash) & (Rec.state == IN_PROGRESS)))
        except DeleteError as e:
            if error_code(e) != "ConditionalCheckFailedException":
                raise


# ---------------------------------------------------------------- in-memory fake


class InMemoryIdempotencyStore:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, request_hash: str, now: datetime, lease_until: datetime,
              expires_at: datetime) -> Claim:
        with self._lock:
            cur = self.items.get(key)
            free = (cur is None or cur["expires_at"] < now
                    or (cur["state"] == IN_PROGRESS and cur["lease_until"] < now and cur["hash"] == request_hash))
            if free:
                self.items[key] = {"state": IN_PROGRESS, "hash": request_hash, "lease_until": lease_until,
                                   "expires_at": expires_at, "outcome": None}
                return Claim("claimed")
            assert cur is not None
            if cur["hash"] != request_hash:
                return Claim("mismatch")
            if cur["state"] == DONE:
                return Claim("done", cur["outcome"])
            return Claim("in_progress")

    def complete(self, key: str, request_hash: str, outcome: Outcome) -> None:
        with self._lock:
            cur = self.items.get(key)
            if cur and cur["hash"] == request_hash and cur["state"] == IN_PROGRESS:
                cur.update(state=DONE, outcome=outcome)

    def release(self, key: str, request_hash: str) -> None:
        with self._lock:
            cur = self.items.get(key)
            if cur and cur["hash"] == request_hash and cur["state"] == IN_PROGRESS:
                del self.items[key]

"""`DynamoIdempotencyStore` (`idempotency.IdempotencyStore`): `Idempotency-Key` claims as
conditional writes in the shared guards table (tests/integration/test_idempotency_contract.py)."""

from __future__ import annotations

import json
from datetime import datetime

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition

from chalicelib.memberships.idempotency import DONE, IN_PROGRESS, Claim, IdempotencyRecord, Outcome
from chalicelib.memberships.models import IdempotencyRecordModel as Rec
from chalicelib.observability import logger
from chalicelib.storage import delete_if, save_if, update_if, with_retries

# ---------------------------------------------------------------- idempotency claims


def _claim_record(r: Rec) -> IdempotencyRecord:
    outcome = None if r.state != DONE else Outcome(int(r.response_status or 200), json.loads(r.response_body or "{}"))
    return IdempotencyRecord(r.request_hash or "", r.state or IN_PROGRESS, r.lease_until, r.expires_at, outcome)


class DynamoIdempotencyStore:
    """`IdempotencyStore` in the shared guards table (`idem#` keys, TTL `expires_at`)."""

    def claim(self, key: str, request_hash: str, now: datetime, lease_until: datetime,
              expires_at: datetime) -> Claim:
        item = Rec(key, state=IN_PROGRESS, request_hash=request_hash, lease_until=lease_until,
                   expires_at=expires_at)
        # absent, or `IdempotencyRecord.free_for(request_hash, now)`
        cond = (Rec.key.does_not_exist() | (Rec.expires_at < now)
                | ((Rec.state == IN_PROGRESS) & (Rec.lease_until < now) & (Rec.request_hash == request_hash)))
        for _ in range(3):
            if save_if(item, cond):
                return Claim("claimed")
            try:
                found = with_retries(lambda: Rec.get(key, consistent_read=True))
            except DoesNotExist:
                continue  # released meanwhile: claim again
            return _claim_record(found).answer(request_hash)
        return Claim("in_progress")

    @staticmethod
    def _held_by(request_hash: str) -> Condition:
        """`IdempotencyRecord.held_by(request_hash)` as a condition."""
        return (Rec.request_hash == request_hash) & (Rec.state == IN_PROGRESS)

    def complete(self, key: str, request_hash: str, outcome: Outcome) -> None:
        done = update_if(Rec(key), [Rec.state.set(DONE), Rec.response_status.set(outcome.status),
                                    Rec.response_body.set(json.dumps(outcome.body, separators=(",", ":")))],
                         self._held_by(request_hash))
        if not done:
            logger.warning("idempotency claim was taken over before completion", extra={"key": key})

    def release(self, key: str, request_hash: str) -> None:
        delete_if(Rec(key), self._held_by(request_hash))

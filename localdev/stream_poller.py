"""A local stand-in for Lambda's DynamoDB Streams event source mappings (`make run` and tests).

It reads the streams of the given tables from the same endpoint (DynamoDB Local has streams:
describe_stream → shards → get_shard_iterator → get_records) and delivers each table's records,
in batches shaped like the Lambda event (`{"Records": [...]}`), to that table's handler — the
very handler the deployed `@on_dynamodb_record` function of that table calls. A batch whose
delivery raises is delivered again (like Lambda's retries), so the handlers must be idempotent.

`drain()` delivers everything available now (tests call it after writing); `start()` runs
a background thread (`make run`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3

from chalicelib.observability import logger

Deliver = Callable[[dict[str, Any]], Any]


class _Shard:
    def __init__(self, shard_id: str) -> None:
        self.shard_id = shard_id
        self.iterator: str | None = None
        self.last_seq: str | None = None
        self.closed = False


class LocalStreamPoller:
    """`handlers` maps a full table name to the callable that receives its stream's events."""

    def __init__(self, handlers: dict[str, Deliver], *, endpoint: str | None = None,
                 region: str = "us-east-1", batch_size: int = 100, start_at: str = "TRIM_HORIZON") -> None:
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.start_at = start_at
        self._ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
        self._streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=region)
        self._shards: dict[str, dict[str, _Shard]] = {}  # stream arn -> shard id -> state
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return str(self._ddb.meta.endpoint_url)

    def _streams_of_tables(self) -> list[tuple[str, Deliver]]:
        """(stream arn, handler) of every table that has a stream."""
        found = []
        for name, handler in self.handlers.items():
            arn = self._ddb.describe_table(TableName=name)["Table"].get("LatestStreamArn")
            if arn:
                found.append((arn, handler))
        return found

    def _refresh_shards(self, arn: str) -> dict[str, _Shard]:
        known = self._shards.setdefault(arn, {})
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            desc = self._streams.describe_stream(**kwargs)["StreamDescription"]
            for s in desc.get("Shards", []):
                if s["ShardId"] not in known:
                    known[s["ShardId"]] = _Shard(s["ShardId"])
            last = desc.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        return known

    def _iterator(self, arn: str, shard: _Shard) -> str | None:
        if shard.iterator is None:
            kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard.shard_id}
            if shard.last_seq:
                kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_seq)
            else:
                kwargs["ShardIteratorType"] = self.start_at
            shard.iterator = self._streams.get_shard_iterator(**kwargs).get("ShardIterator")
        return shard.iterator

    def poll_once(self) -> int:
        """One pass over every shard; returns how many records were delivered."""
        delivered = 0
        with self._lock:
            for arn, handler in self._streams_of_tables():
                for shard in list(self._refresh_shards(arn).values()):
                    if shard.closed:
                        continue
                    delivered += self._poll_shard(arn, shard, handler)
        return delivered

    def _poll_shard(self, arn: str, shard: _Shard, deliver: Deliver) -> int:
        delivered = 0
        resets = 0
        while True:
            it = self._iterator(arn, shard)
            if it is None:
                shard.closed = True
                return delivered
            try:
                resp = self._streams.get_records(ShardIterator=it, Limit=self.batch_size)
            except (self._streams.exceptions.ExpiredIteratorException,
                    self._streams.exceptions.TrimmedDataAccessException):
                # Expired iterators, and DynamoDB Local's iterators taken on an empty shard, are
                # renewed from the last delivered sequence number (or the shard's start).
                shard.iterator = None
                resets += 1
                if resets > 3:
                    return delivered
                continue
            records = resp.get("Records", [])
            if records:
                deliver({"Records": [_lambda_shape(r, arn) for r in records]})
                shard.last_seq = records[-1]["dynamodb"]["SequenceNumber"]
                delivered += len(records)
            shard.iterator = resp.get("NextShardIterator")
            if shard.iterator is None:
                shard.closed = True
                return delivered
            if not records:
                return delivered

    def drain(self, max_passes: int = 50) -> int:
        """Deliver until a pass finds nothing new."""
        total = 0
        for _ in range(max_passes):
            n = self.poll_once()
            total += n
            if n == 0:
                return total
        return total

    def start(self, interval: float = 0.5) -> threading.Thread:
        """Poll every `interval` seconds in a daemon thread until `stop()`."""
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.poll_once()
                except Exception:  # noqa: BLE001 - keep polling; the batch is retried next pass
                    logger.exception("local stream poller failed; retrying")
                self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="stream-poller", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _lambda_shape(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A get_records record in the shape Lambda delivers (epoch seconds, eventSourceARN)."""
    ddb = dict(record["dynamodb"])
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        ddb["ApproximateCreationDateTime"] = created.timestamp()
    out = {k: v for k, v in record.items() if k != "dynamodb"}
    out["dynamodb"] = ddb
    out["eventSourceARN"] = arn
    out.setdefault("eventSource", "aws:dynamodb")
    return out

"""Counting DynamoDB requests and consumed capacity for every botocore client in the process."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from botocore.client import BaseClient

_READ_OPS = {"GetItem", "Query", "Scan", "TransactGetItems", "BatchGetItem"}
_CAPACITY_OPS = _READ_OPS | {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class DynamoMeter:
    """Wraps BaseClient._make_api_call: counts requests by operation and, asking every request for
    ReturnConsumedCapacity=TOTAL, sums the write and read capacity DynamoDB reports."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.wcu = 0.0
        self.rcu = 0.0
        self._lock = threading.Lock()
        self._original: Any = None

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.wcu = self.rcu = 0.0

    def install(self) -> None:
        original = self._original = BaseClient._make_api_call
        meter = self

        def counting(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name == "dynamodb" and operation_name in _CAPACITY_OPS:
                api_params = {**api_params, "ReturnConsumedCapacity": "TOTAL"}
            try:
                response = original(client, operation_name, api_params)
            finally:
                if client.meta.service_model.service_name == "dynamodb":
                    with meter._lock:
                        meter.requests[operation_name] += 1
            meter._add(response.get("ConsumedCapacity"), operation_name in _READ_OPS)
            return response

        BaseClient._make_api_call = counting  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            BaseClient._make_api_call = self._original  # type: ignore[method-assign]

    def _add(self, consumed: Any, read_op: bool = False) -> None:
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        with self._lock:
            for c in entries:
                write = c.get("WriteCapacityUnits")
                read = c.get("ReadCapacityUnits")
                if write is None and read is None:  # only a total: a read's for reads, else writes'
                    if read_op:
                        read = c.get("CapacityUnits", 0.0)
                    else:
                        write = c.get("CapacityUnits", 0.0)
                self.wcu += float(write or 0.0)
                self.rcu += float(read or 0.0)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

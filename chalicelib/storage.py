"""PynamoDB plumbing shared by every repository: the base model, table naming, the
transaction connection, bounded retries and the translation of storage faults.

Table names are bound at start-up from `Config` (`configure`), so the same models serve
DynamoDB Local, moto and every deployed stage. The local endpoint comes from
`AWS_ENDPOINT_URL_DYNAMODB`, honoured alike by boto3, Powertools and PynamoDB.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model

from chalicelib.config import Config
from chalicelib.errors import StorageUnavailable

T = TypeVar("T")


class BaseModel(Model):
    """Every table's model. `TABLE` is the base name; the stage prefix is added by `configure`."""

    TABLE = ""
    OWNS_TABLE = True  # False for a second item type stored in another model's table

    class Meta:
        table_name = "unconfigured"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"


class GuardModel(BaseModel):
    """Uniqueness and replay guards: one item per claimed key (nonces, unique external ids).

    `expires_at` is the TTL attribute; conditions compare it too, since TTL deletion is lazy.
    """

    TABLE = "guards"

    class Meta(BaseModel.Meta):
        pass

    key = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


_connection: Connection | None = None


def endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None


def configure(config: Config, models: Iterable[type[BaseModel]]) -> None:
    """Bind every model to this stage's table names, region and endpoint."""
    global _connection
    host = endpoint()
    for model in models:
        model.Meta.table_name = config.table_name(model.TABLE)
        model.Meta.region = config.region
        setattr(model.Meta, "host", host)  # noqa: B010 - PynamoDB reads it; not declared on Meta
        model._connection = None  # rebuilt lazily with the new settings
    _connection = Connection(region=config.region, host=host)


def connection() -> Connection:
    """The connection TransactWrite/TransactGet need (a model's Meta.host is not inherited)."""
    if _connection is None:
        raise RuntimeError("storage.configure() has not been called")
    return _connection


RETRYABLE_CODES = frozenset(
    {
        "TransactionConflictException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)


def error_code(exc: BaseException) -> str | None:
    """The DynamoDB error code behind a PynamoDB or botocore exception, if any."""
    if isinstance(exc, PynamoDBException):
        return exc.cause_response_code
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return None


def cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    """Per-item cancellation reason codes of a cancelled transaction (None = that item was fine)."""
    return [r.code if r is not None else None for r in (exc.cancellation_reasons or [])]


def is_transient(exc: BaseException) -> bool:
    code = error_code(exc)
    if code in RETRYABLE_CODES:
        return True
    if isinstance(exc, TransactWriteError):
        codes = cancellation_codes(exc)
        # Cancelled only by conflicts/throttling (no failed condition): safe to retry as is.
        return bool(codes) and all(c in (None, "TransactionConflict", "ThrottlingError",
                                          "ProvisionedThroughputExceeded") for c in codes) and any(codes)
    return isinstance(exc, BotoCoreError)


def with_retries(fn: Callable[[], T], *, attempts: int = 4, base_delay: float = 0.02) -> T:
    """Run `fn`, retrying transient storage faults with jittered backoff (PynamoDB does not
    retry TransactionConflict). Persistent faults become `StorageUnavailable` (5xx)."""
    for attempt in range(attempts):
        try:
            return fn()
        except (PynamoDBException, ClientError, BotoCoreError) as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts - 1:
                raise StorageUnavailable("storage is unavailable, retry later") from exc
            time.sleep(random.uniform(0, base_delay * (2**attempt)))
    raise AssertionError("unreachable")


def translate_storage_errors(exc: BaseException) -> StorageUnavailable | None:
    """Map an unexpected storage exception to the 5xx the contract asks for."""
    if isinstance(exc, (PynamoDBException, ClientError, BotoCoreError)):
        return StorageUnavailable("storage is unavailable, retry later")
    return None


def create_tables(models: Iterable[type[BaseModel]]) -> list[str]:
    """Create any missing table (local runs and tests; deployments use infra/)."""
    created = []
    for model in models:
        if model.OWNS_TABLE and not model.exists():
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
    return created


def item_attrs(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Plain values of a raw DynamoDB item (as found in cancellation reasons)."""
    if not raw:
        return {}
    from boto3.dynamodb.types import TypeDeserializer

    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in raw.items()}

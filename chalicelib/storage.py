"""PynamoDB plumbing shared by every repository: the base model, table naming, the
transaction connection, bounded retries and the translation of storage faults.

Table names are bound once at start-up from `Config` (`bind`), so the same models serve
DynamoDB Local, moto and every deployed stage. The local endpoint comes from
`AWS_ENDPOINT_URL_DYNAMODB`, honoured alike by boto3, Powertools and PynamoDB.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.config import Config
from chalicelib.errors import StorageUnavailable

T = TypeVar("T")


class BaseModel(Model):
    """Every table's model. `TABLE` is the base name; the stage prefix is added by `bind`."""

    TABLE = ""
    OWNS_TABLE = True  # False for a second item type stored in another model's table

    class Meta:
        table_name = "unconfigured"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"


class GuardModel(BaseModel):
    """Uniqueness and replay guards: one item per claimed key (nonces, unique external ids,
    idempotency keys). Shared plumbing like the connection: each area keys its guards with a
    prefix of its own (`nonce#`, `seller#`, `active_member#`, `idem#`) and no area reads another's.

    `expires_at` is the TTL attribute; conditions compare it too, since TTL deletion is lazy.
    """

    TABLE = "guards"

    class Meta(BaseModel.Meta):
        pass

    key = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


@dataclass(frozen=True)
class Binding:
    """Where the models live: table prefix, region and endpoint (None = AWS)."""

    table_prefix: str
    region: str
    host: str | None


_binding: Binding | None = None
_connection: Connection | None = None
_bind_lock = threading.Lock()


def endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None


def bind(config: Config, models: Iterable[type[BaseModel]], *, rebind: bool = False) -> Connection:
    """Bind every model to this stage's table names, region and endpoint, once per process.

    Binding again to the same place is a no-op; binding elsewhere is refused unless `rebind`
    says so (benchmarks that start a DynamoDB Local of their own), so building the composition
    root never silently moves another one's tables."""
    global _binding, _connection
    wanted = Binding(config.table_prefix, config.region, endpoint())
    with _bind_lock:
        if _binding == wanted and _connection is not None:
            return _connection
        if _binding is not None and not rebind:
            raise RuntimeError(f"tables are bound to {_binding}; refusing to rebind to {wanted}")
        for model in models:
            model.Meta.table_name = config.table_name(model.TABLE)
            model.Meta.region = wanted.region
            setattr(model.Meta, "host", wanted.host)  # noqa: B010 - PynamoDB reads it; not declared on Meta
            model._connection = None  # rebuilt lazily with the new settings
        _binding = wanted
        _connection = Connection(region=wanted.region, host=wanted.host)
        return _connection


def connection() -> Connection:
    """The bound connection (what TransactWrite needs; a model's Meta.host is not inherited)."""
    if _connection is None:
        raise RuntimeError("storage.bind() has not been called")
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


CONDITION_FAILED_EXCEPTION = "ConditionalCheckFailedException"


def _conditional(write: Callable[[], Any]) -> bool:
    try:
        with_retries(write)
        return True
    except PynamoDBException as exc:
        if error_code(exc) == CONDITION_FAILED_EXCEPTION:
            return False
        raise


def save_if(item: Model, condition: Any) -> bool:
    """Save `item` if `condition` holds: True if written, False if the condition failed."""
    return _conditional(lambda: item.save(condition=condition))


def update_if(item: Model, actions: list[Any], condition: Any) -> bool:
    """Update `item` if `condition` holds: True if written, False if the condition failed."""
    return _conditional(lambda: item.update(actions=actions, condition=condition))


def delete_if(item: Model, condition: Any) -> bool:
    """Delete `item` if `condition` holds: True if deleted, False if the condition failed."""
    return _conditional(lambda: item.delete(condition=condition))


def translate_storage_errors(exc: BaseException) -> StorageUnavailable | None:
    """Map an unexpected storage exception to the 5xx the contract asks for."""
    if isinstance(exc, (PynamoDBException, ClientError, BotoCoreError)):
        return StorageUnavailable("storage is unavailable, retry later")
    return None


def create_tables(models: Iterable[type[BaseModel]]) -> list[str]:
    """Create any missing table, and any missing global secondary index of an existing one
    (local runs and tests; deployments use infra/, where CloudFormation adds indexes): data kept
    by an older `make run` gets the indexes a newer model declares."""
    created = []
    for model in models:
        if not model.OWNS_TABLE:
            continue
        if not model.exists():
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
        else:
            created += [f"{model.Meta.table_name}.{name}" for name in add_missing_indexes(model)]
    return created


def add_missing_indexes(model: type[BaseModel], timeout: float = 120.0) -> list[str]:
    """Create the model's global secondary indexes the table lacks, one UpdateTable each (DynamoDB
    takes one index creation at a time), waiting until each is ACTIVE."""
    import boto3

    schema = model._get_schema()
    desc = model.describe_table()
    have = {i["IndexName"] for i in desc.get("GlobalSecondaryIndexes", [])}
    client = boto3.client("dynamodb", region_name=model.Meta.region, endpoint_url=getattr(model.Meta, "host", None))
    added = []
    for index in schema["global_secondary_indexes"]:
        if index["index_name"] in have:
            continue
        client.update_table(
            TableName=model.Meta.table_name, AttributeDefinitions=index["attribute_definitions"],
            GlobalSecondaryIndexUpdates=[{"Create": {
                "IndexName": index["index_name"], "Projection": index["projection"],
                "KeySchema": sorted(index["key_schema"], key=lambda k: k["KeyType"] != "HASH")}}])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            table = client.describe_table(TableName=model.Meta.table_name)["Table"]
            states = {i["IndexName"]: i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])}
            if table.get("TableStatus") == "ACTIVE" and states.get(index["index_name"]) == "ACTIVE":
                break
            time.sleep(0.2)
        added.append(index["index_name"])
    return added


def item_attrs(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Plain values of a raw DynamoDB item (as found in cancellation reasons)."""
    if not raw:
        return {}
    from boto3.dynamodb.types import TypeDeserializer

    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in raw.items()}


# ---------------------------------------------------------------- labelled transactions

CONDITION_FAILED = "ConditionalCheckFailed"


class Tx:
    """A TransactWrite whose items carry labels, so a cancellation says which condition failed.

    Areas contribute items to another area's transaction through this object (the payments
    transaction takes the memberships area's savings update and the onboarding area's nonce
    claim), so the atomicity stays while each area writes only its own tables. DynamoDB
    reports reasons in item order; PynamoDB sends condition checks, then deletes, then puts,
    then updates, and the labels are kept in that order."""

    def __init__(self, tx: TransactWrite) -> None:
        self._tx = tx
        self._checks: list[str] = []
        self._deletes: list[str] = []
        self._puts: list[str] = []
        self._updates: list[str] = []

    def check(self, label: str, model_cls: Any, hash_key: Any, condition: Any, range_key: Any = None) -> None:
        self._tx.condition_check(model_cls, hash_key, range_key=range_key, condition=condition)
        self._checks.append(label)

    def put(self, label: str, item: Any, condition: Any = None, return_old: bool = False) -> None:
        self._tx.save(item, condition=condition, return_values="ALL_OLD" if return_old else None)
        self._puts.append(label)

    def delete(self, label: str, item: Any, condition: Any = None) -> None:
        self._tx.delete(item, condition=condition)
        self._deletes.append(label)

    def update(self, label: str, item: Any, actions: list[Any], condition: Any = None) -> None:
        self._tx.update(item, actions=actions, condition=condition)
        self._updates.append(label)

    @property
    def labels(self) -> list[str]:
        return self._checks + self._deletes + self._puts + self._updates


@dataclass(frozen=True)
class TxResult:
    """A transaction's outcome: committed, or the labels whose condition failed (nothing
    written) with the old items DynamoDB returned for them (`return_old`)."""

    ok: bool
    failed: frozenset[str] = frozenset()
    old: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_transaction(conn: Connection, build: Callable[[Tx], None], *, token: str | None = None,
                    attempts: int = 4) -> TxResult:
    """Build and commit one transaction, retrying transient faults (same ClientRequestToken, so a
    retry of a commit that went through is not applied twice). A cancellation by failed
    conditions is a result, not an error; anything else persistent is `StorageUnavailable`."""

    def attempt() -> TxResult:
        holder: list[Tx] = []
        try:
            with TransactWrite(connection=conn, client_request_token=token) as raw:
                tx = Tx(raw)
                holder.append(tx)
                build(tx)
        except TransactWriteError as exc:
            failed: set[str] = set()
            old: dict[str, dict[str, Any]] = {}
            labels = holder[0].labels if holder else []
            for label, reason in zip(labels, exc.cancellation_reasons or [], strict=False):
                if reason is not None and reason.code == CONDITION_FAILED:
                    failed.add(label)
                    if reason.raw_item:
                        old[label] = reason.raw_item
            if not failed:
                raise
            return TxResult(False, frozenset(failed), old)
        return TxResult(True)

    return with_retries(attempt, attempts=attempts)

"""How the contest area plugs into the composition root (kept here so container.py stays small)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from chalicelib import storage
from chalicelib.contests.repository import ContestRepository, DynamoStateStore, RecordedFacts
from chalicelib.contests.service import ContestService

if TYPE_CHECKING:
    from chalicelib.container import Container

COUNTER_SHARDS = 32


def build_contests(container: Container) -> ContestService:
    service = ContestService(ContestRepository(storage.connection()), DynamoStateStore(storage.connection()),
                             RecordedFacts(), container.clock, container.config.tz, shards=COUNTER_SHARDS)
    if container.config.is_local and storage.endpoint():
        # Locally the stream is read by a poller, not by Lambda: drain it before auditing so the
        # audit compares settled counters, as it would after Lambda caught up.
        service.before_audit = lambda: local_stream_poller().drain()
    return service


def stream_table_names() -> list[str]:
    """Tables whose streams feed the contest counters (for the local poller)."""
    from chalicelib.memberships.models import MembershipModel
    from chalicelib.payments.models import PaymentModel

    return [PaymentModel.Meta.table_name, MembershipModel.Meta.table_name]


_pollers: dict[tuple[str, ...], Any] = {}
_pollers_lock = threading.Lock()


def deliver_to_handler(event: dict[str, Any]) -> Any:
    """What the deployed `contest_*_stream` functions do with a Lambda stream event."""
    from chalicelib.container import get_container

    return get_container().contests.handle_stream_event(event)


def local_stream_poller() -> Any:
    """The process-wide local stand-in for the stream event sources (one per endpoint and set of
    tables), delivering to the contest handler. `make run` does `local_stream_poller().start()`."""
    from chalicelib.container import get_container
    from chalicelib.contests.stream_poller import LocalStreamPoller

    tables = stream_table_names()
    key = (storage.endpoint() or "", *tables)
    with _pollers_lock:
        if key not in _pollers:
            _pollers[key] = LocalStreamPoller(tables, deliver_to_handler, endpoint=storage.endpoint(),
                                              region=get_container().config.region)
        return _pollers[key]


# ---------------------------------------------------------------- deployment (chalice package)

STREAM_HANDLERS = {
    # Chalice function logical id -> (its DynamoDB event's logical id, table base name)
    "ContestPaymentsStream": ("ContestPaymentsStreamDynamodbEventSource", "payments"),
    "ContestMembershipsStream": ("ContestMembershipsStreamDynamodbEventSource", "memberships"),
}


def merge_template_fragment(table_logical_id: Any) -> dict[str, Any]:
    """The part of `chalice package --merge-template` that points each contest stream function at
    its table's stream. `chalice package` emits a placeholder ARN (the table does not exist
    yet); the merge is deep and the merge file wins on leaves, so this replaces it with
    `{"Fn::GetAtt": [<table logical id>, "StreamArn"]}`. `table_logical_id(base_name)` is the
    id infra/ gives each table (e.g. "payments" -> "PaymentsTable")."""
    resources: dict[str, Any] = {}
    for function_id, (event_id, table) in STREAM_HANDLERS.items():
        arn = {"Fn::GetAtt": [table_logical_id(table), "StreamArn"]}
        resources[function_id] = {"Properties": {"Events": {event_id: {"Properties": {"Stream": arn}}}}}
    return {"Resources": resources}


def stream_policy_statement(table_logical_id: Any) -> dict[str, Any]:
    """IAM the stream functions need (autogen_policy is off, so the policy must list it)."""
    return {"Effect": "Allow",
            "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                       "dynamodb:ListStreams"],
            "Resource": [{"Fn::GetAtt": [table_logical_id(t), "StreamArn"]} for _, t in STREAM_HANDLERS.values()]}

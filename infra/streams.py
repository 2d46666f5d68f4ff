"""The DynamoDB stream event sources of the contest functions, as deployed.

`@on_dynamodb_record` needs a stream ARN at packaging time, before the tables exist, so the
functions in `chalicelib/api/contests.py` name a placeholder. `chalice package --merge-template`
deep-merges infra/resources.json over its output with the merge file winning on leaves: the
fragment below replaces each placeholder with `{"Fn::GetAtt": [<table>, "StreamArn"]}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TableLogicalId = Callable[[str], str]

STREAM_HANDLERS = {
    # Chalice function logical id -> (its DynamoDB event's logical id, table base name)
    "ContestPaymentsStream": ("ContestPaymentsStreamDynamodbEventSource", "payments"),
    "ContestMembershipsStream": ("ContestMembershipsStreamDynamodbEventSource", "memberships"),
}


def merge_template_fragment(table_logical_id: TableLogicalId) -> dict[str, Any]:
    """The part of the merge template that points each contest stream function at its table's
    stream. `table_logical_id(base_name)` is the id infra/ gives each table
    (e.g. "payments" -> "PaymentsTable")."""
    resources: dict[str, Any] = {}
    for function_id, (event_id, table) in STREAM_HANDLERS.items():
        arn = {"Fn::GetAtt": [table_logical_id(table), "StreamArn"]}
        resources[function_id] = {"Properties": {"Events": {event_id: {"Properties": {"Stream": arn}}}}}
    return {"Resources": resources}


def stream_policy_statement(table_logical_id: TableLogicalId) -> dict[str, Any]:
    """IAM the stream functions need (autogen_policy is off, so the policy must list it)."""
    return {"Effect": "Allow",
            "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                       "dynamodb:ListStreams"],
            "Resource": [{"Fn::GetAtt": [table_logical_id(t), "StreamArn"]} for _, t in STREAM_HANDLERS.values()]}

"""The merge-template fragment names the functions and events exactly as `chalice package` does."""

from __future__ import annotations

from chalice.utils import to_cfn_resource_name

import app as app_module
from infra.streams import STREAM_HANDLERS, merge_template_fragment


def test_stream_functions_are_registered_and_named_as_the_fragment_expects() -> None:
    for name in ("contest_payments_stream", "contest_memberships_stream"):
        assert name in app_module.app.handler_map
        function_id = to_cfn_resource_name(name)
        assert function_id in STREAM_HANDLERS
        assert STREAM_HANDLERS[function_id][0] == to_cfn_resource_name(f"{name}-dynamodb-event-source")
    frag = merge_template_fragment(lambda table: f"{table.capitalize()}Table")
    events = frag["Resources"]["ContestPaymentsStream"]["Properties"]["Events"]
    assert events["ContestPaymentsStreamDynamodbEventSource"]["Properties"]["Stream"] == {
        "Fn::GetAtt": ["PaymentsTable", "StreamArn"]}

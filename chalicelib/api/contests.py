"""Routes and stream handlers of the partner contest."""

from __future__ import annotations

import os
from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import Ctx, route
from chalicelib.container import get_container
from chalicelib.contests.schemas import CreateContest
from chalicelib.contests.wiring import deliver_to_handler

bp = Blueprint(__name__)

# The stream ARNs exist only once the tables are deployed: `chalice package` emits this
# placeholder and infra's merge template replaces it with {"Fn::GetAtt": [<table>, "StreamArn"]}
# (see docs/contests.md). An environment variable can also provide it at packaging time.
PAYMENTS_STREAM_ARN = os.environ.get(
    "YUNDIAN_PAYMENTS_STREAM_ARN", "arn:aws:dynamodb:us-east-1:000000000000:table/payments/stream/merge-template")
MEMBERSHIPS_STREAM_ARN = os.environ.get(
    "YUNDIAN_MEMBERSHIPS_STREAM_ARN",
    "arn:aws:dynamodb:us-east-1:000000000000:table/memberships/stream/merge-template")


@route(bp, "/v1/contests", "POST", roles=("admin",), body=CreateContest, status=201, tag="contests")
def create_contest(ctx: Ctx) -> dict[str, Any]:
    """Create a contest with its rounds, weights, rules and prizes."""
    return get_container().contests.create(ctx.who, ctx.body)


@route(bp, "/v1/contests/{contest_id}", "GET", roles=("admin", "partner"), tag="contests")
def get_contest(ctx: Ctx, contest_id: str) -> dict[str, Any]:
    """A contest with its round windows."""
    return get_container().contests.get(ctx.who, contest_id)


@route(bp, "/v1/contests/{contest_id}/leaderboard", "GET", roles=("admin", "partner"), tag="contests")
def leaderboard(ctx: Ctx, contest_id: str) -> dict[str, Any]:
    """The latest ranking snapshot of a round, or its settled result."""
    q = ctx.query
    return get_container().contests.leaderboard(ctx.who, contest_id, q.get("round"), q.get("limit"))


@route(bp, "/v1/contests/{contest_id}/rounds/{n}/settle", "POST", roles=("admin",), tag="contests")
def settle_round(ctx: Ctx, contest_id: str, n: str) -> dict[str, Any]:
    """Settle a round from the recorded payments; idempotent, frozen once settled."""
    return get_container().contests.settle(ctx.who, contest_id, n)


@route(bp, "/v1/partners/{partner_id}/standing", "GET", roles=("admin", "partner"), tag="contests")
def standing(ctx: Ctx, partner_id: str) -> dict[str, Any]:
    """A partner's rank, metrics, score and gap to the next rank up in a round."""
    q = ctx.query
    return get_container().contests.standing(ctx.who, partner_id, q.get("contest_id"), q.get("round"))


@bp.on_dynamodb_record(stream_arn=PAYMENTS_STREAM_ARN, name="contest_payments_stream", batch_size=100,
                       starting_position="TRIM_HORIZON", maximum_batching_window_in_seconds=1)
def contest_payments_stream(event: Any) -> dict[str, int]:
    return deliver_to_handler(event.to_dict())


@bp.on_dynamodb_record(stream_arn=MEMBERSHIPS_STREAM_ARN, name="contest_memberships_stream", batch_size=100,
                       starting_position="TRIM_HORIZON", maximum_batching_window_in_seconds=1)
def contest_memberships_stream(event: Any) -> dict[str, int]:
    return deliver_to_handler(event.to_dict())

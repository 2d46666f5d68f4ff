"""Routes and stream handlers of the partner contest."""

from __future__ import annotations

import os
from typing import Any

from chalicelib.api.routing import Ctx, Param, Router, limit_param
from chalicelib.contests.responses import Contest, ContestList, Leaderboard, SettledRound, Standing
from chalicelib.contests.schemas import MAX_ROUNDS, CreateContest

router = Router(__name__)
# Required: without it the service answers `422 missing_field`. Rounds are numbered from 1; one
# beyond the contest's last is `404 round_not_found`.
ROUND = Param("round", {"type": "integer", "minimum": 1, "maximum": MAX_ROUNDS}, required=True,
              description="the round (1 to the contest's number of rounds)")
CONTEST_ID = Param("contest_id", {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"},
                   required=True, description="the contest")

# The stream ARNs exist only once the tables are deployed: `chalice package` emits this
# placeholder and infra's merge template replaces it with {"Fn::GetAtt": [<table>, "StreamArn"]}
# (see docs/contests.md). An environment variable can also provide it at packaging time.
PAYMENTS_STREAM_ARN = os.environ.get(
    "YUNDIAN_PAYMENTS_STREAM_ARN", "arn:aws:dynamodb:us-east-1:000000000000:table/payments/stream/merge-template")
MEMBERSHIPS_STREAM_ARN = os.environ.get(
    "YUNDIAN_MEMBERSHIPS_STREAM_ARN",
    "arn:aws:dynamodb:us-east-1:000000000000:table/memberships/stream/merge-template")


@router.route("/v1/contests", "POST", roles=("admin",), body=CreateContest, status=201, tag="contests",
              response=Contest, errors=(409,))
def create_contest(ctx: Ctx) -> dict[str, Any]:
    """Create a contest with its rounds, weights, rules and prizes."""
    return ctx.services.contests.create(ctx.who, ctx.raw)


@router.route("/v1/contests", "GET", roles=("admin", "partner"), tag="contests", response=ContestList)
def list_contests(ctx: Ctx) -> dict[str, Any]:
    """Every contest, newest first, with its rounds and whether each is settled."""
    return ctx.services.contests.all_contests(ctx.who)


@router.route("/v1/contests/{contest_id}", "GET", roles=("admin", "partner"), tag="contests", response=Contest)
def get_contest(ctx: Ctx, contest_id: str) -> dict[str, Any]:
    """A contest with its round windows."""
    return ctx.services.contests.get(ctx.who, contest_id)


@router.route("/v1/contests/{contest_id}/leaderboard", "GET", roles=("admin", "partner"), tag="contests",
              query=(ROUND, limit_param(500)), response=Leaderboard)
def leaderboard(ctx: Ctx, contest_id: str) -> dict[str, Any]:
    """The latest ranking snapshot of a round, or its settled result."""
    q = ctx.query
    return ctx.services.contests.leaderboard(ctx.who, contest_id, q.get("round"), q.get("limit"))


@router.route("/v1/contests/{contest_id}/rounds/{n}/settle", "POST", roles=("admin",), tag="contests",
              response=SettledRound, errors=(409,))
def settle_round(ctx: Ctx, contest_id: str, n: str) -> dict[str, Any]:
    """Settle a round from the recorded payments; idempotent, frozen once settled."""
    return ctx.services.contests.settle(ctx.who, contest_id, n)


@router.route("/v1/partners/{partner_id}/standing", "GET", roles=("admin", "partner"), tag="contests",
              query=(CONTEST_ID, ROUND), response=Standing)
def standing(ctx: Ctx, partner_id: str) -> dict[str, Any]:
    """A partner's rank, metrics, score and gap to the next rank up in a round."""
    q = ctx.query
    return ctx.services.contests.standing(ctx.who, partner_id, q.get("contest_id"), q.get("round"))


@router.blueprint.on_dynamodb_record(stream_arn=PAYMENTS_STREAM_ARN, name="contest_payments_stream",
                                     batch_size=100, starting_position="TRIM_HORIZON",
                                     maximum_batching_window_in_seconds=1)
def contest_payments_stream(event: Any) -> dict[str, int]:
    return router.services.contests.handle_payment_stream(event.to_dict())


@router.blueprint.on_dynamodb_record(stream_arn=MEMBERSHIPS_STREAM_ARN, name="contest_memberships_stream",
                                     batch_size=100, starting_position="TRIM_HORIZON",
                                     maximum_batching_window_in_seconds=1)
def contest_memberships_stream(event: Any) -> dict[str, int]:
    return router.services.contests.handle_membership_stream(event.to_dict())

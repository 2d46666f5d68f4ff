"""What the contest endpoints answer, as the OpenAPI document declares it (`response=` on the
routes). The services build these bodies as dicts (`documents.public_contest`, `ContestService`);
these models only describe them, so a client generated from the document reads them right."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict, SkipJsonSchema

from chalicelib.contests.schemas import MAX_ROUNDS

Count = Annotated[int, Field(ge=0)]
Rank = Annotated[int, Field(ge=1)]
Round = Annotated[int, Field(ge=1, le=MAX_ROUNDS)]
Number = Annotated[float, Field(ge=0)]  # an integer when whole (`domain.number`), else a float
PrizeValue = str | int | float


def _no_default(schema: JsonDict) -> None:
    """A field that is absent, never null: its schema names no `default: null`."""
    schema.pop("default", None)


def _only_when_final(schema: JsonDict) -> None:
    schema["if"] = {"properties": {"final": {"const": True}}}
    schema["then"] = {"required": ["settled_at", "winners"]}
    schema["else"] = {"not": {"anyOf": [{"required": ["settled_at"]}, {"required": ["winners"]}]}}


class ScoreWeights(BaseModel):
    """The weight of each metric in the score (score = Σ weight × metric)."""

    merchants_onboarded: Number
    active_merchants: Number
    gmv_yuan: Number
    new_members: Number


class CountingRules(BaseModel):
    """Which payments count, defaults filled in."""

    active_merchant_min_payments: Annotated[int, Field(ge=1)]
    min_payment_fen: Annotated[int, Field(ge=0)]
    max_counted_payments_per_buyer_per_merchant_per_day: Annotated[int, Field(ge=1)]
    require_platform_confirmation: bool = Field(
        description="only payments a platform confirmed count (false for contests created before revision 2)")


class PrizeTier(BaseModel):
    """A prize for the ranks rank_from..rank_to (inclusive)."""

    rank_from: Rank
    rank_to: Rank
    prize: PrizeValue = Field(description="as the admin gave it: a text or a number")


class RoundWindow(BaseModel):
    """A round: [starts_at, ends_at)."""

    round: Round
    starts_at: datetime
    ends_at: datetime
    settled: bool = Field(description="the round has a final (settled) result")


class Contest(BaseModel):
    """A contest as created, with its round windows."""

    contest_id: str
    name: str
    starts_at: datetime
    ends_at: datetime = Field(description="the end of the last round")
    round_days: Annotated[int, Field(ge=1, le=31)]
    weights: ScoreWeights
    rules: CountingRules
    prizes: list[PrizeTier]
    created_at: datetime | None = Field(description="null only for a contest stored without it")
    created_by: str | None = Field(description="the admin who created it (null only for a contest stored without it)")
    rounds: list[RoundWindow]


class ContestList(BaseModel):
    """Every contest, newest first."""

    contests: list[Contest]


class PartnerMetrics(BaseModel):
    """A partner's metrics in a round, from its counted payments and memberships."""

    merchants_onboarded: Count
    active_merchants: Count
    gmv_yuan: Number = Field(description="counted payments net of refunds, in yuan")
    new_members: Count
    gmv_fen: Count = Field(description="the same as gmv_yuan, in fen")
    counted_payments: Count


class BoardEntry(BaseModel):
    """A partner's place on a board."""

    rank: Rank
    partner_id: str
    name: str = Field(description="the partner's name")
    score: Number
    metrics: PartnerMetrics


class Winner(BaseModel):
    """An entry whose rank lies in a prize's range."""

    rank: Rank
    partner_id: str
    prize: PrizeValue


class Leaderboard(BaseModel):
    """A round's latest ranking snapshot, or its settled result once `final` (then with
    `settled_at` and `winners`)."""

    model_config = ConfigDict(json_schema_extra=_only_when_final)

    contest_id: str
    round: Round
    as_of: datetime | None = Field(description="when the board was ranked; null before the first ranking")
    final: bool = Field(description="the round is settled: this is its frozen result")
    entries: list[BoardEntry]
    settled_at: datetime | SkipJsonSchema[None] = Field(
        default=None, description="when the round was settled (only when final)", json_schema_extra=_no_default)
    winners: list[Winner] | SkipJsonSchema[None] = Field(
        default=None, description="the entries that won a prize (only when final)", json_schema_extra=_no_default)


class SettledRound(BaseModel):
    """A round's settled result, computed once from the recorded payments and frozen."""

    contest_id: str
    round: Round
    final: Literal[True]
    settled_at: datetime
    as_of: datetime | None
    entries: list[BoardEntry]
    winners: list[Winner]


class Standing(BaseModel):
    """A partner's place in a round's board and its gap to the next rank up."""

    contest_id: str
    round: Round
    partner_id: str
    as_of: datetime | None = Field(description="when the board was ranked; null before the first ranking")
    final: bool = Field(description="the board is the round's settled result")
    participants: Count = Field(description="entries on the board")
    rank: Rank | None = Field(description="null when the partner is not on the board")
    score: Number
    metrics: PartnerMetrics
    next_rank: Rank | None = Field(description="the rank above the partner's (null at the top or on an empty board)")
    gap_to_next_rank: Number | None = Field(description="the score the partner lacks to reach next_rank")

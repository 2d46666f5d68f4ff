"""Request bodies of the contest endpoints."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from chalicelib.schemas import Body, Name, Timestamp

MAX_ROUNDS = 52  # a contest's rounds (the contract's 1..52); no round number beyond it can exist
Weight = Annotated[int, Field(ge=0, le=10**9)] | Annotated[float, Field(ge=0, le=10**9, allow_inf_nan=False)]


class ContestWeights(Body):
    merchants_onboarded: Weight
    active_merchants: Weight
    gmv_yuan: Weight
    new_members: Weight


class ContestRules(Body):
    active_merchant_min_payments: Annotated[int, Field(ge=1, le=10**6)] = 10
    min_payment_fen: Annotated[int, Field(ge=0, le=10**9)] = 100
    max_counted_payments_per_buyer_per_merchant_per_day: Annotated[int, Field(ge=1, le=1000)] = 3
    require_platform_confirmation: bool = True  # revision 2: only platform-confirmed payments count


class ContestPrize(Body):
    rank_from: Annotated[int, Field(ge=1, le=10**6)]
    rank_to: Annotated[int, Field(ge=1, le=10**6)]
    # a finite number (NaN/Infinity would make every answer carrying it invalid JSON) or a text
    prize: Annotated[str, Field(min_length=1, max_length=256)] | int | Annotated[float, Field(allow_inf_nan=False)]

    @model_validator(mode="after")
    def _ordered(self) -> ContestPrize:
        if self.rank_from > self.rank_to:
            raise ValueError("rank_from must not exceed rank_to")
        return self


class CreateContest(Body):
    name: Name
    starts_at: Timestamp
    round_days: Annotated[int, Field(ge=1, le=31)]
    rounds: Annotated[int, Field(ge=1, le=MAX_ROUNDS)]
    weights: ContestWeights
    rules: ContestRules | None = None
    prizes: Annotated[list[ContestPrize], Field(max_length=100)] | None = None

"""PynamoDB models of the contest area.

- `contests`: contest definitions (pk `CONTESTS`, sk contest id), ranking snapshots and settled
  results (a head item per round plus pages) and the registry of partners with counters in a
  round.
- `contest_state`: stream-derived working state with optimistic versions: per (contest,
  merchant, buyer, day) buckets of the earliest counted payments, per (contest, merchant) first
  counted payment, per (contest, round, merchant) counted-payment counts, membership guards.
- `contest_counters`: write-sharded metric counters per (contest, round, partner, shard),
  updated with ADD deltas.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.storage import BaseModel


class ContestModel(BaseModel):
    TABLE = "contests"

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = UnicodeAttribute(null=True)  # JSON document
    as_of = UnicodeAttribute(null=True)  # snapshot heads: ISO time of the ranking
    version = UnicodeAttribute(null=True)  # board heads: which pages are current
    pages = NumberAttribute(null=True)


class ContestStateModel(BaseModel):
    TABLE = "contest_state"

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(default=0)
    data = UnicodeAttribute(null=True)  # JSON document


class ContestCounterModel(BaseModel):
    TABLE = "contest_counters"

    class Meta(BaseModel.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # contest#round#partner#shard
    contest_id = UnicodeAttribute(null=True)
    round = NumberAttribute(null=True)
    partner_id = UnicodeAttribute(null=True)
    shard = NumberAttribute(null=True)
    merchants_onboarded = NumberAttribute(default=0)
    active_merchants = NumberAttribute(default=0)
    gmv_fen = NumberAttribute(default=0)
    new_members = NumberAttribute(default=0)
    counted_payments = NumberAttribute(default=0)


MODELS: list[type[BaseModel]] = [ContestModel, ContestStateModel, ContestCounterModel]

"""A contest as a JSON document: as stored (`contest_doc` / `contest_from_doc`) and as the API
shows it (`public_contest`, with its round windows and its rules, defaults filled in). A stored
contest whose rules lack a rule added later reads back with what it meant when it was created
(`domain.REVISION_1_RULES`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.clock import iso
from chalicelib.contests import domain
from chalicelib.contests.domain import REVISION_1_RULES, Contest, Prize, Rules, Weights


def contest_doc(c: Contest) -> dict[str, Any]:
    return {
        "contest_id": c.contest_id,
        "name": c.name,
        "starts_at": iso(c.starts_at),
        "ends_at": iso(c.ends_at),
        "round_days": c.round_days,
        "rounds_count": c.rounds,
        "weights": {k: domain.number(v) for k, v in asdict(c.weights).items()},
        "rules": asdict(c.rules),
        "prizes": [asdict(p) for p in c.prizes],
        "created_at": iso(c.created_at) if c.created_at else None,
        "created_by": c.created_by,
    }


def contest_from_doc(d: dict[str, Any]) -> Contest:
    return Contest(
        contest_id=d["contest_id"], name=d["name"], starts_at=datetime.fromisoformat(d["starts_at"]),
        round_days=int(d["round_days"]), rounds=int(d["rounds_count"]),
        weights=Weights(**{k: Decimal(str(v)) for k, v in d["weights"].items()}),
        rules=Rules(**{**REVISION_1_RULES, **d["rules"]}), prizes=tuple(Prize(**p) for p in d.get("prizes", [])),
        created_at=datetime.fromisoformat(d["created_at"]) if d.get("created_at") else None,
        created_by=d.get("created_by"),
    )


def public_contest(c: Contest, settled: Collection[int] = ()) -> dict[str, Any]:
    """The contest as the API shows it; `settled` are the rounds with a final result."""
    doc = contest_doc(c)
    doc.pop("rounds_count")
    doc["rounds"] = [{"round": w.round, "starts_at": iso(w.starts_at), "ends_at": iso(w.ends_at),
                      "settled": w.round in settled} for w in c.windows()]
    return doc

"""Contest benchmark: the ranking job for 1,000 and 10,000 partners whose counters are already
written (seconds and DynamoDB reads), and the write cost per payment of the stream path, for a
contest with each value of `require_platform_confirmation`.

Run: `python -m bench.contests [--partners 1000 10000] [--payments 300]` (starts DynamoDB Local
unless AWS_ENDPOINT_URL_DYNAMODB points at one). `run(report)` is the hook for `python -m bench`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pynamodb.connection.base import Connection as BaseConnection

os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count DynamoDB calls and the items they read or write (PynamoDB's one dispatch point)."""
    calls: Counter[str] = Counter()
    original = BaseConnection._make_api_call

    def wrapped(self: Any, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        calls[operation_name] += 1
        if operation_name == "BatchGetItem":
            calls["items_read"] += sum(len(v["Keys"]) for v in operation_kwargs["RequestItems"].values())
        elif operation_name == "TransactWriteItems":
            calls["items_written"] += len(operation_kwargs["TransactItems"])
        result = original(self, operation_name, operation_kwargs)
        if operation_name in ("Query", "Scan"):
            calls["items_read"] += int(result.get("Count", 0))
        elif operation_name == "GetItem":
            calls["items_read"] += 1
        elif operation_name in ("PutItem", "UpdateItem"):
            calls["items_written"] += 1
        return result

    BaseConnection._make_api_call = wrapped  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseConnection._make_api_call = original  # type: ignore[method-assign]


def setup() -> tuple[Any, Callable[[], None]]:
    from chalicelib.bootstrap import bootstrap
    from chalicelib.clock import FixedClock
    from chalicelib.config import Config
    from chalicelib.storage import create_tables
    from chalicelib.tables import ALL_MODELS

    stop: Callable[[], None] = lambda: None  # noqa: E731
    if not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
        from scripts.dynamodb_local import start

        handle = start()
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = handle.endpoint
        stop = handle.stop
    config = Config.from_env({"YUNDIAN_STAGE": "local", "YUNDIAN_TABLE_PREFIX": f"bench{int(time.time())}-",
                              "AWS_DEFAULT_REGION": "us-east-1"})
    services = bootstrap(config, clock=FixedClock(datetime.now(UTC)), rebind_tables=True)
    create_tables(ALL_MODELS)
    return services, stop


def make_contest(svc: Any, start: datetime, rounds: int = 1, confirmation: bool = False) -> Any:
    """A contest; `confirmation` is its `require_platform_confirmation` rule."""
    from chalicelib.contests.documents import contest_doc
    from chalicelib.contests.domain import Contest, Rules, Weights
    from chalicelib.ids import new_id

    c = Contest(new_id("cst"), "bench", start, 7, rounds,
                Weights(Decimal(10), Decimal(5), Decimal("0.5"), Decimal(2)),
                Rules(require_platform_confirmation=confirmation), (), start, "bench")
    svc.repo.add_contest(c.contest_id, contest_doc(c))
    svc.catalog.invalidate()
    return c


def bench_ranking(services: Any, partners: int, shards_per_partner: int = 2) -> dict[str, Any]:
    """Partners whose counters exist (written as the stream path would), then one ranking."""
    from chalicelib.contests.models import ContestCounterModel, ContestModel
    from chalicelib.contests.ports import CounterKey
    from chalicelib.onboarding.models import PartnerModel

    svc = services.contests
    now = services.clock.now()
    contest = make_contest(svc, now - timedelta(days=1))
    rng = random.Random(partners)
    t0 = time.perf_counter()
    with PartnerModel.batch_write() as pw, ContestCounterModel.batch_write() as cw, \
            ContestModel.batch_write() as rw:
        for i in range(partners):
            pid = f"ptn_bench_{partners}_{i:06d}"
            pw.save(PartnerModel(pid, name=f"Partner {i}", created_at=now))
            for shard in rng.sample(range(svc.shards), shards_per_partner):
                key = CounterKey(contest.contest_id, 1, pid, shard)
                cw.save(ContestCounterModel(key.pk, contest_id=key.contest_id, round=1, partner_id=pid, shard=shard,
                                            merchants_onboarded=rng.randint(0, 5), active_merchants=rng.randint(0, 5),
                                            gmv_fen=rng.randint(0, 10**7), new_members=rng.randint(0, 50),
                                            counted_payments=rng.randint(1, 1000)))
                rw.save(ContestModel(f"REG#{contest.contest_id}#1", f"{pid}#{shard:03d}"))
    setup_s = time.perf_counter() - t0
    with counting() as calls:
        t1 = time.perf_counter()
        result = svc.rank_round(contest, 1, now)
        seconds = time.perf_counter() - t1
    return {"partners": partners, "counter_items": partners * shards_per_partner, "entries": result["entries"],
            "seconds": round(seconds, 2), "setup_seconds": round(setup_s, 1), "calls": dict(calls)}


def bench_writes(services: Any, payments: int, confirmation: bool = False,
                 confirmations: bool = False) -> dict[str, Any]:
    """The stream path's cost per payment: one large partner, 50 merchants, repeat buyers.

    `confirmation`: the contest's `require_platform_confirmation` rule. `confirmations`: each
    payment reaches the stream twice, as the terminal's report (INSERT, unconfirmed) and then as
    its platform confirmation (MODIFY, a few seconds later); otherwise once, as recorded (the
    terminal-only traffic of revision 1). Figures are per payment, over all its records."""
    from dataclasses import replace

    from chalicelib.contests.domain import PaymentFact

    svc = services.contests
    now = services.clock.now()
    contest = make_contest(svc, now - timedelta(days=1), confirmation=confirmation)
    rng = random.Random(1)
    facts = [PaymentFact(f"mch_b{rng.randrange(50)}", "ptn_big", f"o{i}", f"u{rng.randrange(200)}",
                         rng.choice([50, 500, 1500, 8000]), now - timedelta(minutes=rng.randrange(600)))
             for i in range(payments)]
    records = []
    for f in facts:
        records.append(f)
        if confirmations:
            records.append(replace(f, confirmed=True, platform_paid_at=f.paid_at + timedelta(seconds=3),
                                   platform_amount_fen=f.amount_fen))
    with counting() as calls:
        t0 = time.perf_counter()
        for r in records:
            svc.aggregator.apply_payment(r, [contest])
        seconds = time.perf_counter() - t0
    tx = calls["TransactWriteItems"]
    written = calls["items_written"]
    return {"payments": payments, "stream_records": len(records), "require_platform_confirmation": confirmation,
            "seconds": round(seconds, 2), "calls": dict(calls),
            "transactions_per_payment": round(tx / payments, 2),
            # every item of a transaction, condition checks included
            "items_written_per_payment": round(written / payments, 2),
            # transactional items ≤ 1 KB cost 2 WCU each (counted so for condition checks too, the
            # conservative reading); registry puts are 1 WCU, once per process and shard
            "wcu_per_payment": round((2 * (written - calls["PutItem"]) + calls["PutItem"]) / payments, 2),
            "consistent_reads_per_payment": round(calls["BatchGetItem"] / payments, 2)}


WRITE_CASES = (  # (label, require_platform_confirmation, payments confirmed on the stream)
    ("revision-1 contest, terminal reports only", False, False),
    ("revision-1 contest, reports + confirmations", False, True),
    ("confirmed-only contest, reports + confirmations", True, True),
)


def run(report: Callable[[str, dict[str, Any]], None] | None = None, partners: tuple[int, ...] = (1000, 10000),
        payments: int = 300) -> list[dict[str, Any]]:
    out = report or (lambda name, data: print(name, data, flush=True))
    services, stop = setup()
    results = []
    try:
        for n in partners:
            r = bench_ranking(services, n)
            out(f"contests.rank {n} partners", r)
            results.append(r)
        for label, confirmation, confirmations in WRITE_CASES:
            w = bench_writes(services, payments, confirmation, confirmations)
            out(f"contests.write_path ({label})", w)
            results.append(w)
    finally:
        stop()
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--partners", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--payments", type=int, default=300)
    args = ap.parse_args(argv)
    run(partners=tuple(args.partners), payments=args.payments)
    return 0


if __name__ == "__main__":
    sys.exit(main())

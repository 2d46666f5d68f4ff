"""The contest area's DynamoDB adapters: `DynamoStateStore` (tables `contest_state` and
`contest_counters`) and `DynamoContestRepository` (table `contests`)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.connection import Connection
from pynamodb.expressions.update import Action

from chalicelib.contests.domain import Metrics
from chalicelib.contests.models import ContestCounterModel, ContestModel, ContestStateModel
from chalicelib.contests.ports import Board, Commit, CounterKey, Row, chunks, pages_needed, pages_of
from chalicelib.errors import Conflict
from chalicelib.storage import Tx, run_transaction, save_if, with_retries

BATCH_GET_MAX = 100  # keys per BatchGetItem


def _metrics_of(m: ContestCounterModel) -> Metrics:
    return Metrics(int(m.merchants_onboarded or 0), int(m.active_merchants or 0), int(m.gmv_fen or 0),
                   int(m.new_members or 0), int(m.counted_payments or 0))


class DynamoStateStore:
    """Versioned state rows and ADD-updated counter shards, committed in one transaction."""

    def __init__(self, connection: Connection, workers: int = 8) -> None:
        self._conn = connection
        self._workers = workers

    def read(self, keys: Iterable[str]) -> dict[str, Row]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}

        def get() -> dict[str, Row]:
            return {m.pk: Row(int(m.version or 0), json.loads(m.data or "{}"))
                    for m in ContestStateModel.batch_get(wanted, consistent_read=True)}

        return with_retries(get)

    def commit(self, commit: Commit) -> bool:
        if commit.empty:
            return True

        def build(tx: Tx) -> None:
            for c in commit.checks:
                cond = (ContestStateModel.pk.does_not_exist() if c.expected is None
                        else ContestStateModel.version == c.expected)
                tx.check(f"check:{c.key}", ContestStateModel, c.key, cond)
            for p in commit.puts:
                cond = (ContestStateModel.pk.does_not_exist() if p.expected is None
                        else ContestStateModel.version == p.expected)
                tx.put(f"state:{p.key}", ContestStateModel(p.key, version=p.version, data=json.dumps(p.data)),
                       condition=cond)
            for key, deltas in commit.adds.items():
                actions: list[Action] = [
                    ContestCounterModel.contest_id.set(key.contest_id),
                    ContestCounterModel.round.set(key.round),
                    ContestCounterModel.partner_id.set(key.partner_id),
                    ContestCounterModel.shard.set(key.shard),
                ]
                actions += [getattr(ContestCounterModel, name).add(d) for name, d in deltas.items() if d]
                tx.update(f"counter:{key.pk}", ContestCounterModel(key.pk), actions=actions)

        return run_transaction(self._conn, build).ok

    def counters(self, contest_id: str, round_no: int, shards: dict[str, list[int]]) -> dict[str, Metrics]:
        keys = [CounterKey(contest_id, round_no, pid, s).pk for pid, ss in shards.items() for s in ss]

        def get(chunk: list[str]) -> list[ContestCounterModel]:
            return with_retries(lambda: list(ContestCounterModel.batch_get(chunk)))

        out: dict[str, Metrics] = {}
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            for models in pool.map(get, list(chunks(keys, BATCH_GET_MAX))):
                for m in models:
                    out.setdefault(str(m.partner_id), Metrics()).add(_metrics_of(m))
        return out

    def all_counters(self) -> dict[tuple[str, int, str], Metrics]:
        out: dict[tuple[str, int, str], Metrics] = {}
        for m in with_retries(lambda: list(ContestCounterModel.scan())):
            key = (str(m.contest_id), int(m.round or 0), str(m.partner_id))
            out.setdefault(key, Metrics()).add(_metrics_of(m))
        return out


# ---------------------------------------------------------------- contests, boards, shard registry

CATALOG = "CONTESTS"


def _head_pk(contest_id: str) -> str:
    return f"C#{contest_id}"


def _head_sk(round_no: int, kind: str) -> str:
    return f"R#{round_no:03d}#{kind}"


def _pages_pk(contest_id: str, round_no: int, version: str) -> str:
    return f"P#{contest_id}#{round_no}#{version}"


def _registry_pk(contest_id: str, round_no: int) -> str:
    return f"REG#{contest_id}#{round_no}"


class DynamoContestRepository:
    """Contest documents, board heads and pages, and the shard registry in the `contests` table."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    # -- definitions
    def add_contest(self, contest_id: str, doc: dict[str, Any]) -> None:
        item = ContestModel(CATALOG, contest_id, data=json.dumps(doc))
        if not save_if(item, ContestModel.pk.does_not_exist()):
            raise Conflict(f"contest {contest_id} exists", code="contest_exists")

    def get_contest(self, contest_id: str) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            for m in ContestModel.query(CATALOG, ContestModel.sk == contest_id, consistent_read=True):
                return dict(json.loads(m.data or "{}"))
            return None

        return with_retries(get)

    def list_contests(self) -> list[dict[str, Any]]:
        return with_retries(lambda: [json.loads(m.data or "{}") for m in ContestModel.query(CATALOG)])

    def settled_rounds(self, contest_id: str) -> set[int]:
        """One Query of the contest's board heads (`R#<round>#<kind>`, keys only)."""
        def query() -> set[int]:
            return {int(m.sk.split("#")[1]) for m in ContestModel.query(
                _head_pk(contest_id), ContestModel.sk.startswith("R#"), consistent_read=True,
                attributes_to_get=["pk", "sk"]) if m.sk.endswith("#final")}

        return with_retries(query)

    # -- boards (snapshot: replaced by newer rankings; final: written once)
    def write_pages(self, contest_id: str, round_no: int, version: str, entries: list[dict[str, Any]]) -> int:
        pk = _pages_pk(contest_id, round_no, version)
        pages = pages_of(entries)

        def write() -> None:
            with ContestModel.batch_write() as batch:
                for i, page in enumerate(pages):
                    batch.save(ContestModel(pk, f"{i:05d}", data=json.dumps(page)))

        if pages:
            with_retries(write)
        return len(pages)

    def put_snapshot_head(self, contest_id: str, round_no: int, version: str, pages: int,
                          meta: dict[str, Any]) -> bool:
        as_of = str(meta["as_of"])
        item = ContestModel(_head_pk(contest_id), _head_sk(round_no, "snapshot"), data=json.dumps(meta),
                            as_of=as_of, version=version, pages=pages)
        return save_if(item, ContestModel.as_of.does_not_exist() | (ContestModel.as_of < as_of))

    def put_final_head(self, contest_id: str, round_no: int, version: str, pages: int,
                       meta: dict[str, Any]) -> bool:
        item = ContestModel(_head_pk(contest_id), _head_sk(round_no, "final"), data=json.dumps(meta),
                            version=version, pages=pages)
        return save_if(item, ContestModel.pk.does_not_exist())

    def get_board(self, contest_id: str, round_no: int, kind: str) -> Board | None:
        def get() -> Board | None:
            for m in ContestModel.query(_head_pk(contest_id), ContestModel.sk == _head_sk(round_no, kind),
                                        consistent_read=True):
                return Board(kind, json.loads(m.data or "{}"), str(m.version), int(m.pages or 0))
            return None

        return with_retries(get)

    def board_entries(self, contest_id: str, round_no: int, board: Board,
                      limit: int | None = None) -> list[dict[str, Any]]:
        pages = pages_needed(board, limit)
        if pages == 0:
            return []

        def get() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for m in ContestModel.query(_pages_pk(contest_id, round_no, board.version), limit=pages):
                out.extend(json.loads(m.data or "[]"))
            return out

        entries = with_retries(get)
        return entries if limit is None else entries[:limit]

    # -- which counter shards exist in a round (written once per process and shard by the stream
    #    path, before the shard's first write): the ranking reads exactly those
    def register_shard(self, contest_id: str, round_no: int, partner_id: str, shard: int) -> None:
        with_retries(ContestModel(_registry_pk(contest_id, round_no), f"{partner_id}#{shard:03d}").save)

    def registered_shards(self, contest_id: str, round_no: int) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for m in with_retries(lambda: list(ContestModel.query(_registry_pk(contest_id, round_no)))):
            pid, _, shard = m.sk.rpartition("#")
            out[pid].append(int(shard))
        return dict(out)

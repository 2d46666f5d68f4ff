"""One contract for the contest area's storage ports, run against the in-memory fakes (what the
unit tests use) and the DynamoDB adapters on DynamoDB Local, so the two cannot drift."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import storage
from chalicelib.config import Config
from chalicelib.contests.domain import Metrics
from chalicelib.contests.dynamo import DynamoContestRepository, DynamoStateStore
from chalicelib.contests.ports import PAGE_SIZE, Check, Commit, ContestRepository, CounterKey, Put, StateStore
from chalicelib.errors import Conflict
from chalicelib.ids import new_id
from chalicelib.tables import ALL_MODELS
from tests.fakes.contests import InMemoryContestRepository, InMemoryStateStore


def _connection(request: pytest.FixtureRequest) -> Any:
    config: Config = request.getfixturevalue("test_config")
    return storage.bind(config, ALL_MODELS)  # already bound by the fixture: returns its connection


@pytest.fixture(params=["fake", "dynamodb"])
def state(request: pytest.FixtureRequest) -> StateStore:
    if request.param == "fake":
        return InMemoryStateStore()
    return DynamoStateStore(_connection(request))


@pytest.fixture(params=["fake", "dynamodb"])
def repo(request: pytest.FixtureRequest) -> ContestRepository:
    if request.param == "fake":
        return InMemoryContestRepository()
    return DynamoContestRepository(_connection(request))


# ---------------------------------------------------------------- state store


def test_versioned_puts(state: StateStore) -> None:
    k1, k2 = new_id("B"), new_id("F")
    assert state.read([k1, k2]) == {}
    assert state.read([]) == {}
    assert state.commit(Commit(puts=[Put(k1, None, {"slots": [{"o": "a", "a": 100}]})]))
    row = state.read([k1, k2])[k1]
    assert (row.version, row.data) == (1, {"slots": [{"o": "a", "a": 100}]})
    assert state.commit(Commit(puts=[Put(k1, 1, {"slots": []}), Put(k2, None, {"t": "x", "o": "b"})]))
    rows = state.read(iter([k1, k2, k1]))
    assert {k: (r.version, r.data) for k, r in rows.items()} == {k1: (2, {"slots": []}), k2: (1, {"t": "x", "o": "b"})}


def test_empty_commit_is_a_success_that_writes_nothing(state: StateStore) -> None:
    cid = new_id("cst")
    commit = Commit()
    commit.add(CounterKey(cid, 1, "p", 0), "gmv_fen", 0)
    assert commit.empty
    assert state.commit(commit)
    assert state.counters(cid, 1, {"p": [0]}) == {}


def test_commit_writes_rows_and_counter_deltas_together(state: StateStore) -> None:
    cid, key = new_id("cst"), new_id("G")
    commit = Commit(puts=[Put(key, None, {})])
    commit.add(CounterKey(cid, 1, "p1", 3), "new_members", 1)
    commit.add(CounterKey(cid, 1, "p1", 3), "gmv_fen", 500)
    commit.add(CounterKey(cid, 1, "p1", 3), "gmv_fen", 250)
    assert state.commit(commit)
    assert state.read([key])[key].version == 1
    assert state.counters(cid, 1, {"p1": [3]}) == {"p1": Metrics(new_members=1, gmv_fen=750)}

    again = Commit()
    again.add(CounterKey(cid, 1, "p1", 3), "gmv_fen", -100)
    again.add(CounterKey(cid, 1, "p1", 3), "counted_payments", 2)
    assert state.commit(again)
    assert state.counters(cid, 1, {"p1": [3]}) == {"p1": Metrics(new_members=1, gmv_fen=650, counted_payments=2)}


@pytest.mark.parametrize("stale", ["taken", "moved", "gone"])
def test_a_moved_version_fails_the_commit_and_writes_nothing(state: StateStore, stale: str) -> None:
    cid, fine, contested = new_id("cst"), new_id("M"), new_id("B")
    if stale != "gone":
        assert state.commit(Commit(puts=[Put(contested, None, {"n": 1})]))
    if stale == "moved":
        assert state.commit(Commit(puts=[Put(contested, 1, {"n": 2})]))
    expected = {"taken": None, "moved": 1, "gone": 1}[stale]
    commit = Commit(puts=[Put(fine, None, {"n": 9}), Put(contested, expected, {"n": 99})])
    commit.add(CounterKey(cid, 1, "p1", 0), "counted_payments", 1)
    assert state.commit(commit) is False
    rows = state.read([fine, contested])
    assert fine not in rows
    if stale == "gone":
        assert contested not in rows
    else:
        assert rows[contested].data == {"n": 2 if stale == "moved" else 1}
    assert state.counters(cid, 1, {"p1": [0]}) == {}


@pytest.mark.parametrize("case", ["unchanged", "still_absent", "moved", "appeared"])
def test_checked_rows_condition_the_commit_without_being_written(state: StateStore, case: str) -> None:
    cid, written, checked = new_id("cst"), new_id("B"), new_id("F")
    if case != "still_absent":
        assert state.commit(Commit(puts=[Put(checked, None, {"t": "x", "o": "a"})]))
    if case == "moved":
        assert state.commit(Commit(puts=[Put(checked, 1, {"t": "w", "o": "z"})]))
    expected = {"unchanged": 1, "still_absent": None, "moved": 1, "appeared": None}[case]
    commit = Commit(puts=[Put(written, None, {"n": 1})], checks=[Check(checked, expected)])
    commit.add(CounterKey(cid, 1, "p1", 0), "merchants_onboarded", 1)
    ok = case in ("unchanged", "still_absent")
    assert state.commit(commit) is ok
    rows = state.read([written, checked])
    assert (written in rows) is ok
    assert state.counters(cid, 1, {"p1": [0]}) == ({"p1": Metrics(merchants_onboarded=1)} if ok else {})
    if case == "still_absent":
        assert checked not in rows  # a check writes nothing
    else:
        assert rows[checked].version == (2 if case == "moved" else 1)


def test_a_commit_of_checks_only_writes_nothing_and_succeeds(state: StateStore) -> None:
    key = new_id("F")
    assert state.commit(Commit(checks=[Check(key, 7)]))
    assert state.read([key]) == {}


def test_counters_sum_the_requested_shards_and_all_counters_every_shard(state: StateStore) -> None:
    cid, other = new_id("cst"), new_id("cst")
    commit = Commit()
    for shard, gmv in ((0, 100), (5, 20), (9, 3)):
        commit.add(CounterKey(cid, 1, "p1", shard), "gmv_fen", gmv)
        commit.add(CounterKey(cid, 1, "p1", shard), "counted_payments", 1)
    commit.add(CounterKey(cid, 1, "p2", 5), "merchants_onboarded", 1)
    commit.add(CounterKey(cid, 2, "p1", 0), "active_merchants", 1)
    commit.add(CounterKey(other, 1, "p1", 0), "new_members", 4)
    assert state.commit(commit)

    got = state.counters(cid, 1, {"p1": [0, 5], "p2": [5, 6], "p3": [1]})
    assert got == {"p1": Metrics(gmv_fen=120, counted_payments=2), "p2": Metrics(merchants_onboarded=1)}
    assert state.counters(cid, 2, {"p1": [0]}) == {"p1": Metrics(active_merchants=1)}
    assert state.counters(cid, 1, {}) == {}

    mine = {k: v for k, v in state.all_counters().items() if k[0] in (cid, other)}
    assert mine == {
        (cid, 1, "p1"): Metrics(gmv_fen=123, counted_payments=3),
        (cid, 1, "p2"): Metrics(merchants_onboarded=1),
        (cid, 2, "p1"): Metrics(active_merchants=1),
        (other, 1, "p1"): Metrics(new_members=4),
    }


def test_counters_over_many_shards(state: StateStore) -> None:
    cid = new_id("cst")
    commit = Commit()
    partners = {f"p{i:03d}": [0, 1] for i in range(60)}  # 120 keys: more than one batch read
    for pid, shards in partners.items():
        for s in shards:
            commit.add(CounterKey(cid, 1, pid, s), "counted_payments", 1)
        assert state.commit(commit)
        commit = Commit()
    got = state.counters(cid, 1, partners)
    assert got == {pid: Metrics(counted_payments=2) for pid in partners}


# ---------------------------------------------------------------- contests, boards, registry


def test_contests_round_trip(repo: ContestRepository) -> None:
    cid = new_id("cst")
    doc: dict[str, Any] = {"contest_id": cid, "name": "Spring", "weights": {"gmv_yuan": 0.5}, "prizes": [],
                           "created_at": None}
    assert repo.get_contest(cid) is None
    repo.add_contest(cid, doc)
    assert repo.get_contest(cid) == doc
    assert doc in repo.list_contests()
    with pytest.raises(Conflict) as e:
        repo.add_contest(cid, {**doc, "name": "again"})
    assert e.value.code == "contest_exists"
    assert repo.get_contest(cid) == doc


def test_snapshot_head_only_moves_forward(repo: ContestRepository) -> None:
    cid = new_id("cst")
    assert repo.get_board(cid, 1, "snapshot") is None
    assert repo.put_snapshot_head(cid, 1, "v2", 1, {"as_of": "2024-03-02T00:00:00+00:00", "entries": 2})
    assert repo.put_snapshot_head(cid, 1, "v1", 1, {"as_of": "2024-03-01T00:00:00+00:00"}) is False
    assert repo.put_snapshot_head(cid, 1, "v2b", 1, {"as_of": "2024-03-02T00:00:00+00:00"}) is False
    board = repo.get_board(cid, 1, "snapshot")
    assert board is not None
    assert (board.kind, board.version, board.pages) == ("snapshot", "v2", 1)
    assert board.meta == {"as_of": "2024-03-02T00:00:00+00:00", "entries": 2}
    assert repo.put_snapshot_head(cid, 1, "v3", 0, {"as_of": "2024-03-03T00:00:00+00:00"})
    moved = repo.get_board(cid, 1, "snapshot")
    assert moved is not None and (moved.version, moved.pages) == ("v3", 0)
    assert repo.get_board(cid, 2, "snapshot") is None
    assert repo.get_board(cid, 1, "final") is None


def test_final_head_is_written_once(repo: ContestRepository) -> None:
    cid = new_id("cst")
    meta = {"as_of": "t", "settled_at": "t", "winners": [{"rank": 1, "partner_id": "p1", "prize": "gold"}]}
    assert repo.put_final_head(cid, 1, "final-a", 2, meta)
    assert repo.put_final_head(cid, 1, "final-b", 3, {**meta, "settled_at": "later"}) is False
    board = repo.get_board(cid, 1, "final")
    assert board is not None
    assert (board.kind, board.version, board.pages, board.meta) == ("final", "final-a", 2, meta)
    assert repo.get_board(cid, 1, "snapshot") is None
    assert repo.put_final_head(cid, 2, "final-c", 0, meta)


def test_settled_rounds_are_those_with_a_final_head(repo: ContestRepository) -> None:
    cid = new_id("cst")
    assert repo.settled_rounds(cid) == set()
    assert repo.put_snapshot_head(cid, 1, "v1", 0, {"as_of": "2024-03-01T00:00:00+00:00"})
    assert repo.put_final_head(cid, 2, "final-a", 0, {"as_of": "t"})
    assert repo.put_final_head(cid, 11, "final-b", 0, {"as_of": "t"})
    assert repo.settled_rounds(cid) == {2, 11}
    assert repo.settled_rounds(new_id("cst")) == set()


def test_pages_round_trip(repo: ContestRepository) -> None:
    cid = new_id("cst")
    entries = [{"rank": i + 1, "partner_id": f"p{i:04d}", "score": 1000 - i, "metrics": {"gmv_fen": i}}
               for i in range(2 * PAGE_SIZE + 50)]
    pages = repo.write_pages(cid, 1, "v1", entries)
    assert pages == 3
    assert repo.write_pages(cid, 1, "v0", entries[:PAGE_SIZE]) == 1
    assert repo.put_snapshot_head(cid, 1, "v1", pages, {"as_of": "t1"})
    board = repo.get_board(cid, 1, "snapshot")
    assert board is not None
    assert repo.board_entries(cid, 1, board) == entries
    for limit in (1, PAGE_SIZE, PAGE_SIZE + 1, len(entries), 10 * len(entries)):
        assert repo.board_entries(cid, 1, board, limit) == entries[:limit]
    assert repo.board_entries(cid, 2, board) == []  # pages belong to their round


def test_an_empty_board_has_no_pages(repo: ContestRepository) -> None:
    cid = new_id("cst")
    assert repo.write_pages(cid, 1, "v1", []) == 0
    assert repo.put_final_head(cid, 1, "v1", 0, {"as_of": "t", "settled_at": "t", "winners": []})
    board = repo.get_board(cid, 1, "final")
    assert board is not None and board.pages == 0
    assert repo.board_entries(cid, 1, board) == []
    assert repo.board_entries(cid, 1, board, 10) == []


def test_registered_shards(repo: ContestRepository) -> None:
    cid = new_id("cst")
    assert repo.registered_shards(cid, 1) == {}
    for pid, shard in (("p1", 3), ("p1", 17), ("p2", 0), ("p1", 3)):
        repo.register_shard(cid, 1, pid, shard)
    repo.register_shard(cid, 2, "p9", 31)
    got = repo.registered_shards(cid, 1)
    assert {pid: sorted(s) for pid, s in got.items()} == {"p1": [3, 17], "p2": [0]}
    assert repo.registered_shards(cid, 2) == {"p9": [31]}

"""Black box: the partner contest (create, leaderboard, settle)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.blackbox.conftest import Stack
from tests.blackbox.support import CST, buyer, is_int, is_time, new_shop, parse_time, payment


@pytest.fixture
def admin(stack: Stack) -> Iterator[str]:
    token = stack.token("admin", "ops-1")
    try:
        yield token
    finally:
        stack.request("POST", "/v1/admin/clock", {"now": datetime.now(CST).isoformat()}, token=token)


def test_contest_round_trip(stack: Stack, admin: str) -> None:
    shop = new_shop(stack, admin)
    start = datetime.now(CST).replace(microsecond=0) - timedelta(hours=1)
    r = stack.request("POST", "/v1/contests", {
        "name": "Spring", "starts_at": start.isoformat(), "round_days": 1, "rounds": 2,
        "weights": {"merchants_onboarded": 10, "active_merchants": 5, "gmv_yuan": 1, "new_members": 2},
        # its payments come from a terminal only: the revision-1 rule counts them
        "rules": {"require_platform_confirmation": False},
        "prizes": [{"rank_from": 1, "rank_to": 1, "prize": "Gold"}]}, token=admin)
    assert r.status == 201, r.body
    cid = r.body["contest_id"]
    assert [x["round"] for x in r.body["rounds"]] == [1, 2]
    first = r.body["rounds"][0]
    assert is_time(first["starts_at"]) and parse_time(first["starts_at"]) == start
    assert parse_time(first["ends_at"]) == start + timedelta(days=1)

    lb = f"/v1/contests/{cid}/leaderboard?round=1"
    r = stack.request("GET", lb, token=stack.token("partner", partner_id=shop.partner_id))
    assert r.status == 200, r.body
    assert (r.body["contest_id"], r.body["round"], r.body["final"]) == (cid, 1, False)
    assert r.body["entries"] == [] and r.body["as_of"] is None

    for _ in range(3):
        assert shop.terminal.send("/v1/terminal/payments", payment(amount=10_000, buyer_id=buyer())).status == 200
    deadline = time.monotonic() + 20  # the payments reach the contest through the table's stream
    while True:
        assert stack.request("POST", "/v1/admin/jobs/rank_contests", token=admin).status == 200
        r = stack.request("GET", lb + "&limit=500", token=admin)
        assert is_time(r.body["as_of"])
        mine = [e for e in r.body["entries"] if e["partner_id"] == shop.partner_id]
        if (mine and mine[0]["metrics"]["gmv_yuan"] == 300) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert mine and set(mine[0]) >= {"rank", "partner_id", "name", "score", "metrics"} and is_int(mine[0]["rank"])
    assert mine[0]["metrics"]["gmv_yuan"] == 300

    r = stack.request("POST", f"/v1/contests/{cid}/rounds/1/settle", token=admin)
    assert (r.status, r.code) == (409, "round_not_ended")
    stack.request("POST", "/v1/admin/clock", {"advance_seconds": 86400}, token=admin)
    r = stack.request("POST", f"/v1/contests/{cid}/rounds/1/settle", token=admin)
    assert r.status == 200, r.body
    assert (r.body["round"], r.body["final"]) == (1, True) and is_time(r.body["settled_at"])
    assert isinstance(r.body["entries"], list) and isinstance(r.body["winners"], list)
    assert all(set(w) >= {"rank", "partner_id", "prize"} for w in r.body["winners"])
    again = stack.request("POST", f"/v1/contests/{cid}/rounds/1/settle", token=admin)
    assert again.body == r.body
    r = stack.request("GET", lb, token=admin)
    assert r.body["final"] is True
    r = stack.request("GET", lb, token=stack.token("merchant", merchant_id=shop.merchant_id))
    assert (r.status, r.code) == (403, "forbidden_role")
    r = stack.request("POST", "/v1/contests", {"name": "x"}, token=admin)
    assert (r.status, r.code) == (422, "missing_field")
    assert stack.request("GET", "/v1/contests/cst_nope/leaderboard?round=1", token=admin).status == 404

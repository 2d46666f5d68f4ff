"""One contract for the admin trail, run against the in-memory fake and `DynamoAdminTrail` on
DynamoDB Local."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib import storage
from chalicelib.admin_trail.dynamo import DynamoAdminTrail
from chalicelib.admin_trail.ports import AdminTrail
from chalicelib.config import Config
from chalicelib.ids import new_id
from chalicelib.tables import ALL_MODELS
from tests.fakes.admin_trail import InMemoryAdminTrail

CST = timezone(timedelta(hours=8))


@pytest.fixture(params=["fake", "dynamodb"])
def trail(request: pytest.FixtureRequest) -> AdminTrail:
    if request.param == "fake":
        return InMemoryAdminTrail()
    config: Config = request.getfixturevalue("test_config")
    storage.bind(config, ALL_MODELS)
    return DynamoAdminTrail()


def a_month() -> datetime:
    """The first of a month no other test writes to (the DynamoDB tables are shared)."""
    return datetime(1900 + secrets.randbelow(7000), 1 + secrets.randbelow(12), 1, tzinfo=UTC)


def test_append_keeps_the_entry_document(trail: AdminTrail) -> None:
    at = a_month() + timedelta(days=3, hours=4, microseconds=17)
    subject = new_id("cst")
    entry_id = trail.append(at, "admin-1", "admin", "contest.settle", subject, {"round": 1, "outcome": "settled"})
    assert entry_id.startswith("aud_")
    assert trail.entries(f"{at:%Y-%m}") == [{
        "audit_id": entry_id, "at": at.isoformat(), "who": "admin-1", "role": "admin",
        "action": "contest.settle", "subject": subject, "contest_id": subject,
        "what": {"round": 1, "outcome": "settled"},
    }]


def test_entries_of_a_month_in_time_order(trail: AdminTrail) -> None:
    start = a_month()
    month = f"{start:%Y-%m}"
    assert trail.entries(month) == []
    times = [start + timedelta(days=2), start + timedelta(hours=1), start + timedelta(days=2), start]
    ids = [trail.append(t, f"admin-{i}", "admin", "binding.move", "mch_1", {"i": i}) for i, t in enumerate(times)]
    got = trail.entries(month)
    assert [e["what"]["i"] for e in got][:2] == [3, 1]
    assert sorted(e["audit_id"] for e in got[2:]) == sorted([ids[0], ids[2]])  # same instant: by id
    assert all(e["binding_id"] == "mch_1" for e in got)
    next_month = start + timedelta(days=40)
    trail.append(next_month, "admin-9", "admin", "binding.move", "mch_1", {})
    assert len(trail.entries(month)) == 4
    assert [e["who"] for e in trail.entries(f"{next_month:%Y-%m}")] == ["admin-9"]


def test_months_are_utc_months(trail: AdminTrail) -> None:
    start = a_month()
    local = start.astimezone(CST) - timedelta(hours=1)  # 07:00 on the 1st in UTC+8: still last month in UTC
    trail.append(local, "admin-1", "admin", "contest.create", "cst_x", {"name": "N"})
    before = start - timedelta(days=1)
    got = trail.entries(f"{before:%Y-%m}")
    assert [(e["at"], e["action"]) for e in got] == [(local.isoformat(), "contest.create")]
    assert trail.entries(f"{start:%Y-%m}") == []

"""Reads for people in the payments, contests and operations areas: the dashboard's day series,
the contest list with settled rounds, the callback logs page by page, and `/v1/meta`."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pynamodb.connection.base import Connection

from tests.functional.test_contests import create_contest
from tests.functional.test_security_review import forged_terminal
from tests.helpers import Api, Reply
from tests.payments_support import dashboard, new_shop, pay, payment_body, refund, today


def _day(api: Api, days_ago: int) -> date:
    return date.fromisoformat(today(api)) - timedelta(days=days_ago)


def _noon(api: Api, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=api.services.config.tz)


def _series(api: Api, merchant_id: str, first: date | str, last: date | str, token: str | None = None) -> Reply:
    return api.get(f"/v1/merchants/{merchant_id}/dashboard/series?from={first}&to={last}",
                   token=token or api.admin())


def _count_requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every DynamoDB request any PynamoDB connection sends, by operation."""
    calls: Counter[str] = Counter()
    real = Connection.dispatch

    def counted(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        calls[operation_name] += 1
        return real(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", counted)
    return calls


# ---------------------------------------------------------------- dashboard series


def test_series_of_92_days_equals_each_days_dashboard_with_a_bounded_number_of_requests(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = new_shop(api)
    d3, d1 = _day(api, 3), _day(api, 1)
    first = pay(api, shop, payment_body(amount=1200, buyer="2088000000000001", paid_at=_noon(api, d3)))
    assert first.status == 200, first.body
    assert pay(api, shop, payment_body(amount=800, buyer="2088000000000001", paid_at=_noon(api, d3))).status == 200
    body = payment_body(amount=500, buyer="2088000000000002", paid_at=_noon(api, d1))
    assert pay(api, shop, body).status == 200
    assert pay(api, shop, payment_body(amount=300, buyer="2088000000000003", paid_at=_noon(api, d1))).status == 200
    assert refund(api, shop, body["out_trade_no"], 200).status == 200  # lands on today's figures

    start, end = _day(api, 91), _day(api, 0)
    calls = _count_requests(monkeypatch)
    r = _series(api, shop.merchant_id, start, end)
    monkeypatch.undo()
    assert r.status == 200, r.body
    days = r.body["days"]
    assert len(days) == 92 and [d["date"] for d in days] == [(start + timedelta(days=n)).isoformat()
                                                             for n in range(92)]
    # one BatchGetItem for the 92 day items, one COUNT query per day with payments, the merchant's GetItem
    assert calls["BatchGetItem"] == 1 and calls["Query"] == 2, calls
    assert sum(calls.values()) <= 4, calls
    by_day = {d["date"]: d for d in days}
    for d in days:
        assert d == {"date": d["date"], **dashboard(api, shop.merchant_id, d["date"])["day"]}
    assert by_day[d3.isoformat()] == {"date": d3.isoformat(), "gmv_fen": 2000, "payments": 2, "refunds_fen": 0,
                                      "customers": 1}
    assert by_day[d1.isoformat()]["customers"] == 2 and by_day[d1.isoformat()]["gmv_fen"] == 800
    assert by_day[end.isoformat()]["refunds_fen"] == 200
    quiet = [d for d in days if d["date"] not in {d3.isoformat(), d1.isoformat(), end.isoformat()}]
    assert all(d["gmv_fen"] == d["payments"] == d["refunds_fen"] == d["customers"] == 0 for d in quiet)


def test_series_ranges_and_dates_are_checked(api: Api) -> None:
    shop = new_shop(api)
    mid = shop.merchant_id
    assert _series(api, mid, "2026-01-01", "2026-04-02").status == 200  # 92 days
    too_long = _series(api, mid, "2026-01-01", "2026-04-03")
    assert (too_long.status, too_long.code) == (422, "range_too_long")
    backwards = _series(api, mid, "2026-02-02", "2026-02-01")
    assert (backwards.status, backwards.code) == (422, "invalid_value")
    for bad in ("2026-2-01", "2026-02-30", "yesterday"):
        r = _series(api, mid, bad, "2026-03-01")
        assert (r.status, r.code) == (422, "invalid_date"), bad
    one = _series(api, mid, "2026-02-01", "2026-02-01")
    assert one.body == {"days": [{"date": "2026-02-01", "gmv_fen": 0, "payments": 0, "refunds_fen": 0,
                                  "customers": 0}]}
    missing = api.get(f"/v1/merchants/{mid}/dashboard/series?from=2026-02-01", token=api.admin())
    assert (missing.status, missing.code) == (422, "missing_field")


def test_series_viewers(api: Api) -> None:
    shop, other = new_shop(api), new_shop(api)
    q = ("2026-02-01", "2026-02-03")
    assert _series(api, shop.merchant_id, *q, token=api.partner_token(shop.partner_id)).status == 200
    assert _series(api, shop.merchant_id, *q, token=api.merchant_token(shop.merchant_id)).status == 200
    assert _series(api, shop.merchant_id, *q, token=api.partner_token(other.partner_id)).status == 403
    assert _series(api, shop.merchant_id, *q, token=api.merchant_token(other.merchant_id)).status == 403
    assert _series(api, "mch_nope", *q).status == 404


# ---------------------------------------------------------------- contests


def test_contests_list_newest_first_with_settled_rounds(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(days=200)  # both rounds long over: no payment of other tests counts
    older = create_contest(api, start, name="older")
    assert api.post("/v1/admin/clock", {"advance_seconds": 1}, token=api.admin()).status == 200
    newer = create_contest(api, start, name="newer")
    assert [r["settled"] for r in newer["rounds"]] == [False, False]
    settled = api.post(f"/v1/contests/{older['contest_id']}/rounds/1/settle", token=api.admin())
    assert settled.status == 200, settled.body

    for token in (api.admin(), api.partner_token(api.new_partner())):
        r = api.get("/v1/contests", token=token)
        assert r.status == 200, r.body
        ids = [c["contest_id"] for c in r.body["contests"]]
        assert ids.index(newer["contest_id"]) < ids.index(older["contest_id"])
        stamps = [datetime.fromisoformat(c["created_at"]) for c in r.body["contests"] if c["created_at"]]
        assert stamps == sorted(stamps, reverse=True)
        listed = {c["contest_id"]: c for c in r.body["contests"]}
        one = api.get(f"/v1/contests/{older['contest_id']}", token=token).body
        assert listed[older["contest_id"]] == one
        assert [(x["round"], x["settled"]) for x in one["rounds"]] == [(1, True), (2, False)]
        assert {k: v for k, v in one.items() if k != "rounds"} == {k: v for k, v in older.items() if k != "rounds"}
        assert [{k: v for k, v in x.items() if k != "settled"} for x in one["rounds"]] == [
            {k: v for k, v in x.items() if k != "settled"} for x in older["rounds"]]
    shop = new_shop(api)
    assert api.get("/v1/contests", token=api.merchant_token(shop.merchant_id)).status == 403
    assert api.get("/v1/contests").status == 401


# ---------------------------------------------------------------- callback logs


def _pages(api: Api, path: str, limit: int, token: str, pages: int | None = None) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    sep = "&" if "?" in path else "?"
    while True:
        r = api.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""), token=token)
        assert r.status == 200, r.body
        assert set(r.body) == {"callbacks", "next_cursor"}
        out.append(r.body["callbacks"])
        cursor = r.body["next_cursor"]
        if cursor is None or (pages is not None and len(out) == pages):
            return out


def test_a_merchants_log_pages_newest_first_with_channel_time_outcome_and_merchant(api: Api) -> None:
    shop = new_shop(api)
    made = []
    for _ in range(7):
        body = payment_body()
        assert pay(api, shop, body).status == 200
        made.append(body["out_trade_no"])
    path = f"/v1/merchants/{shop.merchant_id}/callbacks"
    pages = _pages(api, path, 3, api.partner_token(shop.partner_id))
    assert [len(p) for p in pages] == [3, 3, 1]
    entries = [e for p in pages for e in p]
    assert [e["out_trade_no"] for e in entries] == list(reversed(made))
    assert [e["received"] for e in entries] == sorted((e["received"] for e in entries), reverse=True)
    for e in entries:
        assert e["channel"] == e["source"] == "terminal" and e["outcome"] == "recorded"
        assert e["merchant_id"] == shop.merchant_id and e["status"] == 200
        at = datetime.fromisoformat(e["received_at"])
        assert at.utcoffset() is not None and e["received"].startswith(e["received_at"])
    assert _pages(api, path, 50, api.merchant_token(shop.merchant_id)) == [entries]


def test_the_unattributed_log_pages_across_its_shards_without_skipping_or_repeating(api: Api) -> None:
    marker = secrets.token_hex(8)
    for i in range(12):
        assert forged_terminal(api, f"{marker}-{i:02d}".encode()).status == 401
    expected = [f"{marker}-{i:02d}" for i in reversed(range(12))]
    for path in ("/v1/admin/callbacks?source=terminal", "/v1/admin/callbacks"):
        pages = _pages(api, path, 5, api.admin(), pages=3)  # ours are the newest 12
        entries = [e for p in pages for e in p]
        assert [len(p) for p in pages[:-1]] == [5] * (len(pages) - 1) and len(entries) >= 12
        assert len({e["received"] for e in entries}) == len(entries)
        assert [e["body"] for e in entries if e["body"].startswith(marker)] == expected
        assert [e["received"] for e in entries] == sorted((e["received"] for e in entries), reverse=True)
        for e in entries[:12]:
            assert e["channel"] == "terminal" and e["outcome"] == "rejected" and e["merchant_id"] is None
            assert e["code"] and e["received_at"] and "body_sha256" in e


def test_callback_cursors_are_bound_to_the_log_and_the_caller(api: Api) -> None:
    shop, other = new_shop(api), new_shop(api)
    for s in (shop, other):
        for _ in range(3):
            assert pay(api, s, payment_body()).status == 200
    partner = api.partner_token(shop.partner_id)
    r = api.get(f"/v1/merchants/{shop.merchant_id}/callbacks?limit=1", token=partner)
    cursor = r.body["next_cursor"]
    assert cursor
    mine = api.get(f"/v1/merchants/{shop.merchant_id}/callbacks?limit=1&cursor={cursor}", token=partner)
    assert mine.status == 200 and mine.body["callbacks"][0]["received"] < r.body["callbacks"][0]["received"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for path, token in ((f"/v1/merchants/{shop.merchant_id}/callbacks?cursor={tampered}", partner),
                        (f"/v1/merchants/{shop.merchant_id}/callbacks?cursor={cursor}", api.admin()),
                        (f"/v1/merchants/{other.merchant_id}/callbacks?cursor={cursor}",
                         api.partner_token(other.partner_id)),
                        (f"/v1/merchants/{shop.merchant_id}/callbacks?cursor=garbage", partner)):
        bad = api.get(path, token=token)
        assert (bad.status, bad.code) == (400, "invalid_cursor"), path
    admin_cursor = api.get("/v1/admin/callbacks?source=terminal&limit=1", token=api.admin()).body["next_cursor"]
    if admin_cursor:
        r2 = api.get(f"/v1/admin/callbacks?source=alipay&cursor={admin_cursor}", token=api.admin())
        assert (r2.status, r2.code) == (400, "invalid_cursor")
    for limit in ("0", "201", "x"):
        r3 = api.get(f"/v1/merchants/{shop.merchant_id}/callbacks?limit={limit}", token=partner)
        assert r3.status == 422, limit


def test_callback_log_viewers(api: Api) -> None:
    shop, other = new_shop(api), new_shop(api)
    assert pay(api, shop, payment_body()).status == 200
    path = f"/v1/merchants/{shop.merchant_id}/callbacks"
    assert api.get(path, token=api.partner_token(shop.partner_id)).status == 200
    assert api.get(path, token=api.partner_token(other.partner_id)).status == 403
    assert api.get(path, token=api.merchant_token(other.merchant_id)).status == 403
    assert api.get("/v1/admin/callbacks", token=api.partner_token(shop.partner_id)).status == 403
    assert api.get("/v1/admin/callbacks", token=api.merchant_token(shop.merchant_id)).status == 403
    bad = api.get("/v1/admin/callbacks?source=paypal", token=api.admin())
    assert (bad.status, bad.code) == (422, "invalid_enum")


def test_an_admin_page_of_all_sources_is_bounded(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_requests(monkeypatch)
    assert api.get("/v1/admin/callbacks?limit=10", token=api.admin()).status == 200
    assert calls["Query"] == 3 * 17, calls
    calls.clear()
    assert api.get("/v1/admin/callbacks?source=alipay&limit=10", token=api.admin()).status == 200
    assert calls["Query"] == 17, calls


# ---------------------------------------------------------------- meta


def test_meta_says_the_time_zone_and_stage_without_auth(api: Api) -> None:
    r = api.get("/v1/meta")
    assert r.status == 200
    assert r.body == {"time_zone": api.services.config.tz_name, "stage": api.services.config.stage}

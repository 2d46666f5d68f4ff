"""The partner contest over HTTP and the real stream path on DynamoDB Local.

Payments, refunds and memberships go through the real endpoints (`POST /v1/terminal/payments`,
`/v1/terminal/refunds`, `/v1/merchants/{id}/plans`, `/v1/memberships`), so the merchant
aggregates and the fee ledger follow them as they follow real traffic and the whole audit stays
ok for the tests that run after these in the same process. `paid_at` lies inside contest windows
placed years in the past (offline terminals upload late), so other areas' payments, recorded at
today's date, never fall into these contests; the business clock is moved forward to a payment's
`paid_at` when it would otherwise be in the future. Revision-2 contests (confirmed payments only)
are confirmed the real way: an admin verifies the merchant's Alipay seller id
(`PUT /v1/admin/merchants/{id}/bindings/alipay`) and Alipay's RSA2-signed notification
(`POST /v1/notify/alipay`) confirms the terminal's payment, or records it first.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from chalicelib.bootstrap import Services, bootstrap
from chalicelib.clock import OffsetClock
from chalicelib.config import Config
from chalicelib.contests import domain
from chalicelib.payments.alipay import ALIPAY_TZ
from localdev.stream_poller import LocalStreamPoller
from localdev.streams import lazy_poller, stream_tables
from tests.functional.test_alipay_notify import APP_ID, PUBLIC_PEM, fail, notice, ok, post, seller, signed
from tests.helpers import Api, TerminalCreds

TZ = ZoneInfo("Asia/Shanghai")
WEIGHTS = {"merchants_onboarded": 10, "active_merchants": 5, "gmv_yuan": 0.5, "new_members": 2}


_windows = itertools.count()


def window_start() -> datetime:
    """A midnight (Asia/Shanghai) years ago, 30 days after the previous test's: contests of
    different tests never share a day, and today's payments of other areas never fall in them."""
    return datetime(2001, 1, 1, tzinfo=TZ) + timedelta(days=30 * next(_windows))


@dataclass
class Shop:
    """A merchant of a partner, with one terminal to report its payments and refunds."""

    partner_id: str
    merchant_id: str
    terminal: TerminalCreds
    seller_id: str | None = None  # its Alipay seller id, claimed in the merchant body


def new_shop(api: Api, partner_id: str, seller_id: str | None = None) -> Shop:
    merchant = api.new_merchant(partner_id, seller_id=seller_id)
    return Shop(partner_id, merchant["merchant_id"], api.new_terminal(merchant), seller_id)


def reach(api: Api, when: datetime) -> None:
    """Move the business clock forward to `when`, never back (time passes as traffic arrives)."""
    if api.services.clock.now() < when:
        api.services.clock.set(when)


def record_payment(api: Api, shop: Shop, buyer: str, amount: int, paid_at: datetime,
                   otn: str | None = None) -> str:
    """A payment reported by the shop's terminal; "now" is moved up to `paid_at` if needed."""
    otn = otn or f"o{secrets.token_hex(8)}"
    reach(api, paid_at)
    body = {"out_trade_no": otn, "amount_fen": amount, "buyer_id": buyer, "paid_at": paid_at.isoformat()}
    r = api.signed(shop.terminal, "/v1/terminal/payments", body)
    assert r.status == 200 and r.body["duplicate"] is False, r.body
    return otn


def record_refund(api: Api, shop: Shop, otn: str, amount: int) -> None:
    """A refund reported by the shop's terminal, recorded now on the business clock."""
    body = {"out_trade_no": otn, "out_request_no": f"r{secrets.token_hex(8)}", "amount_fen": amount}
    r = api.signed(shop.terminal, "/v1/terminal/refunds", body)
    assert r.status == 200 and r.body["duplicate"] is False, r.body


def record_membership(api: Api, shop: Shop, at: datetime) -> str:
    """A new customer locks a plan of the shop's merchant at `at` (the business clock is set there)."""
    plan = api.post(f"/v1/merchants/{shop.merchant_id}/plans",
                    {"name": "Plan", "fee_fen": 1000, "discount_percent": 10}, token=api.admin())
    assert plan.status == 201, plan.body
    api.services.clock.set(at)
    customer = f"2088{secrets.randbelow(10**12):012d}"
    r = api.post("/v1/memberships", {"plan_id": plan.body["plan_id"]}, token=api.customer_token(customer))
    assert r.status == 201, r.body
    return str(r.body["membership_id"])


def assert_audit_ok(api: Api) -> None:
    """The WHOLE audit (every area, every test's data so far) is ok: this test left consistent state."""
    r = api.get("/v1/admin/audit", token=api.admin())
    assert r.status == 200 and r.body["ok"] is True, json.dumps(r.body, indent=1, default=str)


@pytest.fixture(scope="module")
def stream_poller(test_config: Config) -> LocalStreamPoller:
    """The stand-in for the stream event sources, one for the module (it keeps its place in the
    streams), delivering to the services installed at the time, as the deployed functions do."""
    import app as app_module

    return lazy_poller(test_config, lambda: app_module.runtime.services)


@pytest.fixture
def services(test_config: Config, stream_poller: LocalStreamPoller) -> Iterator[Services]:
    """As under `make run`: the audit drains the stream poller first (in AWS the counters trail
    the stream by seconds), so it compares settled counters."""
    import app as app_module

    services = bootstrap(test_config, clock=OffsetClock(), before_audit=stream_poller.drain)
    app_module.runtime.install(services)
    try:
        yield services
    finally:
        app_module.runtime.install(None)


@pytest.fixture
def poller(services: Services, stream_poller: LocalStreamPoller) -> LocalStreamPoller:
    stream_poller.drain()
    return stream_poller


@pytest.fixture
def ali(test_config: Config, stream_poller: LocalStreamPoller) -> Iterator[Api]:
    """This module's services (the audit drains the stream poller first) knowing the platform's
    Alipay key and app id, so signed notifications verify; the stream is drained once installed.
    Take `stream_poller` with it (not `poller`, which installs the key-less `services`)."""
    import app as app_module

    config = dataclasses.replace(test_config, alipay_public_key=PUBLIC_PEM, alipay_app_id=APP_ID)
    services = bootstrap(config, clock=OffsetClock(), before_audit=stream_poller.drain)
    app_module.runtime.install(services)
    try:
        stream_poller.drain()
        yield Api(Client(app_module.app), services)
    finally:
        app_module.runtime.install(None)


def create_contest(api: Api, start: datetime, *, confirmed_only: bool = False, **over: Any) -> dict[str, Any]:
    """A contest; unless `confirmed_only`, with the revision-1 rule (`require_platform_confirmation`
    false), since most tests here record payments through terminals only. `rules=None` sends none."""
    rules = over.pop("rules", {})
    body = {"name": "Spring cup", "starts_at": start.isoformat(), "round_days": 7, "rounds": 2,
            "weights": WEIGHTS, "prizes": [{"rank_from": 1, "rank_to": 1, "prize": "gold"},
                                          {"rank_from": 2, "rank_to": 3, "prize": "silver"}], **over}
    if rules is not None:
        body["rules"] = {"require_platform_confirmation": confirmed_only, **rules}
    r = api.post("/v1/contests", body, token=api.admin())
    assert r.status == 201, r.body
    return dict(r.body)


def board(api: Api, cid: str, n: int, token: str | None = None, **q: Any) -> Any:
    qs = "&".join(f"{k}={v}" for k, v in {"round": n, **q}.items())
    return api.get(f"/v1/contests/{cid}/leaderboard?{qs}", token=token or api.admin())


def rank_now(api: Api) -> None:
    r = api.post("/v1/admin/jobs/rank_contests", token=api.admin())
    assert r.status == 200, r.body


# ---------------------------------------------------------------- creation and validation


def test_create_contest_rounds_defaults_and_audit_trail(api: Api) -> None:
    start = window_start()
    c = create_contest(api, start, rounds=3, prizes=None, rules=None)
    assert c["contest_id"].startswith("cst_")
    assert [r["round"] for r in c["rounds"]] == [1, 2, 3]
    assert datetime.fromisoformat(c["rounds"][1]["starts_at"]) == start + timedelta(days=7)
    assert datetime.fromisoformat(c["rounds"][2]["ends_at"]) == start + timedelta(days=21)
    assert c["rules"] == {"active_merchant_min_payments": 10, "min_payment_fen": 100,
                          "max_counted_payments_per_buyer_per_merchant_per_day": 3,
                          "require_platform_confirmation": True}
    assert c["weights"] == WEIGHTS and c["prizes"] == [] and c["name"] == "Spring cup"
    trail = api.services.contests.trail.entries(datetime.fromisoformat(c["created_at"]).strftime("%Y-%m"))
    mine = [e for e in trail if e.get("contest_id") == c["contest_id"]]
    assert [(e["action"], e["who"]) for e in mine] == [("contest.create", "admin-1")]


@pytest.mark.parametrize("change, code", [
    ({"rounds": 0}, "invalid_value"), ({"rounds": 53}, "invalid_value"), ({"round_days": 32}, "invalid_value"),
    ({"round_days": 0}, "invalid_value"), ({"weights": {**WEIGHTS, "gmv_yuan": -1}}, "invalid_value"),
    ({"weights": {**WEIGHTS, "gmv_yuan": "1"}}, "invalid_type"),
    ({"prizes": [{"rank_from": 3, "rank_to": 2, "prize": "x"}]}, "invalid_value"),
    ({"starts_at": "2031-03-01T00:00:00"}, "missing_timezone"), ({"rounds": None}, "invalid_type"),
    ({"rules": {"require_platform_confirmation": "false"}}, "invalid_type"),
    ({"rules": {"require_platform_confirmation": 0}}, "invalid_type"),
])
def test_create_contest_rejects_bad_bodies(api: Api, change: dict[str, Any], code: str) -> None:
    body = {"name": "x", "starts_at": "2031-03-01T00:00:00+08:00", "round_days": 7, "rounds": 2,
            "weights": WEIGHTS, **change}
    r = api.post("/v1/contests", body, token=api.admin())
    assert (r.status, r.code) == (422, code), r.body


def test_only_admins_create_contests(api: Api) -> None:
    pid = api.new_partner()
    body = {"name": "x", "starts_at": "2031-03-01T00:00:00+08:00", "round_days": 7, "rounds": 2,
            "weights": WEIGHTS}
    assert api.post("/v1/contests", body, token=api.partner_token(pid)).status == 403
    assert api.post("/v1/contests", body).status == 401


# ---------------------------------------------------------------- the whole round, end to end


def test_round_ranked_from_stream_settled_from_records_and_frozen(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    c = create_contest(api, start, rules={"active_merchant_min_payments": 2})
    cid = c["contest_id"]
    pa, pb = api.new_partner("Alpha"), api.new_partner("Beta")
    sa, sb = new_shop(api, pa), new_shop(api, pb)

    assert board(api, cid, 1).body == {"contest_id": cid, "round": 1, "as_of": None, "final": False, "entries": []}

    d1 = start + timedelta(days=1, hours=10)
    a1 = record_payment(api, sa, "u1", 1000, d1)
    record_payment(api, sa, "u1", 2000, d1 + timedelta(minutes=5))
    record_payment(api, sa, "u2", 50, d1)  # below the minimum
    b1 = record_payment(api, sb, "u3", 3000, d1)
    record_membership(api, sb, d1 + timedelta(minutes=10))
    record_refund(api, sa, a1, 400)
    poller.drain()
    rank_now(api)

    r = board(api, cid, 1, token=api.partner_token(pb))
    assert r.status == 200 and r.body["final"] is False and r.body["as_of"] is not None
    # Alpha: onboarded 1, active 1 (2 payments), gmv 26 yuan → 10+5+13 = 28; Beta: 10+0+15+2 = 27
    got = [(e["rank"], e["partner_id"], e["name"], e["score"]) for e in r.body["entries"]]
    assert got == [(1, pa, "Alpha", 28), (2, pb, "Beta", 27)]
    assert r.body["entries"][0]["metrics"]["gmv_yuan"] == 26
    assert r.body["entries"][1]["metrics"]["new_members"] == 1

    # before the round ends: 409
    r = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin())
    assert (r.status, r.code) == (409, "round_not_ended")

    # a refund recorded after the round ended but before settlement still counts
    api.services.clock.set(start + timedelta(days=8))
    record_refund(api, sb, b1, 3000)
    settled = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin())
    assert settled.status == 200, settled.body
    assert settled.body["final"] is True and settled.body["round"] == 1
    assert [(e["partner_id"], e["score"]) for e in settled.body["entries"]] == [(pa, 28), (pb, 12)]
    assert settled.body["winners"] == [{"rank": 1, "partner_id": pa, "prize": "gold"},
                                       {"rank": 2, "partner_id": pb, "prize": "silver"}]

    # a payment arriving late (paid in round 1) after settlement changes nothing
    record_payment(api, sb, "u9", 900_000, d1 - timedelta(hours=1))
    poller.drain()
    rank_now(api)
    again = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin())
    assert again.body == settled.body
    lb = board(api, cid, 1)
    assert lb.body["final"] is True and lb.body["entries"] == settled.body["entries"]
    assert lb.body["as_of"] == settled.body["as_of"]

    # the counters did follow the late payment, and still equal their recomputation
    audit = api.get("/v1/admin/audit", token=api.admin()).body
    check = next(ch for ch in audit["checks"] if ch["name"] == "contest_metrics")
    assert check["ok"], check["detail"]
    assert_audit_ok(api)


def test_settlement_is_recomputed_not_read_from_counters(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rounds=1)["contest_id"]
    pid = api.new_partner()
    shop = new_shop(api, pid)
    record_payment(api, shop, "u1", 10_000, start + timedelta(hours=30))
    # not drained: the counters know nothing, the recorded payments do
    api.services.clock.set(start + timedelta(days=7, seconds=1))
    r = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin())
    assert [(e["partner_id"], e["metrics"]["gmv_yuan"]) for e in r.body["entries"]] == [(pid, 100)]
    poller.drain()
    assert_audit_ok(api)


def test_concurrent_settlements_settle_once(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rounds=1)["contest_id"]
    pid = api.new_partner()
    shop = new_shop(api, pid)
    record_payment(api, shop, "u1", 5000, start + timedelta(hours=30))
    api.services.clock.set(start + timedelta(days=8))
    results: list[Any] = []

    def settle() -> None:
        results.append(api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin()))

    threads = [threading.Thread(target=settle) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [r.status for r in results] == [200] * 4
    assert len({r.body["settled_at"] for r in results}) == 1
    assert all(r.body == results[0].body for r in results)
    month = api.services.clock.now().strftime("%Y-%m")
    outcomes = sorted(e["what"]["outcome"] for e in api.services.contests.trail.entries(month)
                      if e.get("contest_id") == cid and e["action"] == "contest.settle")
    assert outcomes == ["already_settled"] * 3 + ["settled"]
    poller.drain()
    assert_audit_ok(api)


# ---------------------------------------------------------------- the stream path for real


def stream_metrics(api: Api, cid: str, n: int, pid: str) -> domain.Metrics:
    svc = api.services.contests
    return svc.state.counters(cid, n, {pid: list(range(svc.shards))}).get(pid, domain.Metrics())


def test_wash_trading_counts_three_through_the_stream(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rounds=1)["contest_id"]
    pid = api.new_partner()
    shop = new_shop(api, pid)
    t0 = start + timedelta(days=2, hours=9)
    for i in range(50):
        record_payment(api, shop, "washer", 1000, t0 + timedelta(minutes=i))
    poller.drain()
    m = stream_metrics(api, cid, 1, pid)
    assert (m.counted_payments, m.gmv_fen, m.merchants_onboarded) == (3, 3000, 1)
    assert_audit_ok(api)


def test_an_earlier_payment_arriving_late_displaces_a_later_one(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rounds=1, rules={"active_merchant_min_payments": 3})["contest_id"]
    pid = api.new_partner()
    shop = new_shop(api, pid)
    t0 = start + timedelta(days=2, hours=10)
    for i, amount in enumerate([100, 200, 300]):
        record_payment(api, shop, "u1", amount, t0 + timedelta(hours=i))
    poller.drain()
    assert stream_metrics(api, cid, 1, pid).gmv_fen == 600
    record_payment(api, shop, "u1", 5000, t0 - timedelta(hours=1))  # the offline terminal uploads late
    poller.drain()
    m = stream_metrics(api, cid, 1, pid)
    assert (m.counted_payments, m.gmv_fen, m.active_merchants) == (3, 5300, 1)
    assert_audit_ok(api)


def test_redelivered_stream_records_never_double_count(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rounds=1, rules={"max_counted_payments_per_buyer_per_merchant_per_day": 2})
    cid = cid["contest_id"]
    pid = api.new_partner()
    shop = new_shop(api, pid)
    rng = random.Random(7)
    for _ in range(12):
        otn = record_payment(api, shop, rng.choice(["u1", "u2"]), rng.choice([50, 100, 700]),
                             start + timedelta(days=1, minutes=rng.randrange(0, 3000)))
        if rng.random() < 0.3:
            record_refund(api, shop, otn, 20)
    poller.drain()
    before = stream_metrics(api, cid, 1, pid)
    # a second reader from TRIM_HORIZON redelivers every record to the same handler, through
    # the deployed Chalice stream function
    def through_function(table: str) -> Any:
        return lambda ev: api.client.lambda_.invoke(f"contest_{table}_stream", ev)

    replay = LocalStreamPoller({api.services.config.table_name(t): through_function(t) for t in stream_tables()},
                               endpoint=poller.endpoint)
    assert replay.drain() > 0
    assert stream_metrics(api, cid, 1, pid).key() == before.key()
    contest = api.services.contests.contest(cid)
    expected = api.services.contests.compute_round(contest, 1)
    mine = [e for e in expected if e.partner_id == pid]
    assert mine and mine[0].metrics.key() == before.key()
    assert_audit_ok(api)


def test_contest_created_after_payments_backfills_its_counters(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    pid = api.new_partner()
    shop = new_shop(api, pid)
    record_payment(api, shop, "u1", 100, start - timedelta(days=3))  # first counted payment: before
    record_payment(api, shop, "u1", 800, start + timedelta(hours=5))
    record_membership(api, shop, start + timedelta(hours=6))
    poller.drain()
    api.services.clock.set(start + timedelta(days=2))
    cid = create_contest(api, start, rounds=1)["contest_id"]
    m = stream_metrics(api, cid, 1, pid)
    assert (m.counted_payments, m.gmv_fen, m.merchants_onboarded, m.new_members) == (1, 800, 0, 1)
    assert_audit_ok(api)


# ---------------------------------------------------------------- jobs, leaderboard, standing, access


def test_scheduled_ranking_through_a_cloudwatch_event(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rounds=1)["contest_id"]
    pid = api.new_partner("Gamma")
    shop = new_shop(api, pid)
    record_payment(api, shop, "u1", 2000, start + timedelta(hours=20))
    poller.drain()
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/rank_contests"])
    out = api.client.lambda_.invoke("rank_contests", event).payload
    assert any(r["contest_id"] == cid and r["round"] == 1 and r["entries"] == 1 for r in out["ranked"])
    r = board(api, cid, 1)
    assert [(e["partner_id"], e["name"], e["score"]) for e in r.body["entries"]] == [(pid, "Gamma", 20)]
    assert r.body["as_of"] == out["as_of"]
    assert_audit_ok(api)


def test_leaderboard_parameters(api: Api) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start)["contest_id"]
    assert board(api, cid, 1, limit=500).status == 200
    for bad in ("0", "501", "x", "-1", "1.5"):
        r = board(api, cid, 1, limit=bad)
        assert (r.status, r.code) == (422, "invalid_value"), bad
    assert (board(api, cid, 3).status, board(api, cid, 3).code) == (404, "round_not_found")
    assert (board(api, cid, 0).status, board(api, cid, 0).code) == (404, "round_not_found")
    assert (board(api, cid, "x").status, board(api, cid, "x").code) == (422, "invalid_value")
    r = api.get(f"/v1/contests/{cid}/leaderboard", token=api.admin())
    assert (r.status, r.code) == (422, "missing_field")
    r = board(api, "cst_nope", 1)
    assert (r.status, r.code) == (404, "contest_not_found")


def test_limit_and_standing_with_gap(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rounds=1, weights={**WEIGHTS, "merchants_onboarded": 0,
                                                        "active_merchants": 0, "gmv_yuan": 1})["contest_id"]
    partners = [api.new_partner(f"P{i}") for i in range(3)]
    for i, pid in enumerate(partners):
        record_payment(api, new_shop(api, pid), "u1", 1000 * (i + 1), start + timedelta(hours=20))
    poller.drain()
    rank_now(api)
    r = board(api, cid, 1, limit=2)
    assert [e["partner_id"] for e in r.body["entries"]] == [partners[2], partners[1]]
    s = api.get(f"/v1/partners/{partners[0]}/standing?contest_id={cid}&round=1",
                token=api.partner_token(partners[0]))
    assert s.status == 200, s.body
    assert (s.body["rank"], s.body["score"], s.body["gap_to_next_rank"], s.body["next_rank"]) == (3, 10, 10, 2)
    assert s.body["metrics"]["gmv_yuan"] == 10
    top = api.get(f"/v1/partners/{partners[2]}/standing?contest_id={cid}&round=1", token=api.admin())
    assert (top.body["rank"], top.body["gap_to_next_rank"]) == (1, None)
    other = api.new_partner()
    none = api.get(f"/v1/partners/{other}/standing?contest_id={cid}&round=1", token=api.partner_token(other))
    assert none.status == 200 and none.body["rank"] is None and none.body["gap_to_next_rank"] == 10
    assert_audit_ok(api)


def test_partners_see_only_what_the_contract_allows(api: Api) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start)["contest_id"]
    pa, pb = api.new_partner(), api.new_partner()
    m = api.new_merchant(pa)
    assert board(api, cid, 1, token=api.partner_token(pa)).status == 200
    path = f"/v1/partners/{pa}/standing?contest_id={cid}&round=1"
    assert api.get(path, token=api.partner_token(pa)).status == 200
    r = api.get(path, token=api.partner_token(pb))
    assert (r.status, r.code) == (403, "forbidden_tenant")
    for token in (api.merchant_token(m["merchant_id"]), api.customer_token("2088000000000001")):
        assert board(api, cid, 1, token=token).status == 403
        assert api.get(path, token=token).status == 403
    r = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.partner_token(pa))
    assert (r.status, r.code) == (403, "forbidden_role")
    assert api.get(f"/v1/contests/{cid}/leaderboard?round=1").status == 401


def test_scores_use_exact_decimal_weights(api: Api) -> None:
    c = api.services.contests.contest(create_contest(api, window_start())["contest_id"])
    assert c.weights.gmv_yuan == Decimal("0.5")


def test_end_to_end_through_the_terminal_endpoints(api: Api, poller: LocalStreamPoller) -> None:
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rounds=1)["contest_id"]
    pid = api.new_partner("Delta")
    term = api.new_terminal(api.new_merchant(pid))
    paid = start + timedelta(hours=20)
    for i in range(4):  # one buyer, one day: the cap counts 3
        body = {"out_trade_no": f"e2e{i}", "amount_fen": 1000 * (i + 1), "buyer_id": "2088000000000009",
                "paid_at": (paid + timedelta(minutes=i)).isoformat()}
        r = api.signed(term, "/v1/terminal/payments", body)
        assert r.status == 200, r.body
    r = api.signed(term, "/v1/terminal/refunds", {"out_trade_no": "e2e0", "out_request_no": "r1", "amount_fen": 500})
    assert r.status == 200, r.body
    poller.drain()
    rank_now(api)
    entries = board(api, cid, 1).body["entries"]
    assert [(e["partner_id"], e["metrics"]["gmv_fen"], e["metrics"]["counted_payments"]) for e in entries] \
        == [(pid, 500 + 2000 + 3000, 3)]
    audit = api.get("/v1/admin/audit", token=api.admin()).body
    check = next(ch for ch in audit["checks"] if ch["name"] == "contest_metrics")
    assert check["ok"], check["detail"]
    assert_audit_ok(api)


# ---------------------------------------------------------------- revision 2: confirmed payments only


def verify_binding(api: Api, shop: Shop) -> None:
    """An admin verifies the shop's Alipay seller id (the binding its merchant body claimed)."""
    r = api.call("PUT", f"/v1/admin/merchants/{shop.merchant_id}/bindings/alipay", {"id": shop.seller_id},
                 token=api.admin())
    assert r.status == 200 and r.body["verified"] is True, r.body


def from_alipay(shop: Shop, otn: str, amount: int, buyer: str, paid: datetime) -> dict[str, str]:
    """Alipay's RSA2-signed notification that `buyer` paid `amount` fen to the shop's seller id,
    `gmt_payment` = `paid` on the platform's clock (Beijing time, to the second)."""
    assert shop.seller_id is not None
    total = f"{amount // 100}.{amount % 100:02d}"
    return signed(notice(shop.seller_id, otn, total=total, buyer=buyer, paid=paid.astimezone(ALIPAY_TZ)))


def payment_doc(api: Api, shop: Shop, otn: str) -> dict[str, Any]:
    r = api.get(f"/v1/merchants/{shop.merchant_id}/payments/{otn}", token=api.admin())
    assert r.status == 200, r.body
    return dict(r.body)


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def standings(api: Api, cid: str, n: int) -> dict[str, tuple[int, int, int]]:
    """partner -> (gmv_fen, counted_payments, merchants_onboarded) on the round's board, ranked now."""
    api.services.clock.advance(1)
    rank_now(api)
    return {e["partner_id"]: (e["metrics"]["gmv_fen"], e["metrics"]["counted_payments"],
                              e["metrics"]["merchants_onboarded"]) for e in board(api, cid, n).body["entries"]}


def test_confirmed_only_contest_through_http_and_the_stream(ali: Api, stream_poller: LocalStreamPoller) -> None:
    """A contest created with the default rules counts only what the platform confirmed — a
    verified Alipay notification through a verified binding — at the platform's time."""
    api, poller = ali, stream_poller
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    c = create_contest(api, start, rules=None)
    cid = c["contest_id"]
    assert c["rules"]["require_platform_confirmation"] is True
    pa, pb = api.new_partner("Alpha"), api.new_partner("Beta")
    sa, sb = new_shop(api, pa, seller_id=seller()), new_shop(api, pb, seller_id=seller())
    verify_binding(api, sa)
    verify_binding(api, sb)
    d1 = start + timedelta(days=1, hours=10)

    a1 = record_payment(api, sa, "u1", 800, d1)
    a2 = record_payment(api, sa, "u2", 2000, d1 + timedelta(hours=1))
    record_payment(api, sb, "u3", 500_000, d1)  # invented: the platform never confirms it
    poller.drain()
    assert standings(api, cid, 1) == {}

    # confirmed after the ranking: the next ranking counts it, at the platform's time
    notified = [from_alipay(sa, a1, 800, "u1", d1 + timedelta(seconds=3))]
    ok(post(api, notified[-1]))
    poller.drain()
    assert standings(api, cid, 1) == {pa: (800, 1, 1)}

    # round 1 over: a terminal backdating a payment into it gains nothing there
    api.services.clock.set(start + timedelta(days=8))
    b2 = record_payment(api, sb, "u4", 1200, d1 + timedelta(hours=2))
    notified.append(from_alipay(sb, b2, 1200, "u4", start + timedelta(days=8)))  # paid now, says Alipay
    ok(post(api, notified[-1]))
    # confirmed after the round ended, before settlement: counts
    notified.append(from_alipay(sa, a2, 2000, "u2", d1 + timedelta(hours=1, seconds=3)))
    ok(post(api, notified[-1]))
    poller.drain()
    assert standings(api, cid, 1) == {pa: (2800, 2, 1)}
    # in round 2 at the platform's time; Beta's first recorded payment is in round 1: not onboarded
    assert standings(api, cid, 2) == {pb: (1200, 1, 0)}
    assert at(payment_doc(api, sb, b2)["platform_paid_at"]) == start + timedelta(days=8)
    assert at(payment_doc(api, sb, b2)["paid_at"]) == d1 + timedelta(hours=2)  # as first recorded

    # the platform redelivers every notification: nothing changes
    docs = {o: payment_doc(api, s, o) for s, o in ((sa, a1), (sa, a2), (sb, b2))}
    for params in notified:
        ok(post(api, params))
    poller.drain()
    assert {o: payment_doc(api, s, o) for s, o in ((sa, a1), (sa, a2), (sb, b2))} == docs
    assert standings(api, cid, 1) == {pa: (2800, 2, 1)}
    assert standings(api, cid, 2) == {pb: (1200, 1, 0)}

    settled = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin())
    assert settled.status == 200, settled.body
    assert [(e["partner_id"], e["metrics"]["gmv_fen"], e["metrics"]["merchants_onboarded"])
            for e in settled.body["entries"]] == [(pa, 2800, 1)]

    # redelivering every record (from TRIM_HORIZON, through the deployed function) changes nothing
    before = {(n, pid): stream_metrics(api, cid, n, pid).key() for n in (1, 2) for pid in (pa, pb)}
    replay = LocalStreamPoller({api.services.config.table_name(t): (
        lambda ev, t=t: api.client.lambda_.invoke(f"contest_{t}_stream", ev)) for t in stream_tables()},
        endpoint=poller.endpoint)
    assert replay.drain() > 0
    assert {(n, pid): stream_metrics(api, cid, n, pid).key() for n in (1, 2) for pid in (pa, pb)} == before
    # and so does the platform redelivering after settlement
    for params in notified:
        ok(post(api, params))
    poller.drain()
    again = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin())
    assert again.body == settled.body
    assert {(n, pid): stream_metrics(api, cid, n, pid).key() for n in (1, 2) for pid in (pa, pb)} == before
    assert_audit_ok(api)


def test_the_platforms_time_and_amount_decide_whatever_the_terminal_says(ali: Api,
                                                                        stream_poller: LocalStreamPoller) -> None:
    """Round 1 has ended (not settled) when the terminal reports: a `paid_at` backdated into it
    gains nothing there, the platform's `gmt_payment` places the payment — in round 2 for the
    lie, in round 1 for an offline terminal's honest late upload — and an inflated amount is a
    conflict that confirms nothing."""
    api, poller = ali, stream_poller
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rules=None)["contest_id"]
    pid = api.new_partner("Backdater")
    shop = new_shop(api, pid, seller_id=seller())
    verify_binding(api, shop)
    now = start + timedelta(days=8, hours=3)
    api.services.clock.set(now)

    backdated = record_payment(api, shop, "u1", 5000, start + timedelta(days=2))  # "paid" in round 1
    ok(post(api, from_alipay(shop, backdated, 5000, "u1", now)))  # the platform: paid now, round 2
    honest = record_payment(api, shop, "u2", 700, start + timedelta(days=3, hours=12))
    ok(post(api, from_alipay(shop, honest, 700, "u2", start + timedelta(days=3, hours=12, seconds=2))))
    # the platform first, then the terminal claiming an earlier time: the payment keeps the platform's
    first = f"o{secrets.token_hex(8)}"
    reach(api, now + timedelta(minutes=1))
    ok(post(api, from_alipay(shop, first, 3000, "u3", now + timedelta(minutes=1))))
    body = {"out_trade_no": first, "amount_fen": 3000, "buyer_id": "u3",
            "paid_at": (start + timedelta(days=2, hours=1)).isoformat()}
    r = api.signed(shop.terminal, "/v1/terminal/payments", body)
    assert r.status == 200 and r.body["duplicate"] is True, r.body
    doc = payment_doc(api, shop, first)
    assert at(doc["paid_at"]) == at(doc["platform_paid_at"]) == now + timedelta(minutes=1) and doc["confirmed"]
    # an inflated amount: the platform disagrees, nothing is confirmed, nothing counts
    inflated = record_payment(api, shop, "u4", 90_000, start + timedelta(days=4))
    fail(post(api, from_alipay(shop, inflated, 1200, "u4", start + timedelta(days=4, seconds=1))), 409)
    doc = payment_doc(api, shop, inflated)
    assert doc["confirmed"] is False and doc["flags"] == ["platform_conflict"]
    poller.drain()

    # onboarded in round 1: its first recorded payment (the backdated one) is there, and so is a
    # confirmed counted payment (the honest one)
    assert standings(api, cid, 1) == {pid: (700, 1, 1)}
    assert standings(api, cid, 2) == {pid: (8000, 2, 0)}
    settled = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin())
    assert settled.status == 200, settled.body
    assert [(e["partner_id"], e["metrics"]["gmv_fen"], e["metrics"]["counted_payments"],
             e["metrics"]["merchants_onboarded"]) for e in settled.body["entries"]] == [(pid, 700, 1, 1)]
    assert_audit_ok(api)


def test_a_claimed_binding_confirms_nothing_until_an_admin_verifies_it(ali: Api,
                                                                       stream_poller: LocalStreamPoller) -> None:
    """Notifications through a binding the merchant body only claimed are recorded but confirm
    nothing; verifying it after the round ended (before settlement) confirms them, the next
    ranking moves and the settlement counts them; redeliveries change nothing."""
    api, poller = ali, stream_poller
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rules=None)["contest_id"]
    pid = api.new_partner("Claimant")
    shop = new_shop(api, pid, seller_id=seller())  # claimed, not verified
    d1 = start + timedelta(days=2, hours=9)
    terminal_first = record_payment(api, shop, "u1", 1500, d1)
    platform_first = f"o{secrets.token_hex(8)}"
    reach(api, d1 + timedelta(hours=1))
    notified = [from_alipay(shop, terminal_first, 1500, "u1", d1 + timedelta(seconds=4)),
                from_alipay(shop, platform_first, 2500, "u2", d1 + timedelta(hours=1))]
    for params in notified:
        ok(post(api, params))
    poller.drain()
    assert standings(api, cid, 1) == {}
    docs = {o: payment_doc(api, shop, o) for o in (terminal_first, platform_first)}
    assert [(d["confirmed"], d["channels"]) for d in docs.values()] == [(False, ["terminal", "alipay"]),
                                                                       (False, ["alipay"])]
    for params in notified:  # redelivered through the claimed binding: still nothing
        ok(post(api, params))
    poller.drain()
    assert {o: payment_doc(api, shop, o) for o in docs} == docs
    assert standings(api, cid, 1) == {}

    api.services.clock.set(start + timedelta(days=8))  # round 1 has ended
    verify_binding(api, shop)
    docs = {o: payment_doc(api, shop, o) for o in docs}
    assert all(d["confirmed"] for d in docs.values())
    assert at(docs[terminal_first]["platform_paid_at"]) == d1 + timedelta(seconds=4)
    assert at(docs[platform_first]["platform_paid_at"]) == d1 + timedelta(hours=1)
    poller.drain()
    assert standings(api, cid, 1) == {pid: (4000, 2, 1)}

    for params in notified:  # redelivered through the verified binding: nothing changes
        ok(post(api, params))
    poller.drain()
    assert {o: payment_doc(api, shop, o) for o in docs} == docs
    assert standings(api, cid, 1) == {pid: (4000, 2, 1)}
    r = api.post("/v1/admin/jobs/confirm_bindings", token=api.admin())
    assert r.status == 200 and r.body["result"]["bindings_left"] == 0
    settled = api.post(f"/v1/contests/{cid}/rounds/1/settle", token=api.admin())
    assert settled.status == 200, settled.body
    assert [(e["partner_id"], e["metrics"]["gmv_fen"], e["metrics"]["counted_payments"],
             e["metrics"]["merchants_onboarded"]) for e in settled.body["entries"]] == [(pid, 4000, 2, 1)]
    assert_audit_ok(api)


@pytest.fixture
def wx(test_config: Config, stream_poller: LocalStreamPoller) -> Iterator[Api]:
    """As `ali`, with WeChat Pay configured too (tests/wechatpay_support.py's platform keys)."""
    import app as app_module
    from tests.wechatpay_support import wechat_config

    config = wechat_config(dataclasses.replace(test_config, alipay_public_key=PUBLIC_PEM, alipay_app_id=APP_ID))
    services = bootstrap(config, clock=OffsetClock(), before_audit=stream_poller.drain)
    app_module.runtime.install(services)
    try:
        stream_poller.drain()
        yield Api(Client(app_module.app), services)
    finally:
        app_module.runtime.install(None)


def test_wechat_pay_confirms_count_at_success_time_and_amount_total(wx: Api, stream_poller: LocalStreamPoller) -> None:
    """A confirmed-only contest counts a WeChat Pay payment confirmed through a verified
    `wechatpay` binding — at `success_time`, whatever the terminal said — beside an Alipay one;
    a claimed sub_mchid's notifications count nothing."""
    from tests.wechatpay_support import new_wechat_shop, notify_paid
    from tests.wechatpay_support import ok as wx_ok

    api, poller = wx, stream_poller
    start = window_start()
    api.services.clock.set(start + timedelta(days=1))
    cid = create_contest(api, start, rules=None)["contest_id"]
    pid, merchant, sub = new_wechat_shop(api)
    shop = Shop(pid, merchant["merchant_id"], api.new_terminal(merchant))
    cpid, claimed, claimed_sub = new_wechat_shop(api, verified=False)
    d1 = start + timedelta(days=1, hours=10)
    joined = record_payment(api, shop, "oBuyerA", 1500, d1 + timedelta(days=5))  # the terminal says day 6
    wx_ok(notify_paid(api, sub, joined, 1500, "oBuyerA", success_time=d1))  # the platform: day 1
    wx_ok(notify_paid(api, sub, "wxonly1", 2500, "oBuyerB", success_time=d1 + timedelta(hours=1)))
    wx_ok(notify_paid(api, claimed_sub, "wxclaim1", 9900, "oBuyerC", success_time=d1))
    poller.drain()
    assert standings(api, cid, 1) == {pid: (4000, 2, 1)}
    doc = payment_doc(api, shop, joined)
    assert at(doc["platform_paid_at"]) == d1 and at(doc["paid_at"]) == d1 + timedelta(days=5)
    assert doc["channels"] == ["terminal", "wechatpay"] and doc["confirmed"] is True
    assert cpid not in standings(api, cid, 1)
    assert_audit_ok(api)

"""The demo that `make run` seeds, on DynamoDB Local, read back through the read methods the API
serves: the dashboards' 30-day series, the payments (confirmed and not, member discounts,
refunds counted once), the members, the contest's ranked leaderboards with both partners —
unchanged once the stream poller (as `make run`'s server runs it, from TRIM_HORIZON) has
replayed every record of the seeding — and a second seeding that creates nothing.

The demo gets tables of its own (`demo_tables`): its contest covers today and every contest
ranks every partner, so on the suite's shared tables it would count other tests' payments, which
no stream poller feeds into its counters, and their audits would rightly fail. The tables trust
the local platforms' keys of `demo_data_dir`, as `make run` trusts those of `.dynamodb/`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib import storage
from chalicelib.auth import Principal
from chalicelib.bootstrap import Services, bootstrap
from chalicelib.clock import OffsetClock
from chalicelib.config import Config
from chalicelib.tables import ALL_MODELS
from localdev import demo_story
from localdev.demo import seed
from localdev.platform_keys import LOCAL_ALIPAY_APP_ID, public_pem
from localdev.streams import poller_for
from localdev.wechatpay_platform import local_platform

ADMIN = Principal(sub="console-admin", role="admin")


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make run`'s data folder: the local platforms' keys (generated once) and the state files."""
    folder = tmp_path_factory.mktemp("demo-data")
    public_pem(folder)
    local_platform(folder)
    return folder


@pytest.fixture(scope="session")
def demo_tables(test_config: Config, demo_data_dir: Path) -> Config:
    """The configuration of the demo's own tables, with the local platforms configured as
    `scripts/run_local.py` configures them."""
    wechat = local_platform(demo_data_dir).env()
    config = dataclasses.replace(
        test_config, table_prefix=f"{test_config.table_prefix}demo-", alipay_app_id=LOCAL_ALIPAY_APP_ID,
        alipay_public_key=public_pem(demo_data_dir), wechatpay_sp_mchid=wechat["WECHATPAY_SP_MCHID"],
        wechatpay_apiv3_key=wechat["WECHATPAY_APIV3_KEY"], wechatpay_public_key_id=wechat["WECHATPAY_PUBLIC_KEY_ID"],
        wechatpay_public_key=wechat["WECHATPAY_PUBLIC_KEY"])
    storage.bind(config, ALL_MODELS, rebind=True)  # these tables, for a moment
    storage.create_tables(ALL_MODELS)
    storage.bind(test_config, ALL_MODELS, rebind=True)
    return config


@pytest.fixture
def services(test_config: Config, demo_tables: Config) -> Iterator[Services]:
    """The application on the demo's tables, installed for the HTTP views (as the shared
    fixture installs its own); the shared tables are bound again afterwards."""
    import app as app_module

    services = bootstrap(demo_tables, clock=OffsetClock(), rebind_tables=True)
    app_module.runtime.install(services)
    try:
        yield services
    finally:
        app_module.runtime.install(None)
        storage.bind(test_config, ALL_MODELS, rebind=True)


@pytest.fixture
def seeded(services: Services, demo_data_dir: Path) -> dict[str, Any]:
    demo, created = seed(services, demo_data_dir / "demo.json")
    assert created
    return demo


def _today(services: Services) -> date:
    return services.clock.now().astimezone(services.config.tz).date()


def _days(services: Services) -> list[str]:
    today = _today(services)
    return [(today - timedelta(days=n)).isoformat() for n in range(demo_story.DAYS - 1, -1, -1)]


def _series(services: Services, merchant_id: str) -> list[dict[str, Any]]:
    days = _days(services)
    return list(services.payment_figures.series(ADMIN, merchant_id, {"from": days[0], "to": days[-1]})["days"])


def _payments(services: Services, merchant_id: str) -> list[dict[str, Any]]:
    """The merchant's payments of the story's days, as the console lists them day by day."""
    found = []
    for day in _days(services):
        page = services.payment_reads.day(ADMIN, merchant_id, {"date": day, "limit": "200"})
        assert page["next_cursor"] is None
        found += page["payments"]
    return found


def _members(services: Services, merchant_id: str) -> list[dict[str, Any]]:
    return list(services.membership_reads.memberships(ADMIN, merchant_id, {"limit": "200"})["memberships"])


def _boards(services: Services, contest_id: str, rounds: int) -> dict[int, dict[str, Any]]:
    return {n: services.contests.leaderboard(ADMIN, contest_id, str(n), None) for n in range(1, rounds + 1)}


def _standings(boards: dict[int, dict[str, Any]]) -> dict[int, list[tuple[Any, ...]]]:
    """What a board says, without when it was ranked."""
    return {n: [(e["rank"], e["partner_id"], e["score"], e["metrics"]) for e in b["entries"]]
            for n, b in boards.items()}


def test_the_demo_fills_every_page_and_a_second_seed_creates_nothing(
        services: Services, seeded: dict[str, Any], demo_data_dir: Path) -> None:
    demo = seeded
    lao_wang, little_leaf = demo["merchants"]
    sea_breeze = demo["second_partner"]["merchants"][0]
    assert demo["second_partner"]["partner_name"] == "Demo Partner (Ningbo)"
    assert demo["history"]["platforms"] == ["alipay", "wechatpay"]

    # the dashboards: the last 30 days, each day's figures those of the recorded payments
    series = {m["merchant_id"]: _series(services, m["merchant_id"]) for m in (lao_wang, little_leaf, sea_breeze)}
    payments = {mid: _payments(services, mid) for mid in series}
    for mid, days in series.items():
        assert len(days) == demo_story.DAYS and days[-1]["date"] == _today(services).isoformat()
        assert sum(d["payments"] for d in days) == len(payments[mid]) > 0
        assert sum(d["gmv_fen"] for d in days) == sum(p["amount_fen"] - p["refunded_fen"] for p in payments[mid])
    lw_days = series[lao_wang["merchant_id"]]
    assert sum(1 for d in lw_days[:-1] if d["payments"] >= 2) == demo_story.DAYS - 1  # 2-3 a day, today so far
    assert sum(d["refunds_fen"] for d in lw_days) == 1200 + 3600
    assert max(d["customers"] for d in lw_days) >= 2
    assert sum(len(p) for p in payments.values()) == demo["history"]["payments"] >= 90

    # payments: confirmed (terminal and platform through a verified binding) and not
    lw = payments[lao_wang["merchant_id"]]
    confirmed = [p for p in lw if p["confirmed"]]
    assert confirmed and all(set(p["channels"]) & {"alipay", "wechatpay"} for p in confirmed)
    assert {"alipay", "wechatpay"} <= {c for p in confirmed for c in p["channels"]}
    assert any(p["channels"] == ["terminal"] and not p["confirmed"] for p in lw)
    assert any(p["channels"][0] != "terminal" and "terminal" in p["channels"] for p in lw)  # the platform first
    ll = payments[little_leaf["merchant_id"]]
    assert ll and not any(p["confirmed"] for p in ll)  # its ids are claims: notified, never confirmed
    assert any(set(p["channels"]) & {"alipay", "wechatpay"} for p in ll)
    assert sum(p["confirmed"] for ps in payments.values() for p in ps) == demo["history"]["confirmed"]
    # members' payments carry the discount, counted as savings; nothing is flagged
    discounted = [p for p in lw if p["discount_fen"]]
    assert discounted and all(p["member_savings_fen"] == p["discount_fen"] for p in discounted)
    assert not [p for ps in payments.values() for p in ps if p["flags"]]
    # two refunds, each reported by the terminal and by the platform, each counted once
    refunded = sorted((p["refunded_fen"], p["amount_fen"], tuple(p["channels"])) for p in lw if p["refunded_fen"])
    assert [(r[0], len(r[2])) for r in refunded] == [(1200, 2), (3600, 2)]
    assert refunded[1][1] == 3600  # refunded in full

    # members: active ones, one that asked back its shortfall; the other shop's member
    members = _members(services, lao_wang["merchant_id"])
    assert sorted(m["status"] for m in members) == ["active"] * 4 + ["refunded"]
    assert sum(m["savings_fen"] for m in members) == sum(p["member_savings_fen"] - p["savings_reversed_fen"]
                                                         for p in lw)
    assert [m["status"] for m in _members(services, sea_breeze["merchant_id"])] == ["active"]
    assert {m["customer_id"] for m in members} == {m["customer_id"] for m in demo["customers"]["members"]
                                                   if m["merchant_id"] == lao_wang["merchant_id"]}
    assert demo_story.ALIPAY_DEMO_BUYER in demo["customers"]["repeat_buyers"]
    dashboard = services.payment_figures.dashboard(ADMIN, lao_wang["merchant_id"], None)
    assert dashboard["members"]["active"] == 4

    # the contest: rounds 1-4 ranked (1 settled with its winners, 4 running), both partners on them
    contest = demo["contest"]
    assert (contest["ranked_rounds"], contest["settled_rounds"], contest["running_round"]) == ([1, 2, 3, 4], [1], 4)
    boards = _boards(services, contest["contest_id"], len(contest["rounds"]))
    assert boards[1]["final"] and boards[1]["winners"]
    assert all(boards[n]["as_of"] and not boards[n]["final"] for n in (2, 3, 4))
    assert boards[5]["entries"] == [] and boards[5]["as_of"] is None  # not started
    demo_partners = {demo["partner_id"], demo["second_partner"]["partner_id"]}
    for n in (1, 2, 3, 4):
        assert demo_partners <= {e["partner_id"] for e in boards[n]["entries"]}, boards[n]
    settled = services.contests.get(ADMIN, contest["contest_id"])["rounds"]
    assert [r["settled"] for r in settled] == [True, False, False, False, False]

    # seeding again: the same demo, nothing new anywhere
    contests = len(services.contests.all_contests(ADMIN)["contests"])
    partners = services.onboarding_reads.partners(ADMIN, {"limit": "200"})["partners"]
    again, created = seed(services, demo_data_dir / "demo.json")
    assert (again, created) == (demo, False)
    assert len(services.contests.all_contests(ADMIN)["contests"]) == contests
    assert services.onboarding_reads.partners(ADMIN, {"limit": "200"})["partners"] == partners
    assert {mid: _series(services, mid) for mid in series} == series
    assert {mid: _payments(services, mid) for mid in series} == payments
    assert _members(services, lao_wang["merchant_id"]) == members

    # the server's stream poller replays every record of the seeding: no count moves
    before = _standings(boards)
    poller = poller_for(services)
    poller.drain()
    services.jobs["rank_contests"]()
    assert _standings(_boards(services, contest["contest_id"], len(contest["rounds"]))) == before
    checks = [check() for check in services.audit_checks]
    assert all(c["ok"] for c in checks), checks
    assert next(c for c in checks if c["name"] == "contest_metrics")["detail"]["compared"] > 0

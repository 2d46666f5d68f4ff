"""The demo data of `make run` is seeded once and reused across restarts; its tokens and
terminal secrets work against the API as printed; its first merchant's platform ids are verified
(the local platforms' notifications confirm its payments), the second one's are claims.

On the demo's own tables (see `test_demo_data.py`: its contest would count the shared tables'
payments), with the story cut to its last two days' payments: its history is checked there."""

from __future__ import annotations

import json
import secrets
import time
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest

from chalicelib.auth import decode_bearer
from chalicelib.onboarding.platforms import ALIPAY, WECHATPAY
from localdev.demo import SEEDER, seed, tokens
from localdev.demo_story import Sale
from tests.helpers import Api, TerminalCreds
from tests.integration.test_demo_data import demo_data_dir, demo_tables, services  # noqa: F401 - fixtures


def _sub_mchid() -> str:
    return "17" + str(secrets.randbelow(10**8)).zfill(8)


@pytest.fixture(autouse=True)
def own_seller_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables are shared by the whole suite: never claim the demo's fixed platform ids here."""
    import localdev.demo

    merchants = [{**m, "alipay_seller_id": "2088" + str(secrets.randbelow(10**12)).zfill(12),
                  "wechat_sub_mchid": _sub_mchid()} for m in localdev.demo.MERCHANTS]
    monkeypatch.setattr(localdev.demo, "MERCHANTS", merchants)


@pytest.fixture(autouse=True)
def short_story(monkeypatch: pytest.MonkeyPatch) -> None:
    import localdev.demo

    story = localdev.demo.story

    def last_days(today: date, tz: tzinfo, now: datetime) -> list[Any]:
        return [e for e in story(today, tz, now) if isinstance(e, Sale) and e.at >= now - timedelta(days=2)]

    monkeypatch.setattr(localdev.demo, "story", last_days)


def _bindings(api: Api, merchant: dict[str, Any]) -> dict[str, tuple[str, bool] | None]:
    """Who holds each of the demo merchant's platform ids: (merchant_id, verified)."""
    held: dict[str, tuple[str, bool] | None] = {}
    for platform, key in ((ALIPAY, "alipay_seller_id"), (WECHATPAY, "wechat_sub_mchid")):
        b = api.services.onboarding_repo.get_binding(platform, merchant[key]) if merchant[key] else None
        held[platform] = (b.merchant_id, b.verified) if b else None
    return held


def test_seed_is_idempotent_and_its_credentials_work(api: Api, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    demo, created = seed(api.services, state)
    assert created and len(demo["merchants"]) == 2
    assert all(m["stores"] and m["terminals"] for m in demo["merchants"])
    first, second = demo["merchants"]
    assert _bindings(api, first) == {ALIPAY: (first["merchant_id"], True), WECHATPAY: (first["merchant_id"], True)}
    assert _bindings(api, second) == {ALIPAY: (second["merchant_id"], False),
                                      WECHATPAY: (second["merchant_id"], False)}
    again, created_again = seed(api.services, state)
    assert (again, created_again) == (demo, False)
    assert json.loads(state.read_text()) == demo
    assert oct(state.stat().st_mode & 0o777) == "0o600"

    toks = tokens(api.secret, demo)
    assert decode_bearer(f"Bearer {toks['partner']}", api.secret, time.time()).partner_id == demo["partner_id"]
    r = api.post(f"/v1/partners/{demo['partner_id']}/merchants",
                 {"name": "Tea", "category": "retail", "stores": [{"name": "S"}]}, token=toks["partner"])
    assert r.status == 201
    t = demo["merchants"][1]["terminals"][0]
    creds = TerminalCreds(t["terminal_id"], t["secret"], t["store_id"], demo["merchants"][1]["merchant_id"])
    assert api.signed(creds, "/v1/terminal/ping", {}).status == 200


def test_a_state_file_naming_lost_data_is_reseeded(api: Api, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    state.write_text(json.dumps({"partner_id": "ptn_gone", "merchants": []}))
    demo, created = seed(api.services, state)
    assert created and demo["partner_id"] != "ptn_gone"
    # the fixed demo seller ids are taken by now: the seed still succeeds, with WeChat Pay ids of its own
    demo2, created2 = seed(api.services, tmp_path / "other.json")
    assert created2 and demo2["partner_id"] != demo["partner_id"]
    first = demo2["merchants"][0]
    assert first["wechat_sub_mchid"] != demo["merchants"][0]["wechat_sub_mchid"]
    assert _bindings(api, first)[WECHATPAY] == (first["merchant_id"], True)


def test_a_demo_from_before_wechatpay_gets_a_verified_sub_merchant(api: Api, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    demo, _ = seed(api.services, state)
    for m in demo["merchants"]:  # as a demo seeded before merchants had WeChat Pay ids
        api.services.onboarding.delete_binding(SEEDER, m["merchant_id"], WECHATPAY)
        del m["wechat_sub_mchid"]
    state.write_text(json.dumps(demo))

    again, created = seed(api.services, state)
    first, second = again["merchants"]
    assert not created and second["wechat_sub_mchid"] is None
    assert _bindings(api, first)[WECHATPAY] == (first["merchant_id"], True)
    assert json.loads(state.read_text()) == again
    assert seed(api.services, state) == (again, False)

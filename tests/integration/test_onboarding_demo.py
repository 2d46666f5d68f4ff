"""The demo data of `make run` is seeded once and reused across restarts; its tokens and
terminal secrets work against the API as printed."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from chalicelib.auth import decode_bearer
from localdev.demo import seed, tokens
from tests.helpers import Api, TerminalCreds


@pytest.fixture(autouse=True)
def own_seller_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables are shared by the whole suite: never claim the demo's fixed seller ids here."""
    import localdev.demo

    merchants = [{**m, "alipay_seller_id": "2088" + str(secrets.randbelow(10**12)).zfill(12)}
                 for m in localdev.demo.MERCHANTS]
    monkeypatch.setattr(localdev.demo, "MERCHANTS", merchants)


def test_seed_is_idempotent_and_its_credentials_work(api: Api, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    demo, created = seed(api.services, state)
    assert created and len(demo["merchants"]) == 2
    assert all(m["stores"] and m["terminals"] for m in demo["merchants"])
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
    # the fixed demo seller ids are taken by now: the seed still succeeds
    demo2, created2 = seed(api.services, tmp_path / "other.json")
    assert created2 and demo2["partner_id"] != demo["partner_id"]

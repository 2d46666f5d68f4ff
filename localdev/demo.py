"""Demo data for `make run`: a partner and two merchants with stores and terminals, created
through the services (as a real admin would), idempotently. Each merchant carries an Alipay
seller id and a WeChat Pay sub-merchant id; the first merchant's are verified, so the local
platforms' notifications (`scripts/alipay_notify.py`, `scripts/wechatpay_notify.py`) confirm
its payments.

Terminal secrets are shown only once by the API, so the demo keeps them in a git-ignored file
(`.dynamodb/demo.json`, next to the local data) to print them again after a restart.

`make run` seeds it; `python -m localdev.demo STATE_FILE` seeds the tables the environment's
`Config` names (created by `python -m localdev.tables`) and prints the demo.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.auth import Principal, issue_token
from chalicelib.onboarding.platforms import WECHATPAY

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services

SEEDER = Principal(sub="demo-seed", role="admin")
TOKEN_TTL_SECONDS = 365 * 24 * 3600  # local-only tokens, signed with the local secret

MERCHANTS: list[dict[str, Any]] = [
    {"name": "Lao Wang Noodles", "category": "restaurant", "city": "Hangzhou",
     "alipay_seller_id": "2088000000000001", "wechat_sub_mchid": "1900000201",
     "stores": [{"name": "Lao Wang Noodles - West Lake", "address": "1 Nanshan Rd"},
                {"name": "Lao Wang Noodles - Station", "address": "2 Huancheng N Rd"}]},
    {"name": "Little Leaf Tea", "category": "retail", "city": "Hangzhou",
     "alipay_seller_id": "2088000000000002", "wechat_sub_mchid": "1900000202",
     "stores": [{"name": "Little Leaf Tea", "address": "9 Hefang St"}]},
]


def _still_there(services: Services, demo: dict[str, Any]) -> bool:
    repo = services.onboarding_repo
    if repo.get_partner(demo.get("partner_id", "")) is None:
        return False
    return all(repo.get_terminal(t["terminal_id"]) is not None
               for m in demo.get("merchants", []) for t in m.get("terminals", []))


def seed(services: Services, state_file: Path) -> tuple[dict[str, Any], bool]:
    """The demo data, created if `state_file` is missing or names data that is gone.
    Returns (demo, created)."""
    if state_file.exists():
        demo = json.loads(state_file.read_text())
        if _still_there(services, demo):
            if _add_wechat(services, demo):
                _save(demo, state_file)
            return demo, False
    svc = services.onboarding
    partner = svc.create_partner(SEEDER, _json({"name": "Demo Partner (Hangzhou)"}))
    merchants = []
    for spec in MERCHANTS:
        spec = dict(spec)
        if services.onboarding_repo.merchant_by_seller(spec["alipay_seller_id"]) is not None:
            spec.pop("alipay_seller_id")  # left by an earlier demo whose state file was deleted
        spec["wechat_sub_mchid"] = _free_sub_mchid(services, spec["wechat_sub_mchid"])
        m = svc.create_merchant(SEEDER, partner["partner_id"], _json(spec))
        terminals = []
        for store, kind in zip(m["stores"], ("qr", "face"), strict=False):
            t = svc.create_terminal(SEEDER, m["merchant_id"], _json({"store_id": store["store_id"], "kind": kind}))
            terminals.append({"terminal_id": t["terminal_id"], "secret": t["secret"],
                              "store_id": t["store_id"], "kind": kind})
        merchants.append({"merchant_id": m["merchant_id"], "name": m["name"], "stores": m["stores"],
                          "terminals": terminals, "alipay_seller_id": m["alipay_seller_id"],
                          "wechat_sub_mchid": m["wechat_sub_mchid"]})
    # The first merchant's platform ids are verified (as an admin does once it checked them): the
    # local platforms' notifications through them confirm payments. The second one's stay claims.
    if merchants[0]["alipay_seller_id"]:
        services.confirmations.verify_binding(SEEDER, merchants[0]["merchant_id"], "alipay",
                                         _json({"id": merchants[0]["alipay_seller_id"]}))
    services.confirmations.verify_binding(SEEDER, merchants[0]["merchant_id"], WECHATPAY,
                                          _json({"id": merchants[0]["wechat_sub_mchid"]}))
    services.memberships.create_plan(SEEDER, merchants[0]["merchant_id"], _json({
        "name": "Noodle lovers' month", "fee_fen": 3000, "period_days": 30, "discount_percent": 10,
        "max_discount_per_order_fen": 500, "refund_window_days": 7}))
    demo = {"partner_id": partner["partner_id"], "partner_name": partner["name"], "merchants": merchants}
    _save(demo, state_file)
    return demo, True


def _free_sub_mchid(services: Services, wanted: str) -> str:
    """`wanted`, or a fresh id when an earlier demo (whose state file was deleted) holds it: a
    WeChat Pay id bound to no demo merchant would leave the demo notification nowhere to go."""
    sub_mchid = wanted
    while services.onboarding_repo.get_binding(WECHATPAY, sub_mchid) is not None:
        sub_mchid = "19" + "".join(secrets.choice("0123456789") for _ in range(8))
    return sub_mchid


def _add_wechat(services: Services, demo: dict[str, Any]) -> bool:
    """A demo seeded before merchants had WeChat Pay ids gets one verified for its first merchant
    (ids in a merchant body are only taken at creation, so the others get none). True if changed."""
    first = demo["merchants"][0]
    if "wechat_sub_mchid" in first:
        return False
    sub_mchid = _free_sub_mchid(services, MERCHANTS[0]["wechat_sub_mchid"])
    services.confirmations.verify_binding(SEEDER, first["merchant_id"], WECHATPAY, _json({"id": sub_mchid}))
    for m in demo["merchants"]:
        m["wechat_sub_mchid"] = sub_mchid if m is first else None
    return True


def _save(demo: dict[str, Any], state_file: Path) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(demo, indent=2) + "\n")
    state_file.chmod(0o600)


def tokens(secret: str, demo: dict[str, Any], now: float | None = None) -> dict[str, str]:
    """Long-lived local-only tokens for the demo's admin, partner and first merchant."""
    exp = (now or time.time()) + TOKEN_TTL_SECONDS
    first = demo["merchants"][0]["merchant_id"]
    return {
        "admin": issue_token(secret, sub="demo-admin", role="admin", exp=exp),
        "partner": issue_token(secret, sub="demo-partner", role="partner", exp=exp,
                               partner_id=demo["partner_id"]),
        "merchant": issue_token(secret, sub="demo-merchant", role="merchant", exp=exp, merchant_id=first),
    }


def _json(body: dict[str, Any]) -> bytes:
    """A request body as the services receive it."""
    return json.dumps(body).encode()


if __name__ == "__main__":
    from chalicelib.bootstrap import bootstrap
    from chalicelib.config import LOCAL_STAGE, Config

    # local-only code, as localdev.tables: the local stage unless the environment names one (which must be local)
    config = Config.from_env({"YUNDIAN_STAGE": LOCAL_STAGE, **os.environ})
    if len(sys.argv) != 2 or not config.is_local:
        sys.exit("usage: python -m localdev.demo STATE_FILE (the local stage only)")
    print(json.dumps(seed(bootstrap(config), Path(sys.argv[1]))[0], indent=2))

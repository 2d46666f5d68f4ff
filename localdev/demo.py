"""Demo data for `make run`: a partner and two merchants with stores and terminals, created
through the services (as a real admin would), idempotently.

Terminal secrets are shown only once by the API, so the demo keeps them in a git-ignored file
(`.dynamodb/demo.json`, next to the local data) to print them again after a restart.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.auth import Principal, issue_token

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services

SEEDER = Principal(sub="demo-seed", role="admin")
TOKEN_TTL_SECONDS = 365 * 24 * 3600  # local-only tokens, signed with the local secret

MERCHANTS: list[dict[str, Any]] = [
    {"name": "Lao Wang Noodles", "category": "restaurant", "city": "Hangzhou",
     "alipay_seller_id": "2088000000000001",
     "stores": [{"name": "Lao Wang Noodles - West Lake", "address": "1 Nanshan Rd"},
                {"name": "Lao Wang Noodles - Station", "address": "2 Huancheng N Rd"}]},
    {"name": "Little Leaf Tea", "category": "retail", "city": "Hangzhou",
     "alipay_seller_id": "2088000000000002",
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
            return demo, False
    svc = services.onboarding
    partner = svc.create_partner(SEEDER, _json({"name": "Demo Partner (Hangzhou)"}))
    merchants = []
    for spec in MERCHANTS:
        spec = dict(spec)
        if services.onboarding_repo.merchant_by_seller(spec["alipay_seller_id"]) is not None:
            spec.pop("alipay_seller_id")  # left by an earlier demo whose state file was deleted
        m = svc.create_merchant(SEEDER, partner["partner_id"], _json(spec))
        terminals = []
        for store, kind in zip(m["stores"], ("qr", "face"), strict=False):
            t = svc.create_terminal(SEEDER, m["merchant_id"], _json({"store_id": store["store_id"], "kind": kind}))
            terminals.append({"terminal_id": t["terminal_id"], "secret": t["secret"],
                              "store_id": t["store_id"], "kind": kind})
        merchants.append({"merchant_id": m["merchant_id"], "name": m["name"], "stores": m["stores"],
                          "terminals": terminals, "alipay_seller_id": m["alipay_seller_id"]})
    # The first merchant's seller id is verified (as an admin does once it checked it): the local
    # platform's notifications through it confirm payments. The second one's stays a claim.
    if merchants[0]["alipay_seller_id"]:
        services.confirmations.verify_binding(SEEDER, merchants[0]["merchant_id"], "alipay",
                                         _json({"id": merchants[0]["alipay_seller_id"]}))
    services.memberships.create_plan(SEEDER, merchants[0]["merchant_id"], _json({
        "name": "Noodle lovers' month", "fee_fen": 3000, "period_days": 30, "discount_percent": 10,
        "max_discount_per_order_fen": 500, "refund_window_days": 7}))
    demo = {"partner_id": partner["partner_id"], "partner_name": partner["name"], "merchants": merchants}
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(demo, indent=2) + "\n")
    state_file.chmod(0o600)
    return demo, True


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

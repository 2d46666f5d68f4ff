"""Demo data for `make run`, created through the services (as an admin, the terminals, the
payment platforms and the customers would), once: a restart reuses it.

- "Demo Partner (Hangzhou)" with two merchants, their stores and terminals: Lao Wang Noodles,
  whose Alipay seller id and WeChat Pay sub-merchant id are verified (the local platforms'
  notifications, `scripts/alipay_notify.py` and `scripts/wechatpay_notify.py`, confirm its
  payments), and Little Leaf Tea, whose ids are only claims; "Demo Partner (Ningbo)" with Sea
  Breeze Dumplings (verified ids), so a leaderboard has more than one partner.
- The last 30 days of business (`localdev/demo_story.py`, acted out by `localdev/demo_play.py`
  on the local test clock): ~120 payments of repeat and one-off buyers — confirmed (reported by
  the terminal and the platform through a verified binding), unconfirmed (terminal only, or
  through Little Leaf's claims) — two refunds, members of Lao Wang's and Sea Breeze's plans
  whose payments carry the member discount, one of them refunded its shortfall.
- "Demo Growth Cup", a contest of 7-day rounds that started 27 days ago: created after the
  history (which it folds into its counters; the stream poller's replay changes nothing),
  ranked by the scheduled job, round 1 settled; rounds 2 and 3 are over and wait for the
  console's admin, round 4 runs.

Terminal secrets are shown only once by the API, so the demo keeps them in a git-ignored file
(`.dynamodb/demo.json`, next to the local data) to print them again after a restart, with what
a console user looks for: the second partner, the contest, the members and repeat buyers.

`make run` seeds it; `python -m localdev.demo STATE_FILE` seeds the tables the environment's
`Config` names (created by `python -m localdev.tables`) and prints the demo. The platforms sign
with the local keys in STATE_FILE's folder, where the configuration trusts them.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time as wall
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.auth import Principal, issue_token
from chalicelib.onboarding.platforms import ALIPAY, WECHATPAY
from localdev.demo_play import PlatformSigners, Play, Played, Shop, moved_clock, publish_metrics, quiet_logs
from localdev.demo_story import Event, Sale, story

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services

SEEDER = Principal(sub="demo-seed", role="admin")
TOKEN_TTL_SECONDS = 365 * 24 * 3600  # local-only tokens, signed with the local secret

# The Hangzhou partner's merchants; the first one's platform ids are verified, the second one's claims.
MERCHANTS: list[dict[str, Any]] = [
    {"name": "Lao Wang Noodles", "category": "restaurant", "city": "Hangzhou",
     "alipay_seller_id": "2088000000000001", "wechat_sub_mchid": "1900000201",
     "stores": [{"name": "Lao Wang Noodles - West Lake", "address": "1 Nanshan Rd"},
                {"name": "Lao Wang Noodles - Station", "address": "2 Huancheng N Rd"}]},
    {"name": "Little Leaf Tea", "category": "retail", "city": "Hangzhou",
     "alipay_seller_id": "2088000000000002", "wechat_sub_mchid": "1900000202",
     "stores": [{"name": "Little Leaf Tea", "address": "9 Hefang St"}]},
]
SECOND_PARTNER = "Demo Partner (Ningbo)"
SECOND_MERCHANTS: list[dict[str, Any]] = [
    {"name": "Sea Breeze Dumplings", "category": "restaurant", "city": "Ningbo",
     "alipay_seller_id": "2088000000000003", "wechat_sub_mchid": "1900000203",
     "stores": [{"name": "Sea Breeze Dumplings - Tianyi Square", "address": "88 Zhongshan E Rd"}],
     "terminal_kinds": ("pos",)},
]
LAO_WANG_PLAN = {"name": "Noodle lovers' month", "fee_fen": 3000, "period_days": 30, "discount_percent": 10,
                 "max_discount_per_order_fen": 500, "refund_window_days": 7}
SEA_BREEZE_PLAN = {"name": "Dumpling club", "fee_fen": 2000, "period_days": 30, "discount_percent": 8,
                   "max_discount_per_order_fen": 300, "refund_window_days": 7}
ONBOARDED_DAYS_AGO = 35  # the story's payments start DAYS - 1 days ago
CONTEST_STARTED_DAYS_AGO = 27  # at midnight: rounds 1-3 are over, round 4 runs, round 5 is ahead
SETTLED_ROUND = 1
CONTEST: dict[str, Any] = {
    "name": "Demo Growth Cup", "round_days": 7, "rounds": 5,
    "weights": {"merchants_onboarded": 20, "active_merchants": 10, "gmv_yuan": 0.1, "new_members": 5},
    "rules": {"active_merchant_min_payments": 5},  # counted: confirmed payments only (the default)
    "prizes": [{"rank_from": 1, "rank_to": 1, "prize": "Gold: 2000 yuan marketing fund"},
               {"rank_from": 2, "rank_to": 3, "prize": "Silver: 500 yuan marketing fund"}],
}


def _still_there(services: Services, demo: dict[str, Any]) -> bool:
    repo = services.onboarding_repo
    if repo.get_partner(demo.get("partner_id", "")) is None:
        return False
    merchants = [*demo.get("merchants", []), *demo.get("second_partner", {}).get("merchants", [])]
    return all(repo.get_terminal(t["terminal_id"]) is not None for m in merchants for t in m.get("terminals", []))


def seed(services: Services, state_file: Path) -> tuple[dict[str, Any], bool]:
    """The demo data, created if `state_file` is missing or names data that is gone.
    Returns (demo, created)."""
    if state_file.exists():
        demo = json.loads(state_file.read_text())
        if _still_there(services, demo):
            if _add_wechat(services, demo):
                _save(demo, state_file)
            return demo, False
    now = services.clock.now()
    today = now.astimezone(services.config.tz).date()
    events = story(today, services.config.tz, now)
    signers = PlatformSigners.local(services.config, state_file.parent)
    with quiet_logs(), moved_clock(services.clock) as travel:
        # the partners onboarded their merchants a while before the payments of the story
        travel(datetime.combine(today - timedelta(days=ONBOARDED_DAYS_AGO), time(9), tzinfo=services.config.tz))
        partner, merchants = _onboard(services, "Demo Partner (Hangzhou)", MERCHANTS, verified=(0,))
        lw_plan = services.memberships.create_plan(SEEDER, merchants[0]["merchant_id"], _json(LAO_WANG_PLAN))
        partner2, merchants2 = _onboard(services, SECOND_PARTNER, SECOND_MERCHANTS, verified=(0,))
        sb_plan = services.memberships.create_plan(SEEDER, merchants2[0]["merchant_id"], _json(SEA_BREEZE_PLAN))
        merchants[0]["plan_id"], merchants[1]["plan_id"] = lw_plan["plan_id"], None
        merchants2[0]["plan_id"] = sb_plan["plan_id"]
        shops = {key: _shop(key, m, verified=key != "ll")
                 for key, m in zip(("lw", "ll", "sb"), (*merchants, *merchants2), strict=True)}
        played = Play(services, shops, signers).run(events, travel)
    with quiet_logs():
        contest = _contest(services, today)
    publish_metrics()
    demo = {"partner_id": partner["partner_id"], "partner_name": partner["name"], "merchants": merchants,
            "second_partner": {"partner_id": partner2["partner_id"], "partner_name": partner2["name"],
                               "merchants": merchants2},
            "contest": contest, "customers": _customers(played, shops),
            "history": _history(played, events, signers)}
    _save(demo, state_file)
    return demo, True


def _onboard(services: Services, name: str, specs: list[dict[str, Any]],
             verified: tuple[int, ...]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A partner with its merchants, their stores and terminals (one per store, up to two); the
    platform ids of the merchants at the indexes `verified` are verified (as an admin does once it
    checked them), the others' stay claims."""
    svc = services.onboarding
    partner = svc.create_partner(SEEDER, _json({"name": name}))
    merchants = []
    for spec in specs:
        spec = dict(spec)
        if services.onboarding_repo.merchant_by_seller(spec["alipay_seller_id"]) is not None:
            spec.pop("alipay_seller_id")  # left by an earlier demo whose state file was deleted
        spec["wechat_sub_mchid"] = _free_sub_mchid(services, spec["wechat_sub_mchid"])
        kinds = spec.pop("terminal_kinds", ("qr", "face"))
        m = svc.create_merchant(SEEDER, partner["partner_id"], _json(spec))
        terminals = []
        for store, kind in zip(m["stores"], kinds, strict=False):
            t = svc.create_terminal(SEEDER, m["merchant_id"], _json({"store_id": store["store_id"], "kind": kind}))
            terminals.append({"terminal_id": t["terminal_id"], "secret": t["secret"],
                              "store_id": t["store_id"], "kind": kind})
        merchants.append({"merchant_id": m["merchant_id"], "name": m["name"], "stores": m["stores"],
                          "terminals": terminals, "alipay_seller_id": m["alipay_seller_id"],
                          "wechat_sub_mchid": m["wechat_sub_mchid"]})
    # Verified ids: the local platforms' notifications through them confirm payments.
    for m in (merchants[i] for i in verified):
        for platform, key in ((ALIPAY, "alipay_seller_id"), (WECHATPAY, "wechat_sub_mchid")):
            if m[key]:
                services.confirmations.verify_binding(SEEDER, m["merchant_id"], platform, _json({"id": m[key]}))
    return partner, merchants


def _shop(key: str, merchant: dict[str, Any], verified: bool) -> Shop:
    t = merchant["terminals"][0]
    return Shop(key, merchant["merchant_id"], t["terminal_id"], t["secret"], merchant["alipay_seller_id"],
                merchant["wechat_sub_mchid"], verified, merchant.get("plan_id"))


def _contest(services: Services, today: date) -> dict[str, Any]:
    """The partners' contest, created (by an admin) once the history is recorded: its rounds
    started in the past, so creating it folds what was recorded into its counters (the stream
    poller of `make run` replays the same records later and changes nothing). The scheduled
    ranking job ranks every started round; the first is settled, the ended ones after it are
    left for the console's admin, the running one keeps being ranked."""
    starts = datetime.combine(today - timedelta(days=CONTEST_STARTED_DAYS_AGO), time(0), tzinfo=services.config.tz)
    created = services.contests.create(SEEDER, _json({**CONTEST, "starts_at": starts.isoformat()}))
    ranked = services.jobs["rank_contests"]()["ranked"]
    cid = created["contest_id"]
    settled = services.contests.settle(SEEDER, cid, str(SETTLED_ROUND))
    now = services.clock.now()
    running = next((r["round"] for r in created["rounds"]
                    if datetime.fromisoformat(r["starts_at"]) <= now < datetime.fromisoformat(r["ends_at"])), None)
    return {"contest_id": cid, "name": created["name"], "rounds": created["rounds"],
            "ranked_rounds": sorted(r["round"] for r in ranked if r["contest_id"] == cid),
            "settled_rounds": [settled["round"]], "running_round": running}


def _customers(played: Played, shops: dict[str, Shop]) -> dict[str, Any]:
    """The members (their customer ids log in as `sandbox:<id>` on the local stage) and the buyers
    who came back."""
    merchant_of = {key: shop.merchant_id for key, shop in shops.items()}
    repeat = sorted({buyer for (_, buyer), n in played.buyers.items() if n > 1})
    return {"members": played.members,
            "repeat_buyers": repeat,
            "buyers": {merchant_of[key]: len({b for (k, b) in played.buyers if k == key}) for key in shops}}


def _history(played: Played, events: list[Event], signers: PlatformSigners) -> dict[str, Any]:
    sales = [e for e in events if isinstance(e, Sale)]
    total, confirmed = sum(played.payments.values()), sum(played.confirmed.values())
    return {"from": sales[0].at.date().isoformat() if sales else None,
            "to": sales[-1].at.date().isoformat() if sales else None,
            "payments": total, "confirmed": confirmed, "unconfirmed": total - confirmed, "refunds": played.refunds,
            "platforms": [p for p, key in ((ALIPAY, signers.alipay), (WECHATPAY, signers.wechatpay)) if key]}


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
    exp = (now or wall.time()) + TOKEN_TTL_SECONDS
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

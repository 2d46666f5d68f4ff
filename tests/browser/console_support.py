"""What the console's browser tests share: signing in through the page, and the data a test makes
for itself through the API the way a terminal, the platform or an admin would (the demo's data is
there too, but a test asserts on what it made)."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from chalicelib.auth import terminal_signature
from tests.browser.conftest import Console

TZ = ZoneInfo("Asia/Shanghai")
# Pages wait on real work (a contest backfilled from history, a ranking run) on a 2-CPU machine
# that runs the stack, the browser and the tests at once.
expect.set_options(timeout=20_000)


def sign_in(page: Page, console: Console, key: tuple[str, str]) -> None:
    page.goto("/console")
    page.get_by_label("密钥 ID").fill(key[0])
    page.get_by_label("密钥", exact=True).fill(key[1])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("navigation", name="主导航")).to_be_visible()


def admin_token(console: Console) -> str:
    """A fresh admin token (key tokens live `console.key_token_seconds` on this stack: take one per use)."""
    return console.token("admin")


def new_key(console: Console, body: dict[str, Any]) -> tuple[str, str]:
    r = console.request("POST", "/v1/api-keys", {"name": f"browser test {secrets.token_hex(3)}", **body},
                        token=admin_token(console))
    assert r.status == 201, r.body
    return r.body["key_id"], r.body["secret"]


def new_partner_with_merchant(console: Console, merchant_name: str = "Other Shop") -> tuple[str, dict[str, Any]]:
    admin = admin_token(console)
    p = console.request("POST", "/v1/partners", {"name": f"Partner {secrets.token_hex(3)}"}, token=admin)
    assert p.status == 201, p.body
    m = console.request("POST", f"/v1/partners/{p.body['partner_id']}/merchants",
                        {"name": merchant_name, "category": "retail", "stores": [{"name": "Main"}]}, token=admin)
    assert m.status == 201, m.body
    return p.body["partner_id"], m.body


def terminal_payment(console: Console, terminal: dict[str, str], out_trade_no: str, amount_fen: int,
                     buyer_id: str, paid_at: datetime | None = None) -> dict[str, Any]:
    """A payment as a terminal reports it: signed with its secret, fresh timestamp and nonce."""
    path = "/v1/terminal/payments"
    body = json.dumps({"out_trade_no": out_trade_no, "amount_fen": amount_fen, "buyer_id": buyer_id,
                       "paid_at": (paid_at or datetime.now(TZ)).isoformat(timespec="seconds")})
    r = signed(console, terminal, path, body)
    assert r.status == 200, r.body
    return dict(r.body)


def signed(console: Console, terminal: dict[str, str], path: str, body: str) -> Any:
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    sig = terminal_signature(terminal["secret"], "POST", path, ts, nonce, body.encode())
    return console.request("POST", path, raw=body.encode(), headers={
        "X-Yundian-Terminal": terminal["terminal_id"], "X-Yundian-Timestamp": ts, "X-Yundian-Nonce": nonce,
        "X-Yundian-Signature": sig})


def alipay_confirms(console: Console, out_trade_no: str, amount_fen: int, seller_id: str, buyer_id: str,
                    answer: str = "success") -> None:
    """Alipay's signed notification of that payment (the stack's local platform key), answered `answer`."""
    from scripts.alipay_notify import notification

    form = urlencode(notification(out_trade_no, amount_fen, seller_id, buyer_id, data=console.data_dir))
    r = console.request("POST", "/v1/notify/alipay", raw=form.encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.body == answer, (r.status, r.body)


def new_buyer() -> str:
    """An Alipay user id nobody paid with yet."""
    return "2088" + "".join(secrets.choice("0123456789") for _ in range(12))


def zoned_local(delta: timedelta = timedelta()) -> str:
    """A datetime-local input's value on the deployment's wall clock."""
    return (datetime.now(TZ) + delta).strftime("%Y-%m-%dT%H:%M")


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"))

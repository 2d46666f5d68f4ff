"""What an integrator writes for themselves: terminal signing, Alipay signing, type checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.blackbox.conftest import Reply, Stack

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
CST = timezone(timedelta(hours=8))


def is_time(value: Any) -> bool:
    return isinstance(value, str) and bool(RFC3339.match(value))


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Terminal:
    stack: Stack
    terminal_id: str
    secret: str
    store_id: str
    merchant_id: str

    def send(self, path: str, body: Any = None, *, raw: bytes | None = None, nonce: str | None = None,
             ts: int | None = None, secret: str | None = None, method: str = "POST",
             sign_path: str | None = None, terminal_id: str | None = None) -> Reply:
        data = raw if raw is not None else json.dumps(body).encode()
        ts_s = str(int(time.time()) if ts is None else ts)
        nonce = nonce or secrets.token_urlsafe(18)
        message = f"{method}\n{sign_path or path}\n{ts_s}\n{nonce}\n".encode() + data
        sig = hmac.new((secret or self.secret).encode("utf-8"), message, hashlib.sha256).hexdigest()
        headers = {"X-Yundian-Terminal": terminal_id or self.terminal_id, "X-Yundian-Timestamp": ts_s,
                   "X-Yundian-Nonce": nonce, "X-Yundian-Signature": sig}
        return self.stack.request(method, path, headers=headers, raw=data)


@dataclass
class Shop:
    partner_id: str
    merchant_id: str
    store_id: str
    seller_id: str
    terminal: Terminal


def new_shop(stack: Stack, admin: str) -> Shop:
    r = stack.request("POST", "/v1/partners", {"name": "PSP"}, token=admin)
    assert r.status == 201, r.body
    pid = r.body["partner_id"]
    seller = "2088" + str(secrets.randbelow(10**12)).zfill(12)
    r = stack.request("POST", f"/v1/partners/{pid}/merchants",
                      {"name": "Tea", "category": "restaurant", "alipay_seller_id": seller,
                       "stores": [{"name": "Main"}]}, token=admin)
    assert r.status == 201, r.body
    mid, sid = r.body["merchant_id"], r.body["stores"][0]["store_id"]
    r = stack.request("POST", f"/v1/merchants/{mid}/terminals", {"store_id": sid, "kind": "face"}, token=admin)
    assert r.status == 201, r.body
    return Shop(pid, mid, sid, seller, Terminal(stack, r.body["terminal_id"], r.body["secret"], sid, mid))


def otn() -> str:
    return "o" + secrets.token_hex(8)


def buyer() -> str:
    return "2088" + str(secrets.randbelow(10**12)).zfill(12)


def payment(out_trade_no: str | None = None, amount: int = 1000, buyer_id: str = "2088000000000001",
            paid_at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    body = {"out_trade_no": out_trade_no or otn(), "amount_fen": amount, "buyer_id": buyer_id,
            "paid_at": (paid_at or datetime.now(CST)).isoformat(timespec="seconds")}
    body.update(extra)
    return body


def alipay_form(key: rsa.RSAPrivateKey, params: dict[str, str]) -> bytes:
    """Sign like the platform: sorted k=v of everything but sign/sign_type, SHA256withRSA."""
    content = "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type"))
    signature = base64.b64encode(key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    return urlencode({**params, "sign": signature}).encode()


def alipay_notice(stack: Stack, seller_id: str, out_trade_no: str, *, status: str = "TRADE_SUCCESS",
                  total: str = "10.00", **extra: str) -> dict[str, str]:
    now = datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")
    params = {"notify_time": now, "notify_type": "trade_status_sync", "notify_id": secrets.token_hex(16),
              "app_id": stack.app_id, "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
              "trade_no": "2024" + secrets.token_hex(10), "out_trade_no": out_trade_no,
              "buyer_id": "2088102116773037", "seller_id": seller_id, "trade_status": status,
              "total_amount": total, "gmt_create": now, "gmt_payment": now}
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def notify(stack: Stack, form: bytes) -> Reply:
    return stack.request("POST", "/v1/notify/alipay", raw=form,
                         content_type="application/x-www-form-urlencoded; charset=utf-8")


def new_plan(stack: Stack, token: str, merchant_id: str, **body: object) -> dict:
    """A membership plan (fee 30.00, 10 % off unless `body` says otherwise)."""
    r = stack.request("POST", f"/v1/merchants/{merchant_id}/plans",
                      {"name": "Monthly", "fee_fen": 3000, "discount_percent": 10, **body}, token=token)
    assert r.status == 201, r.body
    return dict(r.body)

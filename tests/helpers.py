"""Test helpers: tokens, terminal signing and a thin JSON client over chalice.test.Client."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from chalicelib.auth import issue_token, terminal_signature
from tests import document_check


def raw(model: BaseModel | None = None, **fields: Any) -> bytes:
    """A request body as services receive it: a schema model's or these fields' JSON bytes."""
    return model.model_dump_json().encode() if model is not None else json.dumps(fields).encode()


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


@dataclass
class TerminalCreds:
    terminal_id: str
    secret: str
    store_id: str
    merchant_id: str


class Api:
    def __init__(self, client: Any, services: Any) -> None:
        self.client = client
        self.services = services
        self.secret = services.config.jwt_secret

    # -- tokens
    def token(self, role: str, sub: str | None = None, ttl: int = 3600, **claims: str) -> str:
        return issue_token(self.secret, sub=sub or f"{role}-{secrets.token_hex(4)}", role=role,
                           exp=time.time() + ttl, **claims)

    def admin(self) -> str:
        return self.token("admin", "admin-1")

    def partner_token(self, partner_id: str) -> str:
        return self.token("partner", partner_id=partner_id)

    def merchant_token(self, merchant_id: str) -> str:
        return self.token("merchant", merchant_id=merchant_id)

    def customer_token(self, user_id: str) -> str:
        return self.token("customer", sub=user_id)

    # -- raw calls
    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        resp = self.client.http.request(method, path, headers=h, body=data)
        text = resp.body or b""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode()
        document_check.check(method, path, resp.status_code, dict(resp.headers), text)
        return Reply(resp.status_code, parsed, dict(resp.headers), text)

    def get(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return self.call("GET", path, token=token, **kw)

    def post(self, path: str, body: Any = None, token: str | None = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, token=token, **kw)

    def delete(self, path: str, token: str | None = None) -> Reply:
        return self.call("DELETE", path, token=token)

    # -- terminals
    def signed(self, creds: TerminalCreds, path: str, body: Any = None, *, raw: bytes | None = None,
               nonce: str | None = None, ts: int | None = None, secret: str | None = None,
               method: str = "POST") -> Reply:
        data = raw if raw is not None else json.dumps(body).encode()
        ts_s = str(int(time.time()) if ts is None else ts)
        nonce = nonce or secrets.token_hex(12)
        sig = terminal_signature(secret or creds.secret, method, path, ts_s, nonce, data)
        headers = {"X-Yundian-Terminal": creds.terminal_id, "X-Yundian-Timestamp": ts_s,
                   "X-Yundian-Nonce": nonce, "X-Yundian-Signature": sig}
        return self.call(method, path, headers=headers, raw=data)

    # -- fixtures through the public API
    def new_partner(self, name: str = "Partner") -> str:
        r = self.post("/v1/partners", {"name": name}, token=self.admin())
        assert r.status == 201, r.body
        return str(r.body["partner_id"])

    def new_merchant(self, partner_id: str, *, stores: int = 1, seller_id: str | None = None,
                     category: str = "restaurant") -> dict[str, Any]:
        body: dict[str, Any] = {"name": "Noodle shop", "category": category,
                                "stores": [{"name": f"Store {i}"} for i in range(stores)]}
        if seller_id:
            body["alipay_seller_id"] = seller_id
        r = self.post(f"/v1/partners/{partner_id}/merchants", body, token=self.admin())
        assert r.status == 201, r.body
        return dict(r.body)

    def new_terminal(self, merchant: dict[str, Any], kind: str = "qr") -> TerminalCreds:
        store_id = merchant["stores"][0]["store_id"]
        r = self.post(f"/v1/merchants/{merchant['merchant_id']}/terminals",
                      {"store_id": store_id, "kind": kind}, token=self.admin())
        assert r.status == 201, r.body
        return TerminalCreds(r.body["terminal_id"], r.body["secret"], store_id, merchant["merchant_id"])


class MovableWall:
    """A wall clock (unix seconds) that starts at the real time and moves only when told: what
    token lifetimes, the API key cache and the rate limit run on in tests (no sleeping)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

"""Helpers shared by the payments tests: a shop with a terminal, payments, refunds, memberships."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.memberships.models import MembershipModel
from tests.helpers import Api, Reply, TerminalCreds

PAY = "/v1/terminal/payments"
REFUND = "/v1/terminal/refunds"


@dataclass
class Shop:
    partner_id: str
    merchant: dict[str, Any]
    terminal: TerminalCreds

    @property
    def merchant_id(self) -> str:
        return str(self.merchant["merchant_id"])


def new_shop(api: Api, seller_id: str | None = None) -> Shop:
    pid = api.new_partner()
    m = api.new_merchant(pid, seller_id=seller_id)
    return Shop(pid, m, api.new_terminal(m))


def otn() -> str:
    return f"o{secrets.token_hex(8)}"


def payment_body(out_trade_no: str | None = None, amount: int = 1000, buyer: str = "2088000000000001",
                 paid_at: datetime | None = None, discount: int = 0, **extra: Any) -> dict[str, Any]:
    body = {"out_trade_no": out_trade_no or otn(), "amount_fen": amount, "buyer_id": buyer,
            "paid_at": (paid_at or datetime.now(UTC)).isoformat()}
    if discount:
        body["discount_fen"] = discount
    body.update(extra)
    return body


def pay(api: Api, shop: Shop, body: dict[str, Any]) -> Reply:
    return api.signed(shop.terminal, PAY, body)


def refund(api: Api, shop: Shop, out_trade_no: str, amount: int, request_no: str | None = None) -> Reply:
    return api.signed(shop.terminal, REFUND, {"out_trade_no": out_trade_no, "amount_fen": amount,
                                              "out_request_no": request_no or f"r{secrets.token_hex(6)}"})


def dashboard(api: Api, merchant_id: str, date: str | None = None) -> dict[str, Any]:
    path = f"/v1/merchants/{merchant_id}/dashboard" + (f"?date={date}" if date else "")
    r = api.get(path, token=api.admin())
    assert r.status == 200, r.body
    return dict(r.body)


def today(api: Api) -> str:
    return api.services.clock.now().astimezone(api.services.config.tz).date().isoformat()


def audit(api: Api) -> dict[str, Any]:
    """The whole audit (every area's checks): the tests share the tables, and each leaves them
    consistent, so after any of them everything must add up."""
    r = api.get("/v1/admin/audit", token=api.admin())
    assert r.status == 200, r.body
    assert {c["name"] for c in r.body["checks"]} >= {"membership_fees"}, r.body
    assert len([c for c in r.body["checks"] if c["name"].startswith("payments.")]) == 3, r.body
    return dict(r.body)


def new_membership(api: Api, shop: Shop, customer_id: str, *, percent: int = 10, cap: int | None = None,
                   days: int = 30, fee_fen: int = 3000) -> str:
    """A membership locked the way a customer does it: the merchant's plan, then `POST /v1/memberships`.
    It starts now on the business clock (move the clock to start it elsewhen)."""
    plan: dict[str, Any] = {"name": "Test plan", "fee_fen": fee_fen, "discount_percent": percent,
                            "period_days": days}
    if cap is not None:
        plan["max_discount_per_order_fen"] = cap
    r = api.post(f"/v1/merchants/{shop.merchant_id}/plans", plan, token=api.admin())
    assert r.status == 201, r.body
    r = api.post("/v1/memberships", {"plan_id": r.body["plan_id"]}, token=api.customer_token(customer_id))
    assert r.status == 201, r.body
    return str(r.body["membership_id"])


def close_membership(api: Api, membership_id: str, customer_id: str, status: str) -> None:
    """End a membership through its real lifecycle, moving the test clock: `refunded` (the customer
    asks for the shortfall after the period) or `settled` (the refund window closes and the
    lifecycle job captures the fee)."""
    m = api.get(f"/v1/memberships/{membership_id}", token=api.admin()).body
    target = m["ends_at"] if status == "refunded" else m["refund_deadline"]
    r = api.post("/v1/admin/clock", {"now": target}, token=api.admin())
    assert r.status == 200, r.body
    api.post("/v1/admin/clock", {"advance_seconds": 1}, token=api.admin())
    if status == "refunded":
        r = api.post(f"/v1/memberships/{membership_id}/refund", token=api.customer_token(customer_id))
        assert r.status == 200, r.body
    else:
        r = api.post("/v1/admin/jobs/memberships_lifecycle", token=api.admin())
        assert r.status == 200, r.body
    m = api.get(f"/v1/memberships/{membership_id}", token=api.admin()).body
    assert m["status"] == status, m


def savings_of(membership_id: str) -> int:
    return int(MembershipModel.get(membership_id, consistent_read=True).savings_fen)


def direct_payment(services: Any, creds: TerminalCreds, body: dict[str, Any], nonce: str | None = None) -> Any:
    """The terminal payment path below HTTP (a signed request straight into the service), for
    threads: Chalice's test client keeps the current request on the app object, so it cannot
    serve threads. Returns the answer's body (asserting a 200)."""
    import json
    import time

    from chalicelib.auth import terminal_signature
    from chalicelib.payments.callbacks import CallbackRequest

    raw = json.dumps(body).encode()
    now = time.time()
    ts, nonce = str(int(now)), nonce or secrets.token_hex(12)
    headers = {"x-yundian-terminal": creds.terminal_id, "x-yundian-timestamp": ts, "x-yundian-nonce": nonce,
               "x-yundian-signature": terminal_signature(creds.secret, "POST", PAY, ts, nonce, raw),
               "content-type": "application/json"}
    reply = services.payments.terminal_payment(CallbackRequest("terminal", "POST", PAY, headers, raw, now))
    assert reply.status == 200, reply
    return reply.body

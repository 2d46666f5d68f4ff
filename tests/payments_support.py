"""Helpers shared by the payments tests: a shop with a terminal, payments, refunds, memberships."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.memberships.models import MembershipModel, member_key
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
    return api.container.clock.now().astimezone(api.container.config.tz).date().isoformat()


def audit(api: Api) -> dict[str, Any]:
    r = api.get("/v1/admin/audit", token=api.admin())
    assert r.status == 200, r.body
    return dict(r.body)


def new_membership(merchant_id: str, partner_id: str, customer_id: str, *, percent: int = 10,
                   cap: int | None = None, status: str = "active", starts_at: datetime | None = None,
                   days: int = 30, fee_fen: int = 3000) -> str:
    """A membership item saved directly (the memberships area owns its endpoints)."""
    start = starts_at or datetime.now(UTC) - timedelta(days=1)
    mid = f"mbr_{secrets.token_hex(8)}"
    MembershipModel(
        mid, merchant_id=merchant_id, partner_id=partner_id, customer_id=customer_id,
        member_key=member_key(merchant_id, customer_id), plan_id="pln_test", plan_name="Test plan",
        status=status, fee_fen=fee_fen, discount_percent=percent, max_discount_per_order_fen=cap, savings_fen=0,
        starts_at=start, ends_at=start + timedelta(days=days), refund_deadline=start + timedelta(days=days + 7),
        created_at=start,
    ).save()
    return mid


def savings_of(membership_id: str) -> int:
    return int(MembershipModel.get(membership_id, consistent_read=True).savings_fen)

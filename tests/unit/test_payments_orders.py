"""Savings and refunds whichever channel reports first: every order and redelivery of the terminal's
report, the platform's notification (through a verified binding) and refunds ends in the same
state — the same member savings, refunded total and confirmation (contract, "Member savings no
longer depend on which channel reported first")."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.auth import Principal
from chalicelib.payments import alipay
from chalicelib.payments.callbacks import CallbackRequest
from tests.unit.test_payments_service import BUYER, T0, World

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()
APP_ID = "2021000000000001"
SELLER = "2088000000000555"
AMOUNT, DISCOUNT = 900, 100  # a 10 % member: 100 of the list price 1000 counts
ADMIN = Principal("admin", "admin")


class Orders(World):
    """The payments world with Alipay configured and the merchant's seller id verified."""

    def __init__(self) -> None:
        super().__init__()
        self.svc.config = dataclasses.replace(self.svc.config, alipay_public_key=PUBLIC, alipay_app_id=APP_ID)
        merchant = self.onboarding_repo.get_merchant("mch_1")
        assert merchant is not None
        self.onboarding_repo.verify_binding(merchant, "alipay", SELLER, T0)
        self.member(percent=10)

    def notify(self, refund_fee: int | None = None) -> int:
        paid = (T0 - timedelta(minutes=1)).astimezone(alipay.ALIPAY_TZ).strftime("%Y-%m-%d %H:%M:%S")
        params = {"app_id": APP_ID, "charset": "utf-8", "sign_type": "RSA2", "seller_id": SELLER,
                  "out_trade_no": "o1", "trade_no": "2026031022001", "trade_status": "TRADE_SUCCESS",
                  "total_amount": f"{AMOUNT / 100:.2f}", "buyer_id": BUYER, "gmt_payment": paid,
                  "notify_id": "n1"}
        if refund_fee:
            params["refund_fee"] = f"{refund_fee / 100:.2f}"
        raw = urlencode({**params, "sign": alipay.sign(params, KEY)}).encode()
        return self.svc.alipay_notification(CallbackRequest("alipay", "POST", "/v1/notify/alipay",
                                                            {"content-type": "application/x-www-form-urlencoded"},
                                                            raw, T0.timestamp())).status


EVENTS = ["terminal", "platform", "refund_a", "refund_b", "platform_refund"]


def _run(w: Orders, event: str) -> bool:
    """One delivery; False when it must be delivered again (a refund of a payment not known yet)."""
    try:
        if event == "terminal":
            w.pay("o1", amount=AMOUNT, discount_fen=DISCOUNT)
        elif event == "platform":
            assert w.notify() == 200
        elif event == "platform_refund":  # the platform's cumulative refund_fee after refund_a
            return w.notify(refund_fee=300) == 200
        else:
            w.refund(300 if event == "refund_a" else 150, event)
    except Exception as exc:  # noqa: BLE001 - only "not known yet" may be retried
        if getattr(exc, "code", None) == "payment_not_found":
            return False
        raise
    return True


def _final(w: Orders) -> dict[str, Any]:
    p = w.payment()
    return {"savings": w.savings(), "refunded": p.refunded_fen, "refundable": p.refundable_fen,
            "member_savings": p.member_savings_fen, "reversed": p.savings_reversed_fen,
            "confirmed": p.confirmed, "channels": sorted(p.channels), "payments": w.dashboard()["day"]["payments"]}


@settings(max_examples=80, deadline=None)
@given(order=st.permutations(EVENTS), repeats=st.lists(st.sampled_from(EVENTS), max_size=4))
def test_every_order_and_redelivery_ends_in_the_same_savings_and_refunds(order: list[str], repeats: list[str]) -> None:
    w = Orders()
    waiting: list[str] = []
    for event in [*order, *repeats]:
        if not _run(w, event):
            waiting.append(event)
    for event in waiting:  # delivered again once the payment is known
        assert _run(w, event), event
    refunded = 450  # refund_a (300, which the platform's refund_fee also reports) + refund_b (150)
    assert _final(w) == {
        "savings": DISCOUNT - (DISCOUNT * refunded // AMOUNT), "refunded": refunded, "refundable": AMOUNT - refunded,
        "member_savings": DISCOUNT, "reversed": DISCOUNT * refunded // AMOUNT, "confirmed": True,
        "channels": ["alipay", "terminal"], "payments": 1,
    }

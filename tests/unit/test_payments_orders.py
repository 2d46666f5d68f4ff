"""Savings and refunds whichever channel reports first: every order and redelivery of the terminal's
report, the platform's notification (through a verified binding) and refunds ends in the same
state — the same member savings, refunded total and confirmation (contract, "Member savings no
longer depend on which channel reported first"). Three channels: a payment paid with Alipay
(terminal + Alipay's cumulative `refund_fee`) and one paid with WeChat Pay (terminal + WeChat's
numbered refunds) at the same shop, all their reports interleaved."""

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
from chalicelib.payments.models import payment_pk
from localdev import wechatpay_platform as wx
from tests.unit.test_payments_service import BUYER, T0, World

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()
APP_ID = "2021000000000001"
SELLER = "2088000000000555"
AMOUNT, DISCOUNT = 900, 100  # a 10 % member: 100 of the list price 1000 counts
ADMIN = Principal("admin", "admin")
WX_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
WX_KEY_ID, WX_APIV3 = wx.new_public_key_id(), wx.new_apiv3_key()
SP_MCHID, SUB_MCHID = "1900000109", "1600000555"
WX_BUYER, WX_AMOUNT = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", 1000


class Orders(World):
    """The payments world with Alipay configured and the merchant's seller id verified."""

    def __init__(self) -> None:
        super().__init__()
        self.svc.config = dataclasses.replace(
            self.svc.config, alipay_public_key=PUBLIC, alipay_app_id=APP_ID, wechatpay_sp_mchid=SP_MCHID,
            wechatpay_apiv3_key=WX_APIV3, wechatpay_public_key_id=WX_KEY_ID, wechatpay_public_key=wx.public_pem(WX_KEY))
        merchant = self.onboarding_repo.get_merchant("mch_1")
        assert merchant is not None
        self.onboarding_repo.verify_binding(merchant, "alipay", SELLER, T0)
        merchant = self.onboarding_repo.get_merchant("mch_1")
        assert merchant is not None
        self.onboarding_repo.verify_binding(merchant, "wechatpay", SUB_MCHID, T0)
        self.member(percent=10)

    def wechat(self, event_type: str, resource: dict[str, Any]) -> int:
        headers, body = wx.notification(event_type, resource, key=WX_KEY, serial=WX_KEY_ID, apiv3_key=WX_APIV3,
                                        timestamp=int(T0.timestamp()))
        return self.svc.wechatpay_notification(CallbackRequest(
            "wechatpay", "POST", "/v1/notify/wechatpay", {k.lower(): v for k, v in headers.items()}, body,
            T0.timestamp())).status

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


EVENTS = ["terminal", "platform", "refund_a", "refund_b", "platform_refund",
          "wx_terminal", "wx_platform", "wx_refund_c", "wx_platform_refund_c", "wx_platform_refund_d"]


def _run(w: Orders, event: str) -> bool:
    """One delivery; False when it must be delivered again (a refund of a payment not known yet)."""
    try:
        if event == "terminal":
            w.pay("o1", amount=AMOUNT, discount_fen=DISCOUNT)
        elif event == "platform":
            assert w.notify() == 200
        elif event == "platform_refund":  # the platform's cumulative refund_fee after refund_a
            return w.notify(refund_fee=300) == 200
        elif event == "wx_terminal":
            w.pay("o2", amount=WX_AMOUNT, buyer_id=WX_BUYER, paid_at=T0 - timedelta(seconds=50))
        elif event == "wx_platform":
            assert w.wechat("TRANSACTION.SUCCESS", wx.transaction(
                SP_MCHID, SUB_MCHID, "o2", WX_AMOUNT, WX_BUYER, T0 - timedelta(minutes=1),
                transaction_id="4200000002")) == 204
        elif event == "wx_refund_c":  # the terminal's refund rc, which WeChat Pay also notifies
            w.refund(200, "rc", "o2")
        elif event.startswith("wx_platform_refund_"):  # rc (200, also the terminal's) or rd (100, only WeChat's)
            number, amount = ("rc", 200) if event.endswith("_c") else ("rd", 100)
            return w.wechat("REFUND.SUCCESS", wx.refund(SP_MCHID, SUB_MCHID, "o2", number, amount, WX_AMOUNT)) == 204
        else:
            w.refund(300 if event == "refund_a" else 150, event)
    except Exception as exc:  # noqa: BLE001 - only "not known yet" may be retried
        if getattr(exc, "code", None) == "payment_not_found":
            return False
        raise
    return True


def _final(w: Orders) -> dict[str, Any]:
    p, q = w.payment(), w.payment("o2")
    return {"savings": w.savings(), "refunded": p.refunded_fen, "refundable": p.refundable_fen,
            "member_savings": p.member_savings_fen, "reversed": p.savings_reversed_fen,
            "confirmed": p.confirmed, "channels": sorted(p.channels), "payments": w.dashboard()["day"]["payments"],
            "wx": (q.refunded_fen, q.confirmed, sorted(q.channels), w.repo.flags.get(payment_pk("mch_1", "o2"), ()))}


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
        "channels": ["alipay", "terminal"], "payments": 2,
        "wx": (300, True, ["terminal", "wechatpay"], ()),  # rc once (both channels), rd once
    }

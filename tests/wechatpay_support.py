"""Helpers shared by the WeChat Pay tests: a platform identity (both key modes), the app
configured with it, and notifications signed and encrypted the way the platform sends them
(`localdev.wechatpay_platform`, cross-checked against the `wechatpayv3` client library)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.bootstrap import bootstrap
from chalicelib.clock import OffsetClock
from chalicelib.config import Config
from localdev import wechatpay_platform as platform
from tests.helpers import Api, Reply

NOTIFY = "/v1/notify/wechatpay"
SP_MCHID = "1900000109"
APIV3_KEY = "a" * 8 + secrets.token_hex(12)  # 32 characters
PUBLIC_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_KEY_ID = platform.new_public_key_id()
CERT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CERT = platform.certificate(CERT_KEY)
CERT_SERIAL = format(CERT.serial_number, "X")
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def wechat_config(config: Config, **overrides: str) -> Config:
    """`config` with WeChat Pay configured in both key modes at once (a merchant migrating)."""
    values = {"wechatpay_sp_mchid": SP_MCHID, "wechatpay_apiv3_key": APIV3_KEY,
              "wechatpay_public_key_id": PUBLIC_KEY_ID, "wechatpay_public_key": platform.public_pem(PUBLIC_KEY),
              "wechatpay_platform_certs": platform.certificate_pem(CERT)}
    values.update(overrides)
    return dataclasses.replace(config, **values)


def wechat_api(config: Config, **overrides: str) -> Iterator[Api]:
    import app as app_module

    services = bootstrap(wechat_config(config, **overrides), clock=OffsetClock())
    app_module.runtime.install(services)
    try:
        yield Api(Client(app_module.app), services)
    finally:
        app_module.runtime.install(None)


def sub_mchid() -> str:
    return "16" + "".join(secrets.choice("0123456789") for _ in range(8))


def openid() -> str:
    return "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" + secrets.token_hex(2)


def signed(event_type: str, resource: dict[str, Any], *, key: rsa.RSAPrivateKey = PUBLIC_KEY,
           serial: str = PUBLIC_KEY_ID, apiv3_key: str = APIV3_KEY, **kw: Any) -> tuple[dict[str, str], bytes]:
    return platform.notification(event_type, resource, key=key, serial=serial, apiv3_key=apiv3_key, **kw)


def post(api: Api, notification: tuple[dict[str, str], bytes]) -> Reply:
    headers, body = notification
    return api.call("POST", NOTIFY, raw=body, headers=headers)


def paid(sub: str, out_trade_no: str, total: int = 1000, buyer: str | None = None,
         success_time: datetime | None = None, **kw: Any) -> dict[str, Any]:
    return platform.transaction(SP_MCHID, sub, out_trade_no, total, buyer or "oBuyer0000000000000000000001",
                                success_time, **kw)


def refunded(sub: str, out_trade_no: str, out_refund_no: str, amount: int, total: int = 1000,
             **kw: Any) -> dict[str, Any]:
    return platform.refund(SP_MCHID, sub, out_trade_no, out_refund_no, amount, total, **kw)


def notify_paid(api: Api, sub: str, out_trade_no: str, total: int = 1000, buyer: str | None = None,
                **kw: Any) -> Reply:
    return post(api, signed("TRANSACTION.SUCCESS", paid(sub, out_trade_no, total, buyer, **kw)))


def notify_refund(api: Api, sub: str, out_trade_no: str, out_refund_no: str, amount: int,
                  total: int = 1000) -> Reply:
    return post(api, signed("REFUND.SUCCESS", refunded(sub, out_trade_no, out_refund_no, amount, total)))


def ok(reply: Reply) -> None:
    assert (reply.status, reply.raw) == (204, b""), (reply.status, reply.raw)


def new_wechat_shop(api: Api, *, verified: bool = True) -> tuple[str, dict[str, Any], str]:
    """(partner_id, merchant, sub_mchid): a merchant bound to a fresh sub_mchid — verified by an
    admin, or only claimed in the merchant body."""
    pid = api.new_partner()
    sub = sub_mchid()
    body: dict[str, Any] = {"name": "Noodle shop", "category": "restaurant", "stores": [{"name": "Store 0"}]}
    if not verified:
        body["wechat_sub_mchid"] = sub
    r = api.post(f"/v1/partners/{pid}/merchants", body, token=api.admin())
    assert r.status == 201, r.body
    merchant = dict(r.body)
    if verified:
        v = api.call("PUT", f"/v1/admin/merchants/{merchant['merchant_id']}/bindings/wechatpay", {"id": sub},
                     token=api.admin())
        assert v.status == 200, v.body
    return pid, merchant, sub

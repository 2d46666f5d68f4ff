"""WeChat Pay v3 notifications (service-provider mode), signed and encrypted for real with
generated platform keys, in both key modes (contract, revision 2, "WeChat Pay notifications")."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import TransactWriteError

from chalicelib.payments.models import PaymentModel
from tests.helpers import Api, Reply
from tests.payments_support import PAY, REFUND, Shop, audit, dashboard, otn, payment_body
from tests.wechatpay_support import (
    CERT_KEY,
    CERT_SERIAL,
    OTHER_KEY,
    PUBLIC_KEY,
    PUBLIC_KEY_ID,
    new_wechat_shop,
    notify_paid,
    notify_refund,
    ok,
    paid,
    post,
    refunded,
    signed,
    wechat_api,
)

BUYER = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
ZERO_DAY = {"gmv_fen": 0, "payments": 0, "refunds_fen": 0, "customers": 0}


@pytest.fixture
def wx(test_config: Any) -> Iterator[Api]:
    yield from wechat_api(test_config)


def shop(api: Api, *, verified: bool = True) -> tuple[Shop, str]:
    pid, merchant, sub = new_wechat_shop(api, verified=verified)
    return Shop(pid, merchant, api.new_terminal(merchant)), sub


def payment(api: Api, s: Shop, o: str) -> dict[str, Any]:
    r = api.get(f"/v1/merchants/{s.merchant_id}/payments/{o}", token=api.admin())
    assert r.status == 200, r.body
    return dict(r.body)


def payments_of(api: Api, s: Shop) -> list[dict[str, Any]]:
    r = api.get(f"/v1/merchants/{s.merchant_id}/payments", token=api.admin())
    assert r.status == 200, r.body
    return list(r.body["payments"])


def log_of(api: Api, merchant_id: str | None = None) -> list[dict[str, Any]]:
    path = f"/v1/merchants/{merchant_id}/callbacks" if merchant_id else "/v1/admin/callbacks?source=wechatpay"
    r = api.get(path, token=api.admin())
    assert r.status == 200, r.body
    return list(r.body["callbacks"])


def refused(reply: Reply, status: int, code: str) -> None:
    assert (reply.status, reply.code) == (status, code), (reply.status, reply.raw)
    assert set(reply.body) >= {"code", "message"}


# ---------------------------------------------------------------- payments


def test_one_payment_whatever_the_redeliveries_confirmed_at_the_platforms_time(wx: Api) -> None:
    s, sub = shop(wx)
    o = otn()
    success = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    note = signed("TRANSACTION.SUCCESS", paid(sub, o, 1234, BUYER, success, transaction_id="4200000001"))
    for _ in range(5):
        ok(post(wx, note))
    ok(notify_paid(wx, sub, o, 1234, BUYER, success_time=success))  # the platform re-signs a retry
    p = payment(wx, s, o)
    assert (p["amount_fen"], p["buyer_id"], p["trade_no"], p["channels"]) == (1234, BUYER, "4200000001", ["wechatpay"])
    assert p["confirmed"] is True and datetime.fromisoformat(p["platform_paid_at"]) == success
    assert datetime.fromisoformat(p["paid_at"]) == success
    assert dashboard(wx, s.merchant_id, success.astimezone(wx.services.config.tz).date().isoformat())["day"] == {
        "gmv_fen": 1234, "payments": 1, "refunds_fen": 0, "customers": 1}
    logged = log_of(wx, s.merchant_id)
    assert [e["outcome"] for e in logged] == ["duplicate"] * 5 + ["recorded"]
    assert {e["status"] for e in logged} == {204} and {e["source"] for e in logged} == {"wechatpay"}
    assert all(e["out_trade_no"] == o for e in logged)
    assert audit(wx)["ok"]


def test_both_key_modes_at_once_certificate_by_serial_and_public_key_by_id(wx: Api) -> None:
    s, sub = shop(wx)
    by_cert, by_key = otn(), otn()
    ok(post(wx, signed("TRANSACTION.SUCCESS", paid(sub, by_cert, 100, BUYER), key=CERT_KEY, serial=CERT_SERIAL)))
    ok(post(wx, signed("TRANSACTION.SUCCESS", paid(sub, by_key, 200, BUYER), key=PUBLIC_KEY, serial=PUBLIC_KEY_ID)))
    assert payment(wx, s, by_cert)["confirmed"] and payment(wx, s, by_key)["confirmed"]
    # each key is only good for its own serial
    refused(post(wx, signed("TRANSACTION.SUCCESS", paid(sub, otn(), 300, BUYER), key=PUBLIC_KEY,
                            serial=CERT_SERIAL)), 401, "bad_signature")


def test_a_terminal_report_and_the_notification_are_one_payment_in_either_order(wx: Api) -> None:
    s, sub = shop(wx)
    first_terminal, first_platform = otn(), otn()
    r = wx.signed(s.terminal, PAY, payment_body(first_terminal, amount=880, buyer=BUYER))
    assert r.status == 200 and r.body["duplicate"] is False
    ok(notify_paid(wx, sub, first_terminal, 880, BUYER))
    ok(notify_paid(wx, sub, first_platform, 200, BUYER))
    r = wx.signed(s.terminal, PAY, payment_body(first_platform, amount=200, buyer=BUYER))
    assert r.status == 200 and r.body["duplicate"] is True
    assert payment(wx, s, first_terminal)["channels"] == ["terminal", "wechatpay"]
    assert payment(wx, s, first_platform)["channels"] == ["wechatpay", "terminal"]
    assert all(payment(wx, s, o)["confirmed"] for o in (first_terminal, first_platform))
    assert dashboard(wx, s.merchant_id)["day"] == {"gmv_fen": 1080, "payments": 2, "refunds_fen": 0, "customers": 1}
    assert audit(wx)["ok"]


def test_a_disagreeing_notification_is_409_payment_conflict_and_changes_nothing_but_a_flag(wx: Api) -> None:
    s, sub = shop(wx)
    o = otn()
    assert wx.signed(s.terminal, PAY, payment_body(o, amount=1000, buyer=BUYER)).status == 200
    refused(notify_paid(wx, sub, o, 999, BUYER), 409, "payment_conflict")
    refused(notify_paid(wx, sub, o, 1000, "oSomeoneElse000000000000001"), 409, "payment_conflict")
    p = payment(wx, s, o)
    assert (p["confirmed"], p["channels"], p["flags"], p["amount_fen"]) == (False, ["terminal"],
                                                                         ["platform_conflict"], 1000)
    assert [e["status"] for e in log_of(wx, s.merchant_id)[:2]] == [409, 409]


def test_a_buyer_given_only_as_sub_openid_is_that_id(wx: Api) -> None:
    s, sub = shop(wx)
    o, sub_openid = otn(), "oSubApp_only_0000000000000001"
    ok(post(wx, signed("TRANSACTION.SUCCESS", paid(sub, o, 300, sub_openid, sub_openid=True))))
    assert payment(wx, s, o)["buyer_id"] == sub_openid
    r = wx.signed(s.terminal, PAY, payment_body(o, amount=300, buyer=sub_openid))
    assert r.status == 200 and r.body["duplicate"] is True


def test_a_claimed_binding_routes_but_confirms_nothing_until_verified(wx: Api) -> None:
    s, sub = shop(wx, verified=False)
    o = otn()
    ok(notify_paid(wx, sub, o, 500, BUYER))
    assert payment(wx, s, o)["confirmed"] is False
    v = wx.call("PUT", f"/v1/admin/merchants/{s.merchant_id}/bindings/wechatpay", {"id": sub}, token=wx.admin())
    assert v.status == 200 and v.body["verified"] is True
    assert payment(wx, s, o)["confirmed"] is True  # from the recorded notification, in the request
    ok(notify_paid(wx, sub, o, 500, BUYER))  # a late redelivery changes nothing
    assert len(payments_of(wx, s)) == 1


@pytest.mark.parametrize("event, resource_over, trade_state", [
    ("TRANSACTION.SUCCESS", {}, "NOTPAY"),
    ("TRANSACTION.SUCCESS", {}, "CLOSED"),
    ("TRANSACTION.CLOSED", {}, "CLOSED"),
    ("REFUND.ABNORMAL", None, None),
    ("REFUND.CLOSED", None, None),
    ("MCHTRANSFER.BILL.FINISHED", {"out_bill_no": "b1"}, "SUCCESS"),
    ("PAYSCORE.USER_OPEN_SERVICE", {"out_contract_code": "c1"}, "SUCCESS"),
])
def test_events_and_states_we_do_not_record_are_acknowledged_and_record_nothing(
        wx: Api, event: str, resource_over: dict[str, Any] | None, trade_state: str | None) -> None:
    s, sub = shop(wx)
    o = otn()
    if resource_over is None:
        ok(notify_paid(wx, sub, o, 1000, BUYER))
        ok(post(wx, signed(event, refunded(sub, o, "r1", 400, status=event.split(".")[1]))))
        assert payment(wx, s, o)["refunded_fen"] == 0
        return
    resource = {**paid(sub, o, 1000, BUYER, trade_state=trade_state or "SUCCESS"), **resource_over}
    ok(post(wx, signed(event, resource)))
    assert payments_of(wx, s) == [] and dashboard(wx, s.merchant_id)["day"] == ZERO_DAY
    # TRANSACTION.* is routed to its merchant first; other families are acknowledged before
    logged = log_of(wx, s.merchant_id) if event.startswith("TRANSACTION.") else log_of(wx)
    assert logged[0]["outcome"] == "ignored" and logged[0]["status"] == 204


def test_unhandled_events_are_acknowledged_before_any_merchant_check(wx: Api) -> None:
    ok(post(wx, signed("MCHTRANSFER.BILL.FINISHED", {"sp_mchid": "1", "sub_mchid": "nobody"})))
    assert log_of(wx)[0]["outcome"] == "ignored"


# ---------------------------------------------------------------- refunds


def test_a_refund_before_its_payment_is_404_then_converges_once(wx: Api) -> None:
    s, sub = shop(wx)
    o = otn()
    refused(notify_refund(wx, sub, o, "50300001", 400), 404, "payment_not_found")
    assert dashboard(wx, s.merchant_id)["day"] == ZERO_DAY
    ok(notify_paid(wx, sub, o, 1000, BUYER))
    for _ in range(3):
        ok(notify_refund(wx, sub, o, "50300001", 400))
    ok(notify_refund(wx, sub, o, "50300002", 100))  # another number: another refund
    p = payment(wx, s, o)
    assert p["refunded_fen"] == 500 and p["flags"] == []
    assert dashboard(wx, s.merchant_id)["day"]["refunds_fen"] == 500
    assert audit(wx)["ok"]


def test_a_wechat_refund_and_the_terminals_with_the_same_number_are_one_refund(wx: Api) -> None:
    s, sub = shop(wx)
    o = otn()
    ok(notify_paid(wx, sub, o, 1000, BUYER))
    # the terminal first, then the platform
    r = wx.signed(s.terminal, REFUND, {"out_trade_no": o, "out_request_no": "rq-1", "amount_fen": 300})
    assert r.status == 200 and r.body["duplicate"] is False
    ok(notify_refund(wx, sub, o, "rq-1", 300))
    # the platform first, then the terminal
    ok(notify_refund(wx, sub, o, "rq-2", 200))
    r = wx.signed(s.terminal, REFUND, {"out_trade_no": o, "out_request_no": "rq-2", "amount_fen": 200})
    assert r.status == 200 and r.body["duplicate"] is True and r.body["refunded_total_fen"] == 500
    # what is left for the terminals counts both
    r = wx.signed(s.terminal, REFUND, {"out_trade_no": o, "out_request_no": "rq-3", "amount_fen": 501})
    assert r.status == 409 and r.code == "refund_exceeds_payment"
    assert payment(wx, s, o)["refunded_fen"] == 500
    assert audit(wx)["ok"]


def test_a_platform_refund_beyond_what_the_terminals_left_is_recorded_capped_and_flagged(wx: Api) -> None:
    s, sub = shop(wx)
    o = otn()
    ok(notify_paid(wx, sub, o, 1000, BUYER))
    r = wx.signed(s.terminal, REFUND, {"out_trade_no": o, "out_request_no": "t-1", "amount_fen": 700})
    assert r.status == 200
    ok(notify_refund(wx, sub, o, "w-1", 500))  # the platform moved it: recorded, only 300 were left
    ok(notify_refund(wx, sub, o, "w-1", 500))
    p = payment(wx, s, o)
    assert p["refunded_fen"] == 1000 and p["flags"] == ["platform_refund_exceeds_terminals"]
    r = wx.signed(s.terminal, REFUND, {"out_trade_no": o, "out_request_no": "t-2", "amount_fen": 1})
    assert r.status == 409 and r.code == "refund_exceeds_payment"
    assert dashboard(wx, s.merchant_id)["day"]["refunds_fen"] == 1000
    assert audit(wx)["ok"]


def test_the_same_refund_number_with_another_amount_is_a_conflict(wx: Api) -> None:
    s, sub = shop(wx)
    o = otn()
    ok(notify_paid(wx, sub, o, 1000, BUYER))
    ok(notify_refund(wx, sub, o, "w-9", 100))
    refused(notify_refund(wx, sub, o, "w-9", 150), 409, "refund_conflict")
    p = payment(wx, s, o)
    assert p["refunded_fen"] == 100 and p["flags"] == ["platform_conflict"]


# ---------------------------------------------------------------- rejections: nothing recorded


def _tampered(n: tuple[dict[str, str], bytes]) -> tuple[dict[str, str], bytes]:
    headers, body = n
    return headers, body.replace(b'"summary": "', b'"summary": "x')


def _header(n: tuple[dict[str, str], bytes], **over: str | None) -> tuple[dict[str, str], bytes]:
    headers, body = n
    headers = dict(headers)
    for name, value in over.items():
        key = "Wechatpay-" + name.replace("_", "-").title()
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers, body


REJECTIONS: list[tuple[str, Any, int, str]] = [
    ("timestamp 301 s old", lambda sub, o: signed("TRANSACTION.SUCCESS", paid(sub, o),
                                                  timestamp=int(time.time()) - 301), 401, "stale_timestamp"),
    ("timestamp 301 s ahead", lambda sub, o: signed("TRANSACTION.SUCCESS", paid(sub, o),
                                                    timestamp=int(time.time()) + 301), 401, "stale_timestamp"),
    ("timestamp missing", lambda sub, o: _header(signed("TRANSACTION.SUCCESS", paid(sub, o)), timestamp=None),
     401, "stale_timestamp"),
    ("timestamp not ASCII digits", lambda sub, o: _header(signed("TRANSACTION.SUCCESS", paid(sub, o)),
                                                          timestamp="１７００００００００"), 401, "stale_timestamp"),
    ("unknown serial", lambda sub, o: signed("TRANSACTION.SUCCESS", paid(sub, o), serial="PUB_KEY_ID_0000"),
     401, "unknown_serial"),
    ("serial missing", lambda sub, o: _header(signed("TRANSACTION.SUCCESS", paid(sub, o)), serial=None),
     401, "unknown_serial"),
    ("another key", lambda sub, o: signed("TRANSACTION.SUCCESS", paid(sub, o), key=OTHER_KEY), 401, "bad_signature"),
    ("body changed", lambda sub, o: _tampered(signed("TRANSACTION.SUCCESS", paid(sub, o))), 401, "bad_signature"),
    ("nonce changed", lambda sub, o: _header(signed("TRANSACTION.SUCCESS", paid(sub, o)), nonce="other"),
     401, "bad_signature"),
    ("signature missing", lambda sub, o: _header(signed("TRANSACTION.SUCCESS", paid(sub, o)), signature=None),
     401, "bad_signature"),
    ("signature probe", lambda sub, o: _header(signed("TRANSACTION.SUCCESS", paid(sub, o)),
                                               signature="WECHATPAY/SIGNTEST/" + "A" * 300), 401, "bad_signature"),
    ("signature type", lambda sub, o: _header(signed("TRANSACTION.SUCCESS", paid(sub, o)),
                                              signature_type="WECHATPAY2-SM2-WITH-SM3"), 401, "bad_signature"),
    ("wrong APIv3 key", lambda sub, o: signed("TRANSACTION.SUCCESS", paid(sub, o), apiv3_key="b" * 32),
     400, "undecryptable_resource"),
    ("another service provider", lambda sub, o: signed("TRANSACTION.SUCCESS", {**paid(sub, o),
                                                                                "sp_mchid": "1900000999"}),
     403, "wrong_sp_mchid"),
    ("unbound sub_mchid", lambda sub, o: signed("TRANSACTION.SUCCESS", paid("1699999999", o)),
     404, "unknown_sub_mchid"),
    ("malformed sub_mchid", lambda sub, o: signed("TRANSACTION.SUCCESS", paid("x" * 60, o)),
     404, "unknown_sub_mchid"),
    ("refund of another provider", lambda sub, o: signed("REFUND.SUCCESS", {**refunded(sub, o, "r", 1),
                                                                             "sp_mchid": "1"}),
     403, "wrong_sp_mchid"),
    ("negative amount", lambda sub, o: signed("TRANSACTION.SUCCESS", {**paid(sub, o), "amount": {"total": -1}}),
     422, "invalid_value"),
    ("amount as a string", lambda sub, o: signed("TRANSACTION.SUCCESS", {**paid(sub, o), "amount": {"total": "1"}}),
     422, "invalid_type"),
    ("no payer", lambda sub, o: signed("TRANSACTION.SUCCESS", {k: v for k, v in paid(sub, o).items() if k != "payer"}),
     422, "missing_field"),
]


@pytest.mark.parametrize("name, make, status, code", REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_every_rejection_answers_its_code_records_nothing_and_is_logged(
        wx: Api, name: str, make: Any, status: int, code: str) -> None:
    s, sub = shop(wx)
    o = otn()
    refused(post(wx, make(sub, o)), status, code)
    assert payments_of(wx, s) == [] and dashboard(wx, s.merchant_id)["day"] == ZERO_DAY
    assert PaymentModel.count(f"{s.merchant_id}#{o}") == 0
    logged = log_of(wx, s.merchant_id) + log_of(wx)
    assert any(e["status"] == status and e["code"] == code for e in logged), name


def test_a_body_over_64_kib_is_413(wx: Api) -> None:
    headers, _ = signed("TRANSACTION.SUCCESS", paid("1600000000", otn()))
    refused(wx.call("POST", "/v1/notify/wechatpay", raw=b"{" + b" " * (64 * 1024) + b"}", headers=headers),
            413, "payload_too_large")


def test_not_configured_is_503(test_config: Any) -> None:
    for api in wechat_api(test_config, wechatpay_apiv3_key=""):
        refused(post(api, signed("TRANSACTION.SUCCESS", paid("1600000000", otn()))), 503, "wechatpay_not_configured")
    for api in wechat_api(test_config, wechatpay_public_key="", wechatpay_public_key_id="",
                          wechatpay_platform_certs=""):
        refused(post(api, signed("TRANSACTION.SUCCESS", paid("1600000000", otn()))), 503, "wechatpay_not_configured")


def test_a_probe_from_the_platform_console_records_nothing(wx: Api) -> None:
    """The platform's signature probes are refused like any bad signature; the log keeps only a
    bounded prefix of what nobody authenticated."""
    headers, body = signed("TRANSACTION.SUCCESS", paid("1600000000", otn()))
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + secrets.token_urlsafe(200)
    refused(wx.call("POST", "/v1/notify/wechatpay", raw=body + b" " * 2000, headers=headers), 401, "bad_signature")
    entry = log_of(wx)[0]
    assert entry["code"] == "bad_signature" and len(entry["body"].encode()) <= 512 and "body_sha256" in entry


# ---------------------------------------------------------------- storage: one transaction, nothing partial


def _count_writes(api: Api, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    conn = api.services.payments_repo._conn
    calls = {"transact_write_items": 0, "put_item": 0, "update_item": 0, "delete_item": 0}
    for name in calls:
        real = getattr(conn, name)

        def counted(*a: Any, _real: Any = real, _name: str = name, **k: Any) -> Any:
            calls[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(conn, name, counted)
    return calls


def test_one_transaction_per_notification_with_its_log_entry(wx: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    s, sub = shop(wx)
    joined, new = otn(), otn()
    assert wx.signed(s.terminal, PAY, payment_body(joined, amount=100, buyer=BUYER)).status == 200
    calls = _count_writes(wx, monkeypatch)
    ok(notify_paid(wx, sub, new, 100, BUYER))
    assert calls == {"transact_write_items": 1, "put_item": 0, "update_item": 0, "delete_item": 0}
    ok(notify_paid(wx, sub, joined, 100, BUYER))  # joins the terminal's payment and confirms it
    assert calls["transact_write_items"] == 3 and calls["put_item"] == 0  # a failed insert, then the join
    ok(notify_refund(wx, sub, new, "r-1", 40))
    assert calls["transact_write_items"] == 4 and calls["put_item"] == 0
    monkeypatch.undo()
    assert [e["outcome"] for e in log_of(wx, s.merchant_id)[:3]] == ["recorded"] * 3


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise TransactWriteError("injected", ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}},
                                                     "TransactWriteItems"))


def test_a_storage_fault_is_5xx_leaves_nothing_and_the_redelivery_records_once(
        wx: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    s, sub = shop(wx)
    o = otn()
    note = signed("TRANSACTION.SUCCESS", paid(sub, o, 777, BUYER))
    monkeypatch.setattr(wx.services.payments_repo._conn, "transact_write_items", _broken)
    r = post(wx, note)
    assert r.status == 503 and r.code == "storage_unavailable"
    monkeypatch.undo()
    assert payments_of(wx, s) == [] and dashboard(wx, s.merchant_id)["day"] == ZERO_DAY
    ok(post(wx, note))
    ok(post(wx, note))
    monkeypatch.setattr(wx.services.payments_repo._conn, "transact_write_items", _broken)
    assert notify_refund(wx, sub, o, "r-1", 77).status == 503
    monkeypatch.undo()
    assert payment(wx, s, o)["refunded_fen"] == 0
    ok(notify_refund(wx, sub, o, "r-1", 77))
    assert dashboard(wx, s.merchant_id)["day"] == {"gmv_fen": 700, "payments": 1, "refunds_fen": 77, "customers": 1}
    assert audit(wx)["ok"]


def test_the_log_keeps_the_envelope_and_never_a_whole_signature(wx: Api) -> None:
    s, sub = shop(wx)
    o = otn()
    headers, body = signed("TRANSACTION.SUCCESS", paid(sub, o, 100, BUYER))
    ok(post(wx, (headers, body)))
    entry = log_of(wx, s.merchant_id)[0]
    assert json.loads(entry["body"])["event_type"] == "TRANSACTION.SUCCESS"
    assert entry["headers"]["wechatpay-serial"] == PUBLIC_KEY_ID
    assert entry["headers"]["wechatpay-signature"] == headers["Wechatpay-Signature"][:8] + "…"

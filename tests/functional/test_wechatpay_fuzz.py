"""`POST /v1/notify/wechatpay` fuzzed: generated bodies, garbled headers, validly signed
envelopes that do not decrypt, and validly signed and encrypted plaintexts that break a rule.
Whatever arrives, the answer is a 2xx/4xx (never a 5xx), every refusal is the contract's
`{"code", "message"}` body, and the merchant the plaintexts name records nothing."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from chalicelib.config import Config
from chalicelib.payments.limits import MAX_AMOUNT_FEN
from localdev import wechatpay_platform as platform
from tests.helpers import Api, Reply
from tests.payments_support import dashboard, today
from tests.wechatpay_support import (
    APIV3_KEY,
    CERT_KEY,
    CERT_SERIAL,
    NOTIFY,
    OTHER_KEY,
    PUBLIC_KEY,
    PUBLIC_KEY_ID,
    SP_MCHID,
    new_wechat_shop,
    paid,
    refunded,
    wechat_api,
)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature",
           "Wechatpay-Signature-Type")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


@pytest.fixture
def wx(test_config: Config) -> Iterator[Api]:
    yield from wechat_api(test_config)


@pytest.fixture
def shop(wx: Api) -> tuple[str, str]:
    """(merchant_id, sub_mchid) of a merchant created before the first example: the one every
    generated plaintext is about."""
    _, merchant, sub = new_wechat_shop(wx)
    return merchant["merchant_id"], sub


# ---------------------------------------------------------------- building notifications


def envelope(event_type: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "create_time": datetime.now(UTC).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource", "event_type": event_type, "summary": "通知", "resource": resource,
            **extra}


def sealed(plaintext: bytes, associated_data: str = "transaction", key: str = APIV3_KEY) -> dict[str, str]:
    return {"original_type": associated_data, **platform.encrypt(plaintext, key, associated_data)}


def signed_headers(body: bytes, *, timestamp: str | None = None, nonce: str | None = None,
                   key: Any = PUBLIC_KEY, serial: str = PUBLIC_KEY_ID) -> dict[str, str]:
    """The headers the platform sends with `body`, signed for real."""
    ts = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_hex(16)
    return {"Content-Type": "application/json", "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": serial, "Wechatpay-Signature": platform.sign(key, ts, nonce, body),
            "Wechatpay-Signature-Type": SIGNATURE_TYPE}


def to_bytes(doc: Any) -> bytes:
    return doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- strategies

# header values as a gateway might hand them over: junk, odd digits, huge and signed numbers
header_values = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.integers(min_value=-(10**20), max_value=10**30).map(str),
    st.sampled_from(["", " ", "0", "-1", "1e9", "0x10", "1_700_000_000", "１７００００００００", "١٧٠٠٠٠٠٠٠٠",
                     "1700000000.5", "+1700000000", "9" * 13, "9" * 400, "WECHATPAY/SIGNTEST/AAAA", SIGNATURE_TYPE,
                     "wechatpay2-sha256-rsa2048", PUBLIC_KEY_ID, PUBLIC_KEY_ID.lower(), CERT_SERIAL, "PUB_KEY_ID_",
                     "\u202e1700000000", "null", "😀"]),
)
# timestamps that can never verify: outside the window, or not unix seconds at all
bad_timestamps = st.one_of(
    st.integers(min_value=301, max_value=10**11).map(lambda d: str(int(time.time()) + d)),
    st.integers(min_value=301, max_value=10**9).map(lambda d: str(int(time.time()) - d)),
    st.sampled_from(["", "-0", "0", "１７００００００００", "1e10", "9" * 13, "9" * 4000, "abc"]),
    header_values,
)
# arbitrary JSON, nested, for the places a document is expected
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
raw_plaintexts = st.one_of(
    st.binary(max_size=200),
    json_values.map(to_bytes),
    st.sampled_from([b"", b"null", b"[]", b"\"TRANSACTION\"", b"{", b"\xff\xfe{}", b"{\"sp_mchid\": NaN}",
                     b"{\"amount\": {\"total\": Infinity}}", b"{\"x\": " + b"1" * 5000 + b"}"]),
)
bad_amounts: st.SearchStrategy[Any] = st.one_of(
    st.integers(max_value=0), st.integers(min_value=MAX_AMOUNT_FEN + 1),
    st.sampled_from(["1000", "10.00", 10.5, 1000.0, True, None, [], {}, 1e300]))
bad_present_ids = st.one_of(st.integers(), st.sampled_from(["", " ", "o 1", "订单", "x" * 65, "a\u0000b", "a/b"]))
bad_ids = st.one_of(st.none(), bad_present_ids)
bad_times: st.SearchStrategy[Any] = st.sampled_from([
    "", "yesterday", "2024-01-01", "2024-01-01T10:00:00", "1969-12-31T23:59:59+00:00", "9999-12-31T23:59:59+08:00",
    "2024-13-01T10:00:00+08:00", 1700000000, None, []])
noise_values = st.one_of(st.text(max_size=16), st.integers(), st.none(), st.booleans())


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@st.composite
def broken_transaction(draw: st.DrawFn, sub: str) -> dict[str, Any]:
    """A TRANSACTION.SUCCESS plaintext for `sub` with at least one change that must keep it from
    being recorded (plus, maybe, harmless noise)."""
    doc = paid(sub, "o-fuzz-" + secrets.token_hex(4), 1000)
    breakage = draw(st.lists(st.sampled_from([
        "amount", "no_amount", "amount_type", "out_trade_no", "no_out_trade_no", "payer", "no_payer", "openid",
        "success_time", "no_success_time", "trade_state", "sp_mchid", "no_sp_mchid", "sub_mchid", "no_sub_mchid",
        "transaction_id"]), min_size=1, max_size=3, unique=True))
    for what in breakage:
        if what == "amount":
            doc["amount"] = {**_obj(doc.get("amount")), "total": draw(bad_amounts)}
        elif what == "no_amount":
            del doc["amount"]
        elif what == "amount_type":
            doc["amount"] = draw(st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)))
        elif what == "out_trade_no":
            doc["out_trade_no"] = draw(bad_ids)
        elif what == "no_out_trade_no":
            del doc["out_trade_no"]
        elif what == "payer":
            doc["payer"] = draw(st.sampled_from([{}, [], "oBuyer", None, {"sp_openid": None}]))
        elif what == "no_payer":
            del doc["payer"]
        elif what == "openid":
            doc["payer"] = {**_obj(doc.get("payer")), "sp_openid": draw(bad_present_ids)}
        elif what == "success_time":
            doc["success_time"] = draw(bad_times)
        elif what == "no_success_time":
            del doc["success_time"]
        elif what == "trade_state":
            doc["trade_state"] = draw(st.one_of(
                st.sampled_from(["REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR", "success", "",
                                 "SUCCESS ", 1, None]), st.text(max_size=40).filter(lambda s: s != "SUCCESS")))
        elif what == "sp_mchid":
            doc["sp_mchid"] = draw(st.one_of(bad_ids, st.from_regex(r"\A[0-9]{10}\Z").filter(lambda s: s != SP_MCHID)))
        elif what == "no_sp_mchid":
            del doc["sp_mchid"]
        elif what == "sub_mchid":
            doc["sub_mchid"] = draw(st.one_of(bad_ids, st.from_regex(r"\A[0-9]{10}\Z").filter(lambda s: s != sub)))
        elif what == "no_sub_mchid":
            del doc["sub_mchid"]
        elif what == "transaction_id":
            doc["transaction_id"] = draw(bad_present_ids)
    doc.update(draw(st.dictionaries(st.sampled_from(["attach", "bank_type", "trade_type", "promotion_detail", "x"]),
                                    noise_values, max_size=2)))
    return doc


@st.composite
def any_plaintext(draw: st.DrawFn, sub: str) -> tuple[str, bytes]:
    """(event_type, plaintext) that must record nothing: a broken transaction; any refund (the
    shop has no payment to refund); a plaintext under an event type that records nothing; junk."""
    kind = draw(st.sampled_from(["transaction", "refund", "other_event", "raw", "nested"]))
    if kind == "transaction":
        return "TRANSACTION.SUCCESS", to_bytes(draw(broken_transaction(sub)))
    if kind == "refund":
        doc: dict[str, Any] = refunded(sub, "o-fuzz-" + secrets.token_hex(4), "r-" + secrets.token_hex(4),
                                       draw(st.integers(min_value=-5, max_value=MAX_AMOUNT_FEN + 5)),
                                       draw(st.integers(min_value=-5, max_value=MAX_AMOUNT_FEN + 5)))
        for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=2, unique=True)):
            if draw(st.booleans()):
                del doc[key]
            else:
                doc[key] = draw(json_values)
        event = draw(st.sampled_from(["REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED", "TRANSACTION.SUCCESS"]))
        return event, to_bytes(doc)
    if kind == "other_event":
        event = draw(st.one_of(
            st.sampled_from(["PAYSCORE.USER_OPEN_SERVICE", "TRANSACTION.CLOSED", "TRANSACTION.SUCCESS ",
                             "transaction.success", "TRANSACTION", "REFUND", "MCHTRANSFER.BILL.FINISHED"]),
            st.text(min_size=1, max_size=64).filter(lambda s: s != "TRANSACTION.SUCCESS")))
        return event, to_bytes(paid(sub, "o-fuzz-" + secrets.token_hex(4), 1000))
    event = draw(st.sampled_from(["TRANSACTION.SUCCESS", "REFUND.SUCCESS"]))
    if kind == "raw":
        return event, draw(raw_plaintexts)
    # deep nesting inside an otherwise valid document, around both JSON parsers' depth limits
    depth = draw(st.one_of(st.integers(min_value=1, max_value=3000), st.sampled_from([200, 1000, 3000])))
    doc = {**paid(sub, "o-fuzz-" + secrets.token_hex(4), 1000), "attach": None}
    doc["amount"]["total"] = -1
    return event, to_bytes(doc).replace(b'"attach": null', b'"attach": ' + b"[" * depth + b"]" * depth)


@st.composite
def garbled(draw: st.DrawFn, sub: str) -> tuple[dict[str, str], bytes]:
    """A notification that would record a payment, with headers changed so that it cannot verify
    (at least one change that must fail, and maybe more of any kind)."""
    body = to_bytes(envelope("TRANSACTION.SUCCESS", sealed(to_bytes(paid(sub, "o-fuzz-" + secrets.token_hex(4))))))
    headers = signed_headers(body)
    must = draw(st.sampled_from(["timestamp", "nonce", "signature", "signature_type", "serial", "drop", "probe",
                                 "other_key", "cert_serial"]))
    if must == "timestamp":
        headers["Wechatpay-Timestamp"] = draw(bad_timestamps.filter(lambda v: v != headers["Wechatpay-Timestamp"]))
    elif must == "nonce":
        headers["Wechatpay-Nonce"] = draw(header_values.filter(lambda v: v != headers["Wechatpay-Nonce"]))
    elif must == "signature":
        original = base64.b64decode(headers["Wechatpay-Signature"])
        value = draw(st.one_of(header_values, st.binary(min_size=256, max_size=256).map(
            lambda b: base64.b64encode(b).decode())))
        assume(value.strip() != headers["Wechatpay-Signature"] and _decoded(value) != original)
        headers["Wechatpay-Signature"] = value
    elif must == "signature_type":
        headers["Wechatpay-Signature-Type"] = draw(header_values.filter(lambda v: v != SIGNATURE_TYPE))
    elif must == "serial":
        value = draw(header_values)
        # a case or leading-zero variant of the id still names the same key
        assume(value.strip().upper().lstrip("0") != PUBLIC_KEY_ID.upper())
        headers["Wechatpay-Serial"] = value
    elif must == "drop":
        for name in draw(st.lists(st.sampled_from(HEADERS[:4]), min_size=1, max_size=4, unique=True)):
            del headers[name]
    elif must == "probe":
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + draw(st.sampled_from(
            [headers["Wechatpay-Signature"], "", base64.b64encode(secrets.token_bytes(256)).decode()]))
    elif must == "other_key":
        headers = signed_headers(body, key=OTHER_KEY, timestamp=headers["Wechatpay-Timestamp"])
    else:  # signed with the certificate's key but naming the public key id, or the other way round
        headers = draw(st.sampled_from([signed_headers(body, key=CERT_KEY),
                                        signed_headers(body, serial=CERT_SERIAL)]))
    for name in draw(st.lists(st.sampled_from(HEADERS), max_size=2, unique=True)):  # more, of any kind
        if draw(st.booleans()):
            headers.pop(name, None)
        else:
            headers[name] = draw(header_values)
    return headers, body


def _decoded(signature: str) -> bytes | None:
    try:
        return base64.b64decode(signature, validate=True)
    except ValueError:
        return None


@st.composite
def resigned_envelope(draw: st.DrawFn, sub: str) -> tuple[dict[str, str], bytes]:
    """A body the platform signs validly that is not a recordable envelope: junk, other JSON, or
    the real envelope with its resource or event broken."""
    kind = draw(st.sampled_from(["binary", "json", "envelope"]))
    if kind == "binary":
        body = draw(st.binary(max_size=300))
    elif kind == "json":
        body = to_bytes(draw(json_values))
    else:
        doc = envelope("TRANSACTION.SUCCESS", sealed(to_bytes(paid(sub, "o-fuzz-" + secrets.token_hex(4)))))
        what = draw(st.sampled_from(["no_resource", "resource", "event_type", "no_event_type", "resource_field",
                                     "no_resource_field"]))
        if what == "no_resource":
            del doc["resource"]
        elif what == "resource":
            doc["resource"] = draw(json_values.filter(lambda v: not isinstance(v, dict)) | st.just({}))
        elif what == "event_type":
            doc["event_type"] = draw(json_values.filter(lambda v: v != "TRANSACTION.SUCCESS"))
        elif what == "no_event_type":
            del doc["event_type"]
        else:
            field = draw(st.sampled_from(["algorithm", "ciphertext", "nonce", "associated_data"]))
            if what == "no_resource_field":
                assume(field != "associated_data")  # optional: absent is "" and the tag then fails below
                del doc["resource"][field]
            else:
                current = doc["resource"][field]
                doc["resource"][field] = draw(json_values.filter(lambda v: v != current))
        doc.update(draw(st.dictionaries(st.sampled_from(["id", "summary", "create_time", "resource_type", "zz"]),
                                        noise_values, max_size=2)))
        body = to_bytes(doc)
    return signed_headers(body), body


@st.composite
def undecryptable(draw: st.DrawFn, sub: str) -> tuple[dict[str, str], bytes]:
    """A validly signed envelope whose resource cannot decrypt with the APIv3 key."""
    plaintext = to_bytes(paid(sub, "o-fuzz-" + secrets.token_hex(4)))
    resource = sealed(plaintext)
    what = draw(st.sampled_from(["key", "ciphertext", "truncated", "not_base64", "nonce", "associated_data",
                                 "algorithm"]))
    if what == "key":
        resource = sealed(plaintext, key=draw(st.sampled_from([platform.new_apiv3_key(), APIV3_KEY[::-1],
                                                               "testMchAPIv3Key0"])))
    elif what == "ciphertext":
        raw = bytearray(base64.b64decode(resource["ciphertext"]))
        raw[draw(st.integers(min_value=0, max_value=len(raw) - 1))] ^= draw(st.integers(min_value=1, max_value=255))
        resource["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    elif what == "truncated":
        whole = base64.b64decode(resource["ciphertext"])
        cut = draw(st.integers(min_value=0, max_value=len(whole) - 1))
        resource["ciphertext"] = base64.b64encode(whole[:cut]).decode()
    elif what == "not_base64":
        resource["ciphertext"] = draw(st.text(min_size=1, max_size=40).filter(lambda s: _b64(s) is None))
    elif what == "nonce":
        resource["nonce"] = draw(st.text(max_size=200).filter(lambda s: s != resource["nonce"]))
    elif what == "associated_data":
        resource["associated_data"] = draw(st.text(max_size=40).filter(lambda s: s != "transaction"))
    else:
        resource["algorithm"] = draw(st.text(max_size=30).filter(lambda s: s != "AEAD_AES_256_GCM")
                                     | st.sampled_from(["AEAD_AES_128_GCM", "aead_aes_256_gcm"]))
    body = to_bytes(envelope("TRANSACTION.SUCCESS", resource))
    return signed_headers(body), body


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return None


@st.composite
def bad_plaintext(draw: st.DrawFn, sub: str) -> tuple[dict[str, str], bytes]:
    """Validly signed and encrypted, with a plaintext that must record nothing."""
    event, plaintext = draw(any_plaintext(sub))
    family = "refund" if event.startswith("REFUND.") else "transaction"
    body = to_bytes(envelope(event, sealed(plaintext, family)))
    return signed_headers(body), body


@st.composite
def junk(draw: st.DrawFn, sub: str) -> tuple[dict[str, str], bytes]:
    """Anything at all: generated bytes and generated headers, some of them missing."""
    if draw(st.integers(min_value=0, max_value=15)) == 0:  # now and then, past the 64 KiB cap
        body = draw(st.sampled_from([b"{" * 70_000, b"x" * (64 * 1024 + 1)]))
    else:
        body = draw(st.one_of(st.binary(max_size=400), json_values.map(to_bytes)))
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/plain", "", "application/json; x"]))}
    headers.update(draw(st.dictionaries(st.sampled_from(HEADERS), header_values, max_size=5)))
    return headers, body


def notifications(sub: str) -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
    # the plaintexts reach the most code: they get more of the examples
    return st.one_of(junk(sub), garbled(sub), resigned_envelope(sub), undecryptable(sub), bad_plaintext(sub),
                     bad_plaintext(sub), bad_plaintext(sub))


# ---------------------------------------------------------------- the property


def answered(reply: Reply, sent: Any) -> None:
    assert reply.status < 500, (reply.status, reply.body, sent)
    if reply.status == 204:
        assert reply.raw == b"", sent
        return
    assert reply.status in (400, 401, 403, 404, 409, 413, 422), (reply.status, reply.body, sent)
    assert isinstance(reply.body, dict) and isinstance(reply.body.get("code"), str) \
        and isinstance(reply.body.get("message"), str), (reply.status, reply.raw[:200], sent)


def recorded_nothing(api: Api, merchant_id: str) -> None:
    figures = dashboard(api, merchant_id)
    assert figures["day"] == {"gmv_fen": 0, "payments": 0, "refunds_fen": 0, "customers": 0}, figures
    assert figures["month"]["gmv_fen"] == 0 and figures["month"]["payments"] == 0, figures
    r = api.get(f"/v1/merchants/{merchant_id}/payments?date={today(api)}", token=api.admin())
    assert r.status == 200 and r.body["payments"] == [], r.body
    log = api.get(f"/v1/merchants/{merchant_id}/callbacks", token=api.admin())
    assert log.status == 200
    assert not [e for e in log.body["callbacks"] if e["outcome"] in ("recorded", "duplicate")], log.body


@FUZZ
@given(data=st.data())
def test_generated_wechatpay_notifications_never_get_a_5xx_nor_record_anything(
        wx: Api, shop: tuple[str, str], data: st.DataObject) -> None:
    merchant_id, sub = shop
    headers, body = data.draw(notifications(sub), label="notification")
    reply = wx.call("POST", NOTIFY, raw=body, headers=headers)
    answered(reply, (headers, body[:300]))
    event(f"{reply.status} {reply.code or ''}".strip())
    recorded_nothing(wx, merchant_id)


def test_the_shop_the_fuzz_uses_does_record_a_real_notification(wx: Api, shop: tuple[str, str]) -> None:
    """The property above is not vacuous: the same shop, the same helpers, one unbroken
    notification — and the payment is there."""
    merchant_id, sub = shop
    body = to_bytes(envelope("TRANSACTION.SUCCESS", sealed(to_bytes(paid(sub, "o-fuzz-real", 1234)))))
    reply = wx.call("POST", NOTIFY, raw=body, headers=signed_headers(body))
    assert (reply.status, reply.raw) == (204, b""), reply.body
    assert dashboard(wx, merchant_id)["day"]["gmv_fen"] == 1234


@pytest.mark.parametrize("depth", [1_000, 5_000])
def test_a_validly_signed_deeply_nested_plaintext_is_a_400_not_a_500(wx: Api, shop: tuple[str, str],
                                                                      depth: int) -> None:
    """Nesting past `json`'s recursion limit (the property above draws it too, less reliably)
    once raised RecursionError out of the plaintext parser: a 500. It is `invalid_json`."""
    merchant_id, sub = shop
    doc = {**paid(sub, "o-fuzz-deep"), "attach": None}
    plaintext = to_bytes(doc).replace(b'"attach": null', b'"attach": ' + b"[" * depth + b"]" * depth)
    body = to_bytes(envelope("TRANSACTION.SUCCESS", sealed(plaintext)))
    reply = wx.call("POST", NOTIFY, raw=body, headers=signed_headers(body))
    answered(reply, depth)
    assert (reply.status, reply.code) == (400, "invalid_json"), reply.body
    recorded_nothing(wx, merchant_id)

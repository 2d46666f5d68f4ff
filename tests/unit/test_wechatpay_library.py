"""Cross-check with an independent client library, `wechatpayv3` (PyPI, pinned in
requirements-dev.txt): what our platform simulator signs and encrypts, the library verifies
and decrypts to what our own verifier and `decrypt` read; what it refuses, we refuse.

The library runs in public-key mode, which is offline; in certificate mode, or for a serial
that is not its public key id, it downloads certificates — the `offline` fixture turns any
such attempt into a failure."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt

from chalicelib.errors import AppError
from chalicelib.payments import wechatpay
from localdev import wechatpay_platform as platform

SP_MCHID = "1900000109"
SUB_MCHID = "1600000001"
APIV3_KEY = platform.new_apiv3_key()
PLATFORM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_KEY_ID = platform.new_public_key_id()
MERCHANT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # throwaway: the library insists
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEYS = wechatpay.WechatPayKeys.load(PUBLIC_KEY_ID, platform.public_pem(PLATFORM_KEY))
VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "wechatpay_go_notify.json").read_text("utf-8"))


class NetworkAttempted(AssertionError):
    pass


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkAttempted(f"the library tried the network: {args[1:3]}")

    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield


def library(public_key_pem: str = platform.public_pem(PLATFORM_KEY), public_key_id: str = PUBLIC_KEY_ID,
            apiv3_key: str = APIV3_KEY) -> WeChatPay:
    return WeChatPay(wechatpay_type=WeChatPayType.JSAPI, mchid=SP_MCHID, private_key=platform.private_pem(MERCHANT_KEY),
                     cert_serial_no="444F4864EA9B34415A1B2C3D4E5F60718293A4B5", appid="wx8888888888888888",
                     apiv3_key=apiv3_key, partner_mode=True, public_key=public_key_pem, public_key_id=public_key_id)


def notification(event_type: str, plaintext: dict[str, Any], **kw: Any) -> tuple[dict[str, str], bytes]:
    return platform.notification(event_type, plaintext, key=PLATFORM_KEY, serial=PUBLIC_KEY_ID,
                                 apiv3_key=APIV3_KEY, **kw)


def ours(headers: dict[str, str], body: bytes) -> bytes:
    """What our verifier and decryptor make of a notification: the plaintext."""
    lower = {k.lower(): v for k, v in headers.items()}
    wechatpay.verify_headers(lower, body, KEYS, time.time())
    return wechatpay.decrypt(wechatpay.parse_envelope(body).resource, wechatpay.apiv3_key_bytes(APIV3_KEY))


PLAINTEXTS = {
    "TRANSACTION.SUCCESS": platform.transaction(SP_MCHID, SUB_MCHID, "o-lib-1", 1234, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
    "REFUND.SUCCESS": platform.refund(SP_MCHID, SUB_MCHID, "o-lib-1", "r-lib-1", 234, 1234),
}


def test_constructing_the_library_in_public_key_mode_stays_offline() -> None:
    assert library() is not None


@pytest.mark.parametrize("event_type", sorted(PLAINTEXTS))
def test_the_library_verifies_and_decrypts_what_our_platform_sends_to_what_we_read(event_type: str) -> None:
    headers, body = notification(event_type, PLAINTEXTS[event_type])
    result = library().callback(headers, body)
    assert result is not None
    assert result["resource"] == PLAINTEXTS[event_type]
    assert result["resource"] == json.loads(ours(headers, body))
    assert result["event_type"] == event_type
    assert result["resource_type"] == "encrypt-resource"
    assert result["resource"]["sp_mchid"] == SP_MCHID and result["resource"]["sub_mchid"] == SUB_MCHID


def test_the_library_reads_lower_case_headers_as_the_route_hands_them_over() -> None:
    headers, body = notification("TRANSACTION.SUCCESS", PLAINTEXTS["TRANSACTION.SUCCESS"])
    lower = {k.lower(): v for k, v in headers.items()}
    result = library().callback(lower, body)
    assert result is not None and result["resource"] == json.loads(ours(headers, body))


def test_the_library_and_we_both_refuse_a_tampered_body() -> None:
    headers, body = notification("TRANSACTION.SUCCESS", PLAINTEXTS["TRANSACTION.SUCCESS"])
    tampered = body.replace(b'"event_type": "TRANSACTION.SUCCESS"', b'"event_type": "TRANSACTION.SUCCESZ"')
    assert tampered != body
    assert library().callback(headers, tampered) is None
    with pytest.raises(AppError) as exc:
        ours(headers, tampered)
    assert (exc.value.status, exc.value.code) == (401, "bad_signature")


@pytest.mark.parametrize("change", ["nonce", "timestamp", "probe", "other_key"])
def test_the_library_and_we_both_refuse_a_bad_signature(change: str) -> None:
    headers, body = notification("REFUND.SUCCESS", PLAINTEXTS["REFUND.SUCCESS"])
    if change == "nonce":
        headers["Wechatpay-Nonce"] += "x"
    elif change == "timestamp":
        headers["Wechatpay-Timestamp"] = str(int(headers["Wechatpay-Timestamp"]) - 1)
    elif change == "probe":
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    else:
        headers, body = platform.notification("REFUND.SUCCESS", PLAINTEXTS["REFUND.SUCCESS"], key=OTHER_KEY,
                                              serial=PUBLIC_KEY_ID, apiv3_key=APIV3_KEY)
    assert library().callback(headers, body) is None
    with pytest.raises(AppError) as exc:
        ours(headers, body)
    assert (exc.value.status, exc.value.code) == (401, "bad_signature")


def test_a_wrong_apiv3_key_decrypts_to_nothing_in_the_library_and_is_undecryptable_for_us() -> None:
    headers, body = notification("TRANSACTION.SUCCESS", PLAINTEXTS["TRANSACTION.SUCCESS"])
    assert library(apiv3_key=platform.new_apiv3_key()).callback(headers, body) is None
    with pytest.raises(AppError) as exc:
        wechatpay.decrypt(wechatpay.parse_envelope(body).resource, platform.new_apiv3_key().encode())
    assert (exc.value.status, exc.value.code) == (400, "undecryptable_resource")


def test_where_the_library_differs_a_missing_signature_type_it_raises_and_we_accept() -> None:
    headers, body = notification("TRANSACTION.SUCCESS", PLAINTEXTS["TRANSACTION.SUCCESS"])
    del headers["Wechatpay-Signature-Type"]
    with pytest.raises(Exception, match="does not support this algorithm"):
        library().callback(headers, body)
    assert json.loads(ours(headers, body)) == PLAINTEXTS["TRANSACTION.SUCCESS"]


def test_the_offline_guard_would_catch_a_certificate_download() -> None:
    """A serial other than its public key id sends the library to /v3/certificates."""
    headers, body = notification("TRANSACTION.SUCCESS", PLAINTEXTS["TRANSACTION.SUCCESS"])
    headers["Wechatpay-Serial"] = "D7CE59D1F522D701"
    with pytest.raises(NetworkAttempted):
        library().callback(headers, body)


def test_the_library_verifies_and_decrypts_the_go_sdk_vector_too() -> None:
    """The published vector through a second implementation: its certificate's key as the
    library's public key, named by the certificate's serial."""
    cert = x509.load_pem_x509_certificate(VECTOR["certificate_pem"].encode())
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)
    pem = cert.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    lib = library(public_key_pem=pem, public_key_id=VECTOR["certificate_serial"], apiv3_key=VECTOR["apiv3_key"])
    headers = {**VECTOR["headers"], "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}  # the library insists
    result = lib.callback(headers, VECTOR["body"])
    assert result is not None and result["resource"] == json.loads(VECTOR["plaintext"])


# ---------------------------------------------------------------- the library's AES-GCM helper


@pytest.mark.parametrize("plaintext", [
    json.dumps(PLAINTEXTS["TRANSACTION.SUCCESS"], ensure_ascii=False),
    json.dumps(PLAINTEXTS["REFUND.SUCCESS"], ensure_ascii=False),
    "", "{}", "退款成功 ✓ \u0000 \U0001f600", "x" * 5000,
])
@pytest.mark.parametrize("associated_data", ["transaction", "refund", "certificate", ""])
def test_the_library_aes_helper_decrypts_our_platform_encrypt(plaintext: str, associated_data: str) -> None:
    sealed = platform.encrypt(plaintext.encode(), APIV3_KEY, associated_data)
    assert sealed["algorithm"] == "AEAD_AES_256_GCM" and len(sealed["nonce"]) == 12
    assert aes_decrypt(nonce=sealed["nonce"], ciphertext=sealed["ciphertext"],
                       associated_data=sealed["associated_data"], apiv3_key=APIV3_KEY) == plaintext
    assert wechatpay.decrypt(wechatpay.Resource(**sealed), APIV3_KEY.encode()) == plaintext.encode()


def test_the_library_aes_helper_refuses_what_we_refuse() -> None:
    sealed = platform.encrypt(b'{"a": 1}', APIV3_KEY, "transaction")
    raw = bytearray(base64.b64decode(sealed["ciphertext"]))
    raw[-1] ^= 1
    for nonce, ciphertext, aad, key in [
        (sealed["nonce"], sealed["ciphertext"], sealed["associated_data"], platform.new_apiv3_key()),
        (sealed["nonce"], base64.b64encode(bytes(raw)).decode(), sealed["associated_data"], APIV3_KEY),
        (sealed["nonce"], sealed["ciphertext"], "refund", APIV3_KEY),
        ("000000000000", sealed["ciphertext"], sealed["associated_data"], APIV3_KEY),
    ]:
        assert aes_decrypt(nonce=nonce, ciphertext=ciphertext, associated_data=aad, apiv3_key=key) is None
        resource = wechatpay.Resource(algorithm="AEAD_AES_256_GCM", ciphertext=ciphertext, nonce=nonce,
                                      associated_data=aad)
        with pytest.raises(AppError) as exc:
            wechatpay.decrypt(resource, key.encode())
        assert (exc.value.status, exc.value.code) == (400, "undecryptable_resource")


def test_the_go_vector_through_the_library_aes_helper() -> None:
    resource = json.loads(VECTOR["body"])["resource"]
    plaintext = aes_decrypt(nonce=resource["nonce"], ciphertext=resource["ciphertext"],
                            associated_data=resource["associated_data"], apiv3_key=VECTOR["apiv3_key"])
    assert plaintext == VECTOR["plaintext"]

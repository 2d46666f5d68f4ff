"""WeChat Pay v3 notification crypto against the platform's own published test vector
(`wechatpay-go`, `core/notify/notify_test.go`, `TestHandler_ParseNotifyRequest`; see the
vector's `source`): header verification in the contract's order and `resource` decryption."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.errors import AppError, BadRequest, Unauthorized
from chalicelib.payments import wechatpay
from localdev import wechatpay_platform as platform

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "wechatpay_go_notify.json").read_text("utf-8"))
KEY = VECTOR["apiv3_key"].encode()
WALL = float(VECTOR["wall_time"])
BODY: bytes = VECTOR["body"].encode("utf-8")
SERIAL = VECTOR["certificate_serial"]
KEYS = wechatpay.WechatPayKeys.load(certificates_pem=VECTOR["certificate_pem"])
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def headers(**changes: str | None) -> dict[str, str]:
    """The vector's headers by lower-case name (as the route hands them over), with `changes`
    (`wechatpay_serial="…"`; None removes a header)."""
    out = {k.lower(): v for k, v in VECTOR["headers"].items()}
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def refused(exc: pytest.ExceptionInfo[AppError], kind: type[AppError], status: int, code: str) -> None:
    assert isinstance(exc.value, kind), exc.value
    assert (exc.value.status, exc.value.code) == (status, code), (exc.value.status, exc.value.code)
    assert set(exc.value.body()) >= {"code", "message"}


def verify(h: dict[str, str], body: bytes = BODY, keys: wechatpay.WechatPayKeys = KEYS,
           wall_time: float = WALL) -> wechatpay.SignedNotification:
    return wechatpay.verify_headers(h, body, keys, wall_time)


def unauthorized(code: str, h: dict[str, str], body: bytes = BODY, keys: wechatpay.WechatPayKeys = KEYS,
                 wall_time: float = WALL) -> None:
    with pytest.raises(AppError) as exc:
        verify(h, body, keys, wall_time)
    refused(exc, Unauthorized, 401, code)


def undecryptable(resource: wechatpay.Resource, key: bytes = KEY) -> None:
    with pytest.raises(AppError) as exc:
        wechatpay.decrypt(resource, key)
    refused(exc, BadRequest, 400, "undecryptable_resource")


def resource(**changes: str) -> wechatpay.Resource:
    return wechatpay.parse_envelope(BODY).resource.model_copy(update=changes)


# ---------------------------------------------------------------- the vector as published


def test_the_vector_certificate_is_selected_by_its_upper_case_hex_serial() -> None:
    assert list(KEYS.by_serial) == [SERIAL]


def test_the_go_sdk_vector_verifies_and_decrypts_to_its_plaintext() -> None:
    signed = verify(headers())
    assert (signed.timestamp, signed.nonce, signed.serial) == (
        "1624523846", VECTOR["headers"]["Wechatpay-Nonce"], SERIAL)
    envelope = wechatpay.parse_envelope(BODY)
    assert (envelope.id, envelope.event_type, envelope.resource_type) == (
        VECTOR["envelope"]["id"], VECTOR["envelope"]["event_type"], VECTOR["envelope"]["resource_type"])
    assert (envelope.resource.original_type, envelope.resource.associated_data) == ("payscore", "payscore")
    plaintext = wechatpay.decrypt(envelope.resource, b"testMchAPIv3Key0")
    assert plaintext == VECTOR["plaintext"].encode("utf-8")
    assert json.loads(plaintext)["out_contract_code"] == "21640bdbd08e473e828f3206a2741c6e"
    # a PAYSCORE.* event is acknowledged, never routed as a payment
    assert not wechatpay.handled(envelope.event_type)


def test_its_16_byte_apiv3_key_is_accepted_as_the_sdk_uses_it() -> None:
    assert wechatpay.apiv3_key_bytes("testMchAPIv3Key0") == KEY
    assert len(KEY) == 16
    for bad in ("testMchAPIv3Key", "x" * 31, "x" * 33, "", "密钥" * 8):
        with pytest.raises(ValueError):
            wechatpay.apiv3_key_bytes(bad)


@pytest.mark.parametrize("serial", ["D7CE59D1F522D701", "d7ce59d1f522d701", "D7ce59D1f522d701",
                                    "00D7CE59D1F522D701", "0d7ce59d1f522d701"])
def test_the_certificate_is_found_whatever_the_case_and_leading_zeros_of_the_serial(serial: str) -> None:
    assert KEYS.key_for(serial) is KEYS.by_serial[SERIAL]
    assert verify(headers(wechatpay_serial=serial)).serial == serial


@pytest.mark.parametrize("delta", [-300, -1, 0, 1, 300])
def test_a_timestamp_within_300_seconds_of_the_wall_clock_verifies(delta: int) -> None:
    verify(headers(), wall_time=WALL + delta)


def test_the_signature_type_header_may_be_absent_or_exactly_rsa2048() -> None:
    verify(headers(wechatpay_signature_type=None))
    verify(headers(wechatpay_signature_type="WECHATPAY2-SHA256-RSA2048"))


# ---------------------------------------------------------------- refusals, in the contract's order


def test_the_same_vector_at_the_real_wall_clock_is_stale() -> None:
    unauthorized("stale_timestamp", headers(), wall_time=time.time())


@pytest.mark.parametrize("delta", [-301, 301, -10**9])
def test_outside_the_window_is_stale(delta: int) -> None:
    unauthorized("stale_timestamp", headers(), wall_time=WALL + delta)


@pytest.mark.parametrize("ts", [None, "", "abc", "１６２４５２３８４６", "1624523846.0", "+1624523846",
                                "-1624523846", " 1624523846", "9" * 13])
def test_a_timestamp_that_is_not_plain_unix_seconds_is_stale(ts: str | None) -> None:
    unauthorized("stale_timestamp", headers(wechatpay_timestamp=ts))


def test_staleness_is_checked_before_the_serial_and_the_signature() -> None:
    unauthorized("stale_timestamp", headers(wechatpay_serial="NOPE", wechatpay_signature="x"),
                 wall_time=time.time())


@pytest.mark.parametrize("serial", [None, "", "D7CE59D1F522D702", "D7CE59D1F522D7010", "PUB_KEY_ID_0114",
                                    "D7CE59D1F522D701 ", "序列号", "x" * 129])
def test_a_serial_naming_no_configured_key_is_unknown(serial: str | None) -> None:
    unauthorized("unknown_serial", headers(wechatpay_serial=serial))


def test_the_serial_is_checked_before_the_signature() -> None:
    unauthorized("unknown_serial", headers(wechatpay_serial="ABCDEF", wechatpay_signature="garbage"))


@pytest.mark.parametrize("at", [0, 10, len(BODY) // 2, len(BODY) - 1])
def test_one_changed_body_byte_is_a_bad_signature(at: int) -> None:
    body = bytearray(BODY)
    body[at] ^= 0x01
    unauthorized("bad_signature", headers(), body=bytes(body))


def test_a_body_with_whitespace_added_or_reencoded_is_a_bad_signature() -> None:
    unauthorized("bad_signature", headers(), body=BODY + b"\n")
    reencoded = json.dumps(json.loads(BODY), ensure_ascii=True, separators=(",", ":")).encode()
    unauthorized("bad_signature", headers(), body=reencoded)


@pytest.mark.parametrize("nonce", ["EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBy", "ecZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz", "",
                                   None, "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz "])
def test_a_changed_or_missing_nonce_is_a_bad_signature(nonce: str | None) -> None:
    unauthorized("bad_signature", headers(wechatpay_nonce=nonce))


def test_a_changed_timestamp_inside_the_window_is_a_bad_signature() -> None:
    unauthorized("bad_signature", headers(wechatpay_timestamp="1624523847"))


def test_another_keys_certificate_under_the_same_serial_is_a_bad_signature() -> None:
    impostor = platform.certificate(OTHER_KEY, serial=int(SERIAL, 16))
    keys = wechatpay.WechatPayKeys.load(certificates_pem=platform.certificate_pem(impostor))
    assert list(keys.by_serial) == [SERIAL]
    unauthorized("bad_signature", headers(), keys=keys)


def test_the_vector_signature_under_a_public_key_id_of_another_key_is_a_bad_signature() -> None:
    keys = wechatpay.WechatPayKeys.load("PUB_KEY_ID_0000000001", platform.public_pem(OTHER_KEY),
                                        VECTOR["certificate_pem"])
    unauthorized("bad_signature", headers(wechatpay_serial="PUB_KEY_ID_0000000001"), keys=keys)
    verify(headers(), keys=keys)  # the certificate still answers for its own serial


@pytest.mark.parametrize("signature", [
    "WECHATPAY/SIGNTEST/" + VECTOR["headers"]["Wechatpay-Signature"],
    "WECHATPAY/SIGNTEST/",
    "WECHATPAY/SIGNTEST/" + base64.b64encode(b"probe").decode(),
])
def test_a_signtest_probe_is_a_bad_signature(signature: str) -> None:
    unauthorized("bad_signature", headers(wechatpay_signature=signature))


@pytest.mark.parametrize("signature", [None, "", "not base64!", "AAAA", VECTOR["headers"]["Wechatpay-Signature"][:-4],
                                       VECTOR["headers"]["Wechatpay-Signature"][4:]])
def test_a_missing_or_malformed_signature_is_a_bad_signature(signature: str | None) -> None:
    unauthorized("bad_signature", headers(wechatpay_signature=signature))


@pytest.mark.parametrize("sig_type", ["", "WECHATPAY2-SHA256-RSA4096", "wechatpay2-sha256-rsa2048", "SM2",
                                      "WECHATPAY2-SHA256-RSA2048 "])
def test_a_wrong_signature_type_is_a_bad_signature(sig_type: str) -> None:
    unauthorized("bad_signature", headers(wechatpay_signature_type=sig_type))


# ---------------------------------------------------------------- the resource


@pytest.mark.parametrize("key", [b"testMchAPIv3Key1", b"TESTMCHAPIV3KEY0", b"testMchAPIv3Key0" * 2,
                                 b"testMchAPIv3Key0testMchA"])
def test_a_wrong_apiv3_key_is_undecryptable(key: bytes) -> None:
    undecryptable(resource(), key)


def test_a_tampered_ciphertext_is_undecryptable() -> None:
    raw = bytearray(base64.b64decode(resource().ciphertext))
    for at in (0, len(raw) // 2, len(raw) - 1):  # the body, the middle, the GCM tag
        flipped = bytearray(raw)
        flipped[at] ^= 0x80
        undecryptable(resource(ciphertext=base64.b64encode(bytes(flipped)).decode()))
    undecryptable(resource(ciphertext=base64.b64encode(bytes(raw[:-1])).decode()))
    undecryptable(resource(ciphertext=""))


@pytest.mark.parametrize("ciphertext", ["not base64!", "YDS3lKPaC4Y5", "密文", "YDS3\n" * 3])
def test_a_ciphertext_that_is_not_base64_is_undecryptable(ciphertext: str) -> None:
    undecryptable(resource(ciphertext=ciphertext))


@pytest.mark.parametrize("changes", [{"associated_data": "transaction"}, {"associated_data": ""},
                                     {"nonce": "Kj7QIyUiYx1r"}, {"nonce": ""}, {"nonce": "n" * 200},
                                     {"nonce": "\ud800" * 12}])
def test_a_changed_nonce_or_associated_data_is_undecryptable(changes: dict[str, str]) -> None:
    undecryptable(resource(**changes))


@pytest.mark.parametrize("algorithm", ["AEAD_AES_128_GCM", "aead_aes_256_gcm", "", "AEAD_SM4_GCM"])
def test_a_wrong_algorithm_is_undecryptable(algorithm: str) -> None:
    undecryptable(resource(algorithm=algorithm))


def test_our_platform_simulator_encrypts_what_decrypt_reads_back() -> None:
    plaintext = VECTOR["plaintext"].encode()
    sealed = platform.encrypt(plaintext, "testMchAPIv3Key0", "payscore", nonce="Kj7QIyUiYx1q")
    assert sealed["ciphertext"] == resource().ciphertext  # AES-GCM is deterministic for (key, nonce, aad)
    assert wechatpay.decrypt(wechatpay.Resource(**sealed), KEY) == plaintext

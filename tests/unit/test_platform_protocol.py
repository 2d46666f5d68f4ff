"""The platform clients' rules that need no network: what a request's signature covers, where a
gateway answer's signed text begins and ends, the error mapping, the keys the consoles hand out,
and the redaction of urllib3's lines."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import platform_crypto
from chalicelib.identity import alipay_openapi
from chalicelib.identity.alipay_openapi import (
    APP_AUTH_TOKEN,
    OAUTH_TOKEN,
    UntrustedAnswer,
    refusal,
    signing_content,
    top_level_members,
    verified_response,
)
from chalicelib.identity.platform_http import HttpPolicy, RedactQuerySecrets
from chalicelib.identity.platform_ports import AlipayIdentity, AppAuthorization, WechatIdentity
from chalicelib.identity.wechat_api import identity_from

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def outcome(err: Any) -> tuple[int, str] | None:
    return None if err is None else (err.status, err.code)


# ------------------------------------------------------------------ requests


def test_a_request_signs_every_non_empty_parameter_but_sign_sorted_sign_type_included() -> None:
    params = {"timestamp": "2014-07-24 03:07:50", "method": OAUTH_TOKEN, "app_id": "2014072300007148",
              "sign_type": "RSA2", "charset": "utf-8", "version": "1.0", "format": "JSON", "app_auth_token": "",
              "grant_type": "authorization_code", "code": "4b203fe6c11548bcabd8da5bb087a83b", "sign": "x"}
    assert signing_content(params) == (
        "app_id=2014072300007148&charset=utf-8&code=4b203fe6c11548bcabd8da5bb087a83b&format=JSON"
        "&grant_type=authorization_code&method=alipay.system.oauth.token&sign_type=RSA2"
        "&timestamp=2014-07-24 03:07:50&version=1.0")
    biz = {"biz_content": '{"grant_type":"authorization_code","code":"a&b=c"}'}
    assert signing_content(biz) == 'biz_content={"grant_type":"authorization_code","code":"a&b=c"}'  # raw values


# ------------------------------------------------------------------ answers


def test_a_members_text_is_exactly_as_it_stands_in_the_body() -> None:
    response = '{ "user_id" : "2088\\u0030000000000042", "s": "}\\"{,", "n": [1, {"z": 2.50}] }'
    body = f'{{\n "alipay_system_oauth_token_response" :{response} ,\t"sign":"abc" }}'
    members = top_level_members(body)
    assert members == {"alipay_system_oauth_token_response": response, "sign": '"abc"'}
    assert json.loads(members["alipay_system_oauth_token_response"])["user_id"] == "2088" + "0" * 11 + "42"


@pytest.mark.parametrize("text", ["", "null", "[]", "{", '{"a":1', '{"a":1}x', '{"a":1,"a":2}', '{"a" 1}',
                                  '{"a":1,}', "{a:1}", '{"a":tru}'])
def test_what_is_not_one_json_object_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        top_level_members(text)


def _answer(response: str, *, key: str = "alipay_system_oauth_token_response", sign_with: rsa.RSAPrivateKey = KEY,
            sign: str | None = None) -> bytes:
    signature = platform_crypto.sign_sha256_rsa(response.encode(), sign_with) if sign is None else sign
    return f'{{"{key}":{response},"sign":"{signature}"}}'.encode()


def test_the_signature_covers_the_text_of_the_response_not_a_reserialisation() -> None:
    response = '{"user_id":"2088000000000042",  "sub_msg":"\\u6388\\u6743",\n"x":1.0}'
    assert verified_response(_answer(response), OAUTH_TOKEN, KEY.public_key())["x"] == 1.0
    reserialised = json.dumps(json.loads(response), ensure_ascii=False, separators=(",", ":"))
    signature = platform_crypto.sign_sha256_rsa(response.encode(), KEY)
    with pytest.raises(UntrustedAnswer, match="does not verify"):
        verified_response(_answer(reserialised, sign=signature), OAUTH_TOKEN, KEY.public_key())


def test_the_method_member_is_preferred_to_error_response_and_each_is_verified() -> None:
    ok = '{"code":"10000","msg":"Success","user_id":"2088000000000077","auth_app_id":"2021"}'
    sig = platform_crypto.sign_sha256_rsa(ok.encode(), KEY)
    body = f'{{"error_response":{{"code":"40002"}},"alipay_open_auth_token_app_response":{ok},"sign":"{sig}"}}'
    assert verified_response(body.encode(), APP_AUTH_TOKEN, KEY.public_key())["code"] == "10000"
    refused = '{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid"}'
    answer = _answer(refused, key="error_response")
    assert verified_response(answer, APP_AUTH_TOKEN, KEY.public_key())["sub_code"] == "isv.code-invalid"


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"alipay_system_oauth_token_response":{"user_id":"2088000000000042"}}', "unsigned"),
    (b'{"alipay_system_oauth_token_response":{"user_id":"2088000000000042"},"sign":""}', "unsigned"),
    (b'{"alipay_system_oauth_token_response":{"user_id":"2088000000000042"},"sign":1}', "unsigned"),
    (b'{"alipay_system_oauth_token_response":{"user_id":"2088000000000042"},"sign":"%%%"}', "does not verify"),
    (b'{"alipay_trade_pay_response":{},"sign":"abc"}', "no response object"),
    (b"\xff\xfe", "not a gateway answer"),
    (b"<html>502</html>", "not a gateway answer"),
])
def test_answers_that_are_not_trusted(body: bytes, reason: str) -> None:
    with pytest.raises(UntrustedAnswer, match=reason):
        verified_response(body, OAUTH_TOKEN, KEY.public_key())


def test_an_answer_signed_by_another_key_is_not_trusted() -> None:
    with pytest.raises(UntrustedAnswer, match="does not verify"):
        verified_response(_answer('{"user_id":"2088000000000042"}', sign_with=OTHER), OAUTH_TOKEN,
                          KEY.public_key())


@pytest.mark.parametrize(("payload", "expected"), [
    ({"user_id": "2088000000000042", "access_token": "t"}, None),  # oauth.token's success carries no code
    ({"code": "10000", "msg": "Success"}, None),
    ({"code": "10000", "sub_code": "isv.code-invalid"}, (401, "auth_code_rejected")),
    ({"code": "40002", "sub_code": "isv.code-invalid"}, (401, "auth_code_rejected")),
    ({"code": "40004", "sub_code": "isv.code-invalid"}, (401, "auth_code_rejected")),
    ({"code": "40002", "sub_code": "isv.unmatched-app-id"}, (401, "auth_code_rejected")),
    ({"code": "20000", "sub_code": "isp.unknow-error"}, (503, "platform_unavailable")),
    ({"code": "20001", "sub_code": "aop.invalid-app-auth-token"}, (503, "platform_unavailable")),
    ({"code": "40001", "sub_code": "isv.missing-signature"}, (503, "platform_unavailable")),
    ({"code": "40002", "sub_code": "isv.invalid-signature"}, (503, "platform_unavailable")),
    ({"code": "40002", "sub_code": "isv.grant-type-invalid"}, (503, "platform_unavailable")),
    ({"code": "40006", "sub_code": "isv.insufficient-isv-permissions"}, (503, "platform_unavailable")),
    ({"code": "99999"}, (503, "platform_unavailable")),
])
def test_the_gateway_codes_map_to_our_errors(payload: dict[str, Any], expected: tuple[int, str] | None) -> None:
    assert outcome(refusal(OAUTH_TOKEN, payload)) == expected


def test_an_app_authorization_from_the_flat_answer_or_its_tokens_list() -> None:
    flat = {"code": "10000", "user_id": "2088011177545623", "auth_app_id": "2013111800001989",
            "app_auth_token": "201510BBb507dc9f5efe41a0b98ae22f01519X62", "app_refresh_token": "201510BB0c409dd5"}
    granted = alipay_openapi._authorization(flat)
    assert granted == AppAuthorization("2088011177545623", "2013111800001989",
                                       "201510BBb507dc9f5efe41a0b98ae22f01519X62", "201510BB0c409dd5")
    assert "201510BB" not in repr(granted) and "201510BB" not in str(granted)
    listed = {"code": "10000", "tokens": [{k: v for k, v in flat.items() if k != "code"},
                                          {**flat, "auth_app_id": "2021000000000001"}]}
    assert alipay_openapi._authorization(listed) == granted
    for bad in ({"code": "10000"}, {"tokens": []}, {"tokens": ["x"]}, {"user_id": "2088011177545623"},
                {"tokens": [flat, {**flat, "user_id": "2088000000000001"}]}, {"user_id": "a b", "auth_app_id": "1"}):
        with pytest.raises(UntrustedAnswer):
            alipay_openapi._authorization(bad)


def test_an_alipay_identity_names_someone() -> None:
    assert AlipayIdentity("2088000000000042", "o1").customer_id == "2088000000000042"
    assert AlipayIdentity(None, "o1").customer_id == "o1"
    with pytest.raises(ValueError):
        AlipayIdentity(None, None)


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"openid":"o1","session_key":"k"}', WechatIdentity("o1")),
    (b'{"openid":"o1","session_key":"k","unionid":"u1","errcode":0,"errmsg":"ok"}', WechatIdentity("o1", "u1")),
    (b'{"openid":"o1","unionid":""}', WechatIdentity("o1")),
    (b'{"errcode":40029,"errmsg":"invalid code"}', (401, "auth_code_rejected")),
    (b'{"errcode":40163,"errmsg":"code been used"}', (401, "auth_code_rejected")),
    (b'{"errcode":40226,"errmsg":"high risk user"}', (401, "auth_code_rejected")),
    (b'{"errcode":-1,"errmsg":"system error"}', (503, "platform_unavailable")),
    (b'{"errcode":45011,"errmsg":"api minute-quota reach limit"}', (503, "platform_unavailable")),
    (b'{"errcode":40013,"errmsg":"invalid appid"}', (503, "platform_unavailable")),
    (b'{"errcode":40125,"errmsg":"invalid appsecret"}', (503, "platform_unavailable")),
    (b'{"errcode":"40029"}', (503, "platform_unavailable")),
    (b'{"errcode":true}', (503, "platform_unavailable")),
    (b'{"session_key":"k"}', (503, "platform_unavailable")),
    (b'{"openid":"a b"}', (503, "platform_unavailable")),
    (b'{"openid":"o1","unionid":5}', (503, "platform_unavailable")),
    (b"[]", (503, "platform_unavailable")),
    (b"<html>", (503, "platform_unavailable")),
])
def test_jscode2session_answers(body: bytes, expected: Any) -> None:
    result = identity_from(body)
    assert (result if isinstance(result, WechatIdentity) else outcome(result)) == expected


# ------------------------------------------------------------------ keys


def _pem(fmt: serialization.PrivateFormat) -> str:
    return KEY.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


@pytest.mark.parametrize("text", [
    _pem(serialization.PrivateFormat.PKCS8),
    _pem(serialization.PrivateFormat.TraditionalOpenSSL),  # PKCS#1 "BEGIN RSA PRIVATE KEY"
    "".join(_pem(serialization.PrivateFormat.PKCS8).strip().splitlines()[1:-1]),  # bare base64, as the console
    "".join(_pem(serialization.PrivateFormat.TraditionalOpenSSL).strip().splitlines()[1:-1]),
    _pem(serialization.PrivateFormat.PKCS8).replace("\n", "\\n"),  # pasted into one environment line
])
def test_the_app_private_key_in_the_forms_the_consoles_give(text: str) -> None:
    key = platform_crypto.load_private_key(text, "ALIPAY_APP_PRIVATE_KEY")
    assert platform_crypto.same_key(key.public_key(), KEY.public_key())


def test_a_bad_key_is_named_never_quoted() -> None:
    for text in ("not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                 platform_crypto.public_pem(KEY)):
        with pytest.raises(ValueError) as raised:
            platform_crypto.load_private_key(text, "ALIPAY_APP_PRIVATE_KEY")
        assert "ALIPAY_APP_PRIVATE_KEY" in str(raised.value) and text not in str(raised.value)
    bare = base64.b64encode(KEY.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    assert platform_crypto.same_key(platform_crypto.load_public_key(bare), KEY.public_key())


# ------------------------------------------------------------------ HTTP


def test_backoff_is_bounded_and_jittered() -> None:
    policy = HttpPolicy(backoff_base=0.2, backoff_max=1.0)
    waits = [policy.backoff(n) for n in (1, 2, 3, 10) for _ in range(50)]
    assert all(0 <= w <= 1.0 for w in waits) and len(set(waits)) > 10
    assert max(policy.backoff(1) for _ in range(50)) <= 0.2
    with pytest.raises(ValueError):
        HttpPolicy(attempts=0)


def test_urllib3_request_lines_lose_the_secret_and_the_code() -> None:
    record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, '%s://%s:%s "%s %s %s" %s %s',
                               ("https", "api.weixin.qq.com", 443, "GET",
                                "/sns/jscode2session?appid=wx1&secret=s3cr3t&js_code=081abc&grant_type=x",
                                "HTTP/1.1", 200, 59), None)
    assert RedactQuerySecrets().filter(record)
    assert record.getMessage() == ('https://api.weixin.qq.com:443 "GET /sns/jscode2session?appid=wx1&secret=***'
                                   '&js_code=***&grant_type=x HTTP/1.1" 200 59')

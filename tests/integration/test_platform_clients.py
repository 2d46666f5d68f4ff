"""The platform adapters (`chalicelib.identity.alipay_openapi`, `.wechat_api`) against the
platform simulator over real HTTP — no mocked HTTP client: the simulator checks the app's request
signature, the adapter verifies the simulator's; faults are the simulator's (delays past the read
timeout, 5xx, garbage, tampered answers). Retries are counted on the simulator."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import platform_crypto
from chalicelib.config import Config
from chalicelib.errors import AppError
from chalicelib.identity.alipay_openapi import APP_AUTH_TOKEN, OAUTH_TOKEN, AlipayOpenApiClient
from chalicelib.identity.platform_http import HttpPolicy, PlatformHttp
from chalicelib.identity.platform_ports import AlipayIdentity, AppAuthorization, WechatIdentity
from chalicelib.identity.wechat_api import WechatApiClient
from localdev import platform_simulator as simulator_module
from localdev.platform_simulator import LOCAL_AUTH_APP_ID, PlatformSimulator
from tests.simulator import APP_ID, FAST, WECHAT_APPID, WECHAT_SECRET, keys, simulator_env

SELLER = "2088000000000077"
USER = "2088000000000042"
OPEN_ID = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"


def alipay(sim: PlatformSimulator, **overrides: Any) -> AlipayOpenApiClient:
    k = keys()
    args: dict[str, Any] = {"app_id": APP_ID, "app_private_key": k.app_private_pem,
                            "alipay_public_key": k.platform_public_pem, "gateway_url": sim.alipay_gateway_url,
                            "policy": FAST, **overrides}
    return AlipayOpenApiClient(**args)


def wechat(sim: PlatformSimulator, **overrides: Any) -> WechatApiClient:
    args: dict[str, Any] = {"appid": WECHAT_APPID, "secret": WECHAT_SECRET, "base_url": sim.url, "policy": FAST,
                            **overrides}
    return WechatApiClient(**args)


def failure(call: Callable[[], Any]) -> AppError:
    with pytest.raises(AppError) as raised:
        call()
    return raised.value


def outcome(err: AppError) -> tuple[int, str]:
    return err.status, err.code


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LOGIN = {"oauth": lambda c, code: c.user_id_for(code), "app": lambda c, code: c.authorize_app(code)}
METHOD = {"oauth": OAUTH_TOKEN, "app": APP_AUTH_TOKEN}


# ------------------------------------------------------------------ Alipay: answers


def test_a_customer_with_a_user_id(platform_simulator: PlatformSimulator) -> None:
    who = alipay(platform_simulator).user_id_for(f"sandbox:{USER}")
    assert who == AlipayIdentity(user_id=USER, open_id=None) and who.customer_id == USER
    [seen] = platform_simulator.seen("alipay")
    assert (seen.method, seen.signature_valid, seen.answer) == (OAUTH_TOKEN, True, "ok")
    p = seen.params
    assert {k: p[k] for k in ("app_id", "format", "charset", "sign_type", "version", "grant_type", "code")} == {
        "app_id": APP_ID, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2", "version": "1.0",
        "grant_type": "authorization_code", "code": f"sandbox:{USER}"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", p["timestamp"])  # Beijing time, checked by the simulator


def test_a_customer_of_an_app_on_the_openid_scheme(platform_simulator: PlatformSimulator) -> None:
    who = alipay(platform_simulator).user_id_for(f"sandbox:{OPEN_ID}")
    assert who == AlipayIdentity(user_id=None, open_id=OPEN_ID) and who.customer_id == OPEN_ID


def test_a_merchant_authorizing_our_app(platform_simulator: PlatformSimulator) -> None:
    granted = alipay(platform_simulator).authorize_app(f"sandbox:{SELLER}")
    assert (granted.user_id, granted.auth_app_id) == (SELLER, LOCAL_AUTH_APP_ID)
    [seen] = platform_simulator.seen("alipay")
    assert granted.app_auth_token and granted.app_auth_token in seen.body.decode()
    assert granted.app_auth_token not in repr(granted) and granted.app_refresh_token not in repr(granted)
    assert json.loads(seen.params["biz_content"]) == {"grant_type": "authorization_code", "code": f"sandbox:{SELLER}"}
    assert isinstance(granted, AppAuthorization) and seen.signature_valid


@pytest.mark.parametrize("which", sorted(LOGIN))
@pytest.mark.parametrize("code", ["4b203fe6c11548bcabd8da5bb087a83b", "sandbox:", "sandbox:a b",
                                  "SANDBOX:2088000000000042"])
def test_a_code_the_platform_refuses_is_401(platform_simulator: PlatformSimulator, which: str, code: str) -> None:
    err = failure(lambda: LOGIN[which](alipay(platform_simulator), code))
    assert outcome(err) == (401, "auth_code_rejected")
    [seen] = platform_simulator.seen("alipay")  # a refusal is final: not retried
    assert (seen.method, seen.signature_valid, seen.answer) == (METHOD[which], True, "isv.code-invalid")


def test_an_empty_code_is_refused_without_asking(platform_simulator: PlatformSimulator) -> None:
    assert outcome(failure(lambda: alipay(platform_simulator).user_id_for(""))) == (401, "auth_code_rejected")
    assert outcome(failure(lambda: wechat(platform_simulator).openid_for(""))) == (401, "auth_code_rejected")
    assert platform_simulator.seen() == []


# ------------------------------------------------------------------ Alipay: signatures


@pytest.mark.parametrize("which", sorted(LOGIN))
def test_a_request_signed_with_another_key_is_refused_by_the_platform(platform_simulator: PlatformSimulator,
                                                                     which: str) -> None:
    other = platform_crypto.private_pem(keys().other_key)
    err = failure(lambda: LOGIN[which](alipay(platform_simulator, app_private_key=other), f"sandbox:{SELLER}"))
    assert outcome(err) == (503, "platform_unavailable")  # our configuration, not the customer's code
    [seen] = platform_simulator.seen("alipay")
    assert (seen.signature_valid, seen.answer) == (False, "isv.invalid-signature")


def test_another_app_id_is_refused_by_the_platform(platform_simulator: PlatformSimulator) -> None:
    err = failure(lambda: alipay(platform_simulator, app_id="2021000000000666").user_id_for(f"sandbox:{USER}"))
    assert outcome(err) == (503, "platform_unavailable")
    assert [s.answer for s in platform_simulator.seen()] == ["isv.invalid-app-id"]


@pytest.mark.parametrize("which", sorted(LOGIN))
@pytest.mark.parametrize("what", ["sign", "body", "unsigned"])
def test_a_tampered_or_unsigned_answer_is_never_trusted(platform_simulator: PlatformSimulator, which: str,
                                                        what: str) -> None:
    platform_simulator.faults.tamper(what)
    err = failure(lambda: LOGIN[which](alipay(platform_simulator), f"sandbox:{SELLER}"))
    assert outcome(err) == (503, "platform_unavailable")
    assert len(platform_simulator.seen()) == 1  # an untrusted answer is not retried
    assert LOGIN[which](alipay(platform_simulator), f"sandbox:{SELLER}")  # the next, intact answer is fine


def test_a_tampered_refusal_is_not_trusted_either(platform_simulator: PlatformSimulator) -> None:
    platform_simulator.faults.tamper("sign")
    err = failure(lambda: alipay(platform_simulator).user_id_for("not-a-sandbox-code"))
    assert outcome(err) == (503, "platform_unavailable")
    assert [s.answer for s in platform_simulator.seen()] == ["isv.code-invalid"]


def test_an_answer_signed_by_another_platform_key_is_refused(platform_simulator: PlatformSimulator) -> None:
    client = alipay(platform_simulator, alipay_public_key=platform_crypto.public_pem(keys().other_key))
    assert outcome(failure(lambda: client.user_id_for(f"sandbox:{USER}"))) == (503, "platform_unavailable")


@pytest.mark.parametrize(("code", "sub_code", "expected"), [
    ("40002", "isv.code-invalid", (401, "auth_code_rejected")),
    ("40004", "isv.code-invalid", (401, "auth_code_rejected")),
    ("40002", "isv.unmatched-app-id", (401, "auth_code_rejected")),
    ("20000", "isp.unknow-error", (503, "platform_unavailable")),
    ("20000", "aop.unknow-error", (503, "platform_unavailable")),
    ("20001", "aop.invalid-auth-token", (503, "platform_unavailable")),
    ("40001", "isv.missing-signature", (503, "platform_unavailable")),
    ("40002", "isv.invalid-signature", (503, "platform_unavailable")),
    ("40004", "isp.unknow-error", (503, "platform_unavailable")),
    ("40006", "isv.insufficient-isv-permissions", (503, "platform_unavailable")),
])
def test_the_gateways_error_codes(platform_simulator: PlatformSimulator, code: str, sub_code: str,
                                  expected: tuple[int, str]) -> None:
    for which in sorted(LOGIN):
        platform_simulator.faults.refuse_alipay(code, sub_code)
        assert outcome(failure(lambda w=which: LOGIN[w](alipay(platform_simulator), f"sandbox:{SELLER}"))) == expected
    assert len(platform_simulator.seen()) == 2  # signed platform errors are final: never retried


def test_an_unconfigured_client_answers_503_without_calling(platform_simulator: PlatformSimulator) -> None:
    for client in (alipay(platform_simulator, app_private_key=""), alipay(platform_simulator, alipay_public_key=""),
                   alipay(platform_simulator, app_private_key="not a key")):
        assert outcome(failure(lambda c=client: c.user_id_for(f"sandbox:{USER}"))) == (503, "platform_unavailable")
    assert outcome(failure(lambda: wechat(platform_simulator, secret="").openid_for("sandbox:o1"))) == (
        503, "platform_unavailable")
    assert platform_simulator.seen() == []


# ------------------------------------------------------------------ transport: timeouts, 5xx, garbage

CALLS: dict[str, Callable[[PlatformSimulator], Any]] = {
    "alipay": lambda sim: alipay(sim).user_id_for(f"sandbox:{USER}"),
    "wechat": lambda sim: wechat(sim).openid_for("sandbox:oXyz"),
}


@pytest.mark.parametrize("platform", sorted(CALLS))
def test_timeouts_are_retried_then_503(platform_simulator: PlatformSimulator, platform: str) -> None:
    platform_simulator.faults.delay(2.0, times=FAST.attempts)
    started = time.monotonic()
    assert outcome(failure(lambda: CALLS[platform](platform_simulator))) == (503, "platform_unavailable")
    assert len(platform_simulator.seen(platform)) == FAST.attempts
    assert time.monotonic() - started < FAST.attempts * FAST.read_timeout + 1.0  # bounded by the read timeout


@pytest.mark.parametrize("platform", sorted(CALLS))
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_then_503(platform_simulator: PlatformSimulator, platform: str, status: int) -> None:
    platform_simulator.faults.fail(status, times=FAST.attempts)
    assert outcome(failure(lambda: CALLS[platform](platform_simulator))) == (503, "platform_unavailable")
    assert [s.answer for s in platform_simulator.seen(platform)] == [f"fault:{status}"] * FAST.attempts


@pytest.mark.parametrize("platform", sorted(CALLS))
def test_a_5xx_and_a_timeout_then_an_answer_succeed(platform_simulator: PlatformSimulator, platform: str) -> None:
    platform_simulator.faults.fail(502)
    platform_simulator.faults.delay(2.0)
    assert CALLS[platform](platform_simulator)
    assert [s.answer for s in platform_simulator.seen(platform)][0::2] == ["fault:502", "ok"]
    assert len(platform_simulator.seen(platform)) == 3


@pytest.mark.parametrize("platform", sorted(CALLS))
def test_another_status_or_garbage_is_503_at_once(platform_simulator: PlatformSimulator, platform: str) -> None:
    for fault in (lambda: platform_simulator.faults.fail(404), lambda: platform_simulator.faults.fail(302),
                  lambda: platform_simulator.faults.garbage(), lambda: platform_simulator.faults.garbage(b"{}"),
                  lambda: platform_simulator.faults.garbage(b"[" * 100_000)):
        platform_simulator.reset()
        fault()
        assert outcome(failure(lambda: CALLS[platform](platform_simulator))) == (503, "platform_unavailable")
        assert len(platform_simulator.seen(platform)) == 1


def test_no_retry_starts_that_could_end_past_the_deadline(platform_simulator: PlatformSimulator) -> None:
    clock = iter(range(0, 100, 4))  # each look at the clock: 4 s later
    policy = HttpPolicy(connect_timeout=1.0, read_timeout=1.0, attempts=5, backoff_base=0.0, deadline=10.0)
    http = PlatformHttp("wechat", policy, monotonic=lambda: float(next(clock)))
    platform_simulator.faults.fail(502, times=5)
    assert outcome(failure(lambda: wechat(platform_simulator, http=http).openid_for("sandbox:o1"))) == (
        503, "platform_unavailable")
    assert len(platform_simulator.seen()) == 3  # at 4 s and 8 s a retry fits (+2 s), at 12 s none does


def test_an_unreachable_platform_is_retried_then_503() -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    k = keys()
    clients = [AlipayOpenApiClient(app_id=APP_ID, app_private_key=k.app_private_pem,
                                   alipay_public_key=k.platform_public_pem, gateway_url=nowhere + "/gateway.do",
                                   policy=FAST),
               WechatApiClient(appid=WECHAT_APPID, secret=WECHAT_SECRET, base_url=nowhere, policy=FAST)]
    for call in (lambda: clients[0].user_id_for(f"sandbox:{USER}"), lambda: clients[1].openid_for("sandbox:o")):
        err = failure(call)
        assert outcome(err) == (503, "platform_unavailable")
        assert "ConnectionError after 3 attempt(s)" in str(err.__cause__)


# ------------------------------------------------------------------ WeChat


def test_a_wechat_customer(platform_simulator: PlatformSimulator) -> None:
    assert wechat(platform_simulator).openid_for("sandbox:oXyz-123") == WechatIdentity(openid="oXyz-123")
    [seen] = platform_simulator.seen("wechat")
    assert seen.params == {"appid": WECHAT_APPID, "secret": "***", "js_code": "sandbox:oXyz-123",
                           "grant_type": "authorization_code"}
    assert "session_key" in json.loads(seen.body)


@pytest.mark.parametrize(("errcode", "expected"), [
    (40029, (401, "auth_code_rejected")), (40163, (401, "auth_code_rejected")), (40226, (401, "auth_code_rejected")),
    (-1, (503, "platform_unavailable")), (45011, (503, "platform_unavailable")),
    (40013, (503, "platform_unavailable")), (40125, (503, "platform_unavailable")),
    (61024, (503, "platform_unavailable")),
])
def test_wechat_error_codes(platform_simulator: PlatformSimulator, errcode: int, expected: tuple[int, str]) -> None:
    platform_simulator.faults.refuse_wechat(errcode)
    assert outcome(failure(lambda: wechat(platform_simulator).openid_for("sandbox:o1"))) == expected
    assert [s.answer for s in platform_simulator.seen()] == [str(errcode)]  # never retried


def test_a_wechat_code_the_platform_refuses(platform_simulator: PlatformSimulator) -> None:
    assert outcome(failure(lambda: wechat(platform_simulator).openid_for("081aBc000xyz"))) == (
        401, "auth_code_rejected")
    assert [s.answer for s in platform_simulator.seen()] == ["40029"]


def test_a_wrong_wechat_secret_or_appid_is_503(platform_simulator: PlatformSimulator) -> None:
    assert outcome(failure(lambda: wechat(platform_simulator, secret="0" * 32).openid_for("sandbox:o1"))) == (
        503, "platform_unavailable")
    assert outcome(failure(lambda: wechat(platform_simulator, appid="wx1111111111111111").openid_for("sandbox:o1"))) \
        == (503, "platform_unavailable")
    assert [s.answer for s in platform_simulator.seen()] == ["40125", "40013"]


# ------------------------------------------------------------------ secrets stay secret


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything logged: the app's Powertools logger (its own stream) and every stdlib logger at
    DEBUG (urllib3's request lines included)."""
    from chalicelib.observability import logger

    handler = logger.registered_handler
    buf = io.StringIO()
    old_stream, old_level = handler.setStream(buf), logger.log_level  # type: ignore[attr-defined]
    logger.setLevel("DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        yield lambda: buf.getvalue() + "\n" + caplog.text
    finally:
        handler.setStream(old_stream)  # type: ignore[attr-defined]
        logger.setLevel(old_level)


def _messages(err: BaseException) -> str:
    """An error's text, its repr and body, and those of its cause and context, down the chain."""
    chain, seen = [], set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(f"{e!s} {e!r} {getattr(e, 'body', lambda: '')()}")
        e = e.__cause__ or e.__context__
    return " ".join(chain)


def test_secrets_session_keys_and_tokens_are_never_logged_nor_in_errors(
        platform_simulator: PlatformSimulator, logs: Callable[[], str]) -> None:
    sim = platform_simulator
    errors: list[AppError] = []
    results: list[Any] = [wechat(sim).openid_for("sandbox:o1"), alipay(sim).authorize_app(f"sandbox:{SELLER}")]
    sim.faults.fail(502)
    results.append(wechat(sim).openid_for("sandbox:o2"))  # retried once
    for fault, call in ((lambda: sim.faults.delay(2.0, times=3), lambda: wechat(sim).openid_for("sandbox:o3")),
                        (lambda: sim.faults.refuse_wechat(40029), lambda: wechat(sim).openid_for("sandbox:o4")),
                        (lambda: None, lambda: wechat(sim, secret="f" * 32).openid_for("sandbox:o5")),
                        (lambda: sim.faults.tamper("body"), lambda: alipay(sim).authorize_app(f"sandbox:{SELLER}")),
                        (lambda: None, lambda: wechat(sim, base_url=f"http://127.0.0.1:{closed_port()}")
                         .openid_for("sandbox:o6"))):
        fault()
        errors.append(failure(call))
    logged = logs()
    assert "platform call failed, retrying" in logged and "secret=***" in logged  # urllib3's lines, redacted

    session_keys = [json.loads(s.body)["session_key"] for s in sim.seen("wechat") if b"session_key" in s.body]
    tokens = [json.loads(s.body)["alipay_open_auth_token_app_response"][name] for s in sim.seen("alipay")
              for name in ("app_auth_token", "app_refresh_token")]
    assert len(session_keys) >= 2 and len(tokens) == 4
    forbidden = [WECHAT_SECRET, "f" * 32, *session_keys, *tokens, keys().app_private_pem.splitlines()[1]]
    texts = [logged, *(_messages(e) for e in errors), *(repr(r) for r in results), repr(wechat(sim)),
             repr(alipay(sim))]
    tracebacks = ["".join(traceback.format_exception(e)) for e in errors]  # as the routing layer logs them
    for text in texts + tracebacks:
        for secret in forbidden:
            assert secret not in text
    for text in texts:
        assert "sandbox:" not in text  # nor the codes (a traceback quotes this file's source lines)


# ------------------------------------------------------------------ make run's simulator


def test_the_local_simulator_and_the_settings_it_gives_the_server(tmp_path: Path) -> None:
    server, env = simulator_module.start_local({"YUNDIAN_STAGE": "local"}, tmp_path)
    try:
        assert {"ALIPAY_APP_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY", "ALIPAY_APP_ID", "ALIPAY_GATEWAY_URL",
                "WECHAT_MINIAPP_APPID", "WECHAT_MINIAPP_SECRET", "WECHAT_API_BASE_URL"} == set(env)
        config = Config.from_env({"YUNDIAN_STAGE": "local", **env})
        assert AlipayOpenApiClient.from_config(config, FAST).user_id_for(f"sandbox:{USER}").customer_id == USER
        assert AlipayOpenApiClient.from_config(config, FAST).authorize_app(f"sandbox:{SELLER}").user_id == SELLER
        assert WechatApiClient.from_config(config, FAST).openid_for("sandbox:o-local").openid == "o-local"
        assert [s.signature_valid for s in server.seen("alipay")] == [True, True]
    finally:
        server.stop()


def test_the_simulator_env_helper_configures_the_adapters(platform_simulator: PlatformSimulator) -> None:
    config = Config.from_env({"YUNDIAN_STAGE": "local", **simulator_env(platform_simulator)})
    assert dataclasses.replace(config).alipay_gateway_url == platform_simulator.alipay_gateway_url
    assert WechatApiClient.from_config(config, FAST).openid_for("sandbox:o9").openid == "o9"
    assert AlipayOpenApiClient.from_config(config, FAST).user_id_for(f"sandbox:{OPEN_ID}").open_id == OPEN_ID

"""Customer login and merchant authorization through the payment platforms, end to end: the app's
real adapters over HTTP against the platform simulator (request signatures checked there, its
answers signed with the platform key), DynamoDB Local behind (contract, "Identity")."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from chalice.test import Client

from chalicelib.bootstrap import bootstrap
from chalicelib.clock import OffsetClock
from chalicelib.config import Config
from chalicelib.identity.authorization import StateSigner
from localdev.platform_simulator import PlatformSimulator
from tests.functional.test_alipay_notify import notice, post, signed
from tests.helpers import Api, MovableWall
from tests.simulator import FAST, keys, simulator_settings


@pytest.fixture
def wall() -> MovableWall:
    return MovableWall()


@pytest.fixture
def idp(test_config: Config, platform_simulator: PlatformSimulator, wall: MovableWall) -> Iterator[Api]:
    import app as app_module
    from chalicelib.identity.alipay_openapi import AlipayOpenApiClient
    from chalicelib.identity.wechat_api import WechatApiClient

    config = dataclasses.replace(test_config, **simulator_settings(platform_simulator))
    services = bootstrap(config, clock=OffsetClock(), wall=wall,
                         alipay_oauth=AlipayOpenApiClient.from_config(config, policy=FAST),
                         wechat_login=WechatApiClient.from_config(config, policy=FAST))
    app_module.runtime.install(services)
    try:
        yield Api(Client(app_module.app), services)
    finally:
        app_module.runtime.install(None)


def seller() -> str:
    return "2088" + "".join(secrets.choice("0123456789") for _ in range(12))


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# ---------------------------------------------------------------- customers


def test_an_alipay_customer_logs_in_with_the_user_id_or_the_open_id(
        idp: Api, platform_simulator: PlatformSimulator) -> None:
    user = seller()
    r = idp.post("/v1/auth/alipay", {"auth_code": f"sandbox:{user}"})
    assert r.status == 200, r.body
    assert set(r.body) == {"token", "token_type", "expires_at", "customer_id"}
    assert r.body["customer_id"] == user and r.body["token_type"] == "Bearer"
    c = claims(r.body["token"])
    assert (c["sub"], c["role"], c["iss"], c["exp"] - c["iat"]) == (user, "customer", "yundian", 24 * 3600)
    open_id = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
    r = idp.post("/v1/auth/alipay", {"auth_code": f"sandbox:{open_id}"})
    assert r.status == 200 and r.body["customer_id"] == open_id
    seen = platform_simulator.seen("alipay")
    assert [(x.method, x.signature_valid) for x in seen] == [("alipay.system.oauth.token", True)] * 2


def test_a_wechat_customer_logs_in_with_the_openid(idp: Api) -> None:
    r = idp.post("/v1/auth/wechat", {"code": "sandbox:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})
    assert r.status == 200, r.body
    assert r.body["customer_id"] == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert claims(r.body["token"])["role"] == "customer"


@pytest.mark.parametrize("path, body", [("/v1/auth/alipay", {"auth_code": "not-a-sandbox-code"}),
                                        ("/v1/auth/wechat", {"code": "not-a-sandbox-code"})])
def test_a_code_the_platform_refuses_is_401_auth_code_rejected(idp: Api, path: str, body: dict[str, str]) -> None:
    r = idp.post(path, body)
    assert (r.status, r.code) == (401, "auth_code_rejected"), r.body


@pytest.mark.parametrize("path, body", [("/v1/auth/alipay", {"auth_code": "sandbox:2088000000000001"}),
                                        ("/v1/auth/wechat", {"code": "sandbox:oX"})])
def test_the_platform_unreachable_is_503_platform_unavailable(idp: Api, platform_simulator: PlatformSimulator,
                                                              path: str, body: dict[str, str]) -> None:
    platform_simulator.faults.fail(502, times=10)
    r = idp.post(path, body)
    assert (r.status, r.code) == (503, "platform_unavailable"), r.body


def test_a_tampered_alipay_answer_is_never_trusted(idp: Api, platform_simulator: PlatformSimulator) -> None:
    platform_simulator.faults.tamper("body")
    r = idp.post("/v1/auth/alipay", {"auth_code": "sandbox:2088000000000009"})
    assert (r.status, r.code) == (503, "platform_unavailable"), r.body


@pytest.mark.parametrize("body, code", [({}, "missing_field"), ({"auth_code": ""}, "invalid_value"),
                                        ({"auth_code": 5}, "invalid_type")])
def test_a_malformed_login_body_is_422(idp: Api, body: dict[str, Any], code: str) -> None:
    r = idp.post("/v1/auth/alipay", body)
    assert (r.status, r.code) == (422, code), r.body


# ---------------------------------------------------------------- merchants: the ISV flow


def _merchant(api: Api) -> tuple[str, str]:
    pid = api.new_partner()
    return pid, str(api.new_merchant(pid)["merchant_id"])


def test_authorize_url_carries_a_signed_15_minute_state_for_its_partner_only(idp: Api) -> None:
    pid, mid = _merchant(idp)
    r = idp.get(f"/v1/merchants/{mid}/bindings/alipay/authorize-url", token=idp.partner_token(pid))
    assert r.status == 200, r.body
    url = urlparse(r.body["url"])
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == idp.services.config.alipay_app_auth_url
    assert q["app_id"] == idp.services.config.alipay_app_id
    assert q["redirect_uri"].endswith("/v1/auth/alipay/app-authorized")
    assert StateSigner(idp.services.config.jwt_secret).merchant_of(q["state"], idp.services.identity._now()) == mid
    other = idp.new_partner()
    assert idp.get(f"/v1/merchants/{mid}/bindings/alipay/authorize-url",
                   token=idp.partner_token(other)).code == "forbidden_tenant"
    assert idp.get(f"/v1/merchants/{mid}/bindings/alipay/authorize-url",
                   token=idp.merchant_token(mid)).status == 403


def test_the_redirect_binds_the_platforms_seller_id_as_verified_and_says_so(idp: Api, wall: MovableWall) -> None:
    pid, mid = _merchant(idp)
    url = idp.get(f"/v1/merchants/{mid}/bindings/alipay/authorize-url", token=idp.admin()).body["url"]
    state = parse_qs(urlparse(url).query)["state"][0]
    sid = seller()
    r = idp.call("GET", f"/v1/auth/alipay/app-authorized?app_auth_code=sandbox:{sid}&state={state}")
    headers = {k.lower(): v for k, v in r.headers.items()}
    assert r.status == 200 and headers["content-type"].startswith("text/html"), r.raw
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert sid in r.raw.decode() and "<script" not in r.raw.decode()
    m = idp.get(f"/v1/merchants/{mid}", token=idp.admin())
    bindings = m.body.get("bindings") if m.status == 200 else None
    b = idp.services.onboarding.binding("alipay", sid)
    assert b is not None and b.merchant_id == mid and b.verified, (b, bindings)
    # the same redirect again (a reload): the same binding, not a refusal
    again = idp.call("GET", f"/v1/auth/alipay/app-authorized?app_auth_code=sandbox:{sid}&state={state}")
    assert again.status == 200
    # an expired state
    wall.advance(15 * 60 + 1)
    late = idp.call("GET", f"/v1/auth/alipay/app-authorized?app_auth_code=sandbox:{seller()}&state={state}")
    assert (late.status, late.code) == (400, "invalid_state")


@pytest.mark.parametrize("state", ["", "x", "a.b", "eyJtIjoibWNoXzEiLCJlIjo5OTk5OTk5OTk5fQ.forged"])
def test_a_bad_state_is_400_invalid_state_and_binds_nothing(idp: Api, state: str) -> None:
    sid = seller()
    r = idp.call("GET", f"/v1/auth/alipay/app-authorized?app_auth_code=sandbox:{sid}&state={state}")
    assert (r.status, r.code) == (400, "invalid_state"), r.body
    assert idp.services.onboarding.binding("alipay", sid) is None


def test_a_partners_tool_posts_the_code_and_a_retry_gets_the_same_binding(idp: Api) -> None:
    pid, mid = _merchant(idp)
    sid = seller()
    code = f"sandbox:{sid}"
    r = idp.post(f"/v1/merchants/{mid}/bindings/alipay/authorize", {"app_auth_code": code},
                 token=idp.partner_token(pid))
    assert r.status == 200, r.body
    assert (r.body["platform"], r.body["id"], r.body["verified"]) == ("alipay", sid, True)
    assert r.body["verified_at"]
    again = idp.post(f"/v1/merchants/{mid}/bindings/alipay/authorize", {"app_auth_code": code},
                     token=idp.partner_token(pid))
    assert again.status == 200 and again.body == r.body
    # the code is remembered for this merchant: another merchant cannot reuse it
    _, other = _merchant(idp)
    used = idp.post(f"/v1/merchants/{other}/bindings/alipay/authorize", {"app_auth_code": code},
                    token=idp.admin())
    assert used.status == 409 and used.code == "auth_code_used"


def test_an_authorized_seller_id_verified_for_another_merchant_is_409(idp: Api) -> None:
    sid = seller()
    _, first = _merchant(idp)
    assert idp.call("PUT", f"/v1/admin/merchants/{first}/bindings/alipay", {"id": sid},
                    token=idp.admin()).status == 200
    pid, second = _merchant(idp)
    r = idp.post(f"/v1/merchants/{second}/bindings/alipay/authorize", {"app_auth_code": f"sandbox:{sid}"},
                 token=idp.partner_token(pid))
    assert (r.status, r.code) == (409, "platform_id_taken"), r.body


def test_a_refused_authorization_code_is_401_and_binds_nothing(idp: Api) -> None:
    pid, mid = _merchant(idp)
    r = idp.post(f"/v1/merchants/{mid}/bindings/alipay/authorize", {"app_auth_code": "bogus"},
                 token=idp.partner_token(pid))
    assert (r.status, r.code) == (401, "auth_code_rejected"), r.body


def test_authorizing_confirms_what_the_platform_already_notified_through_the_claim(idp: Api) -> None:
    """The trust issue's rule through the platform's own proof: a seller id claimed in the merchant
    body routes notifications but confirms nothing until the owner authorizes our app."""
    sid = seller()
    pid = idp.new_partner()
    mid = str(idp.new_merchant(pid, seller_id=sid)["merchant_id"])
    o = f"o{secrets.token_hex(6)}"
    params = {**notice(sid, o, total="6.00"), "app_id": idp.services.config.alipay_app_id}
    r = post(idp, signed(params, keys().platform_key))  # the platform signs notifications with its own key
    assert r.status == 200, r.raw
    assert idp.get(f"/v1/merchants/{mid}/payments/{o}", token=idp.admin()).body["confirmed"] is False
    r = idp.post(f"/v1/merchants/{mid}/bindings/alipay/authorize", {"app_auth_code": f"sandbox:{sid}"},
                 token=idp.partner_token(pid))
    assert r.status == 200 and r.body["verified"] is True
    assert idp.get(f"/v1/merchants/{mid}/payments/{o}", token=idp.admin()).body["confirmed"] is True

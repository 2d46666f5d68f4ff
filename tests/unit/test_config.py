"""Safe defaults: nothing is local unless it says so, deployed stages need a real JWT secret and
name their fee provider on purpose, keys come from the stage secret in Lambda (never its
environment), and the local stage is never packaged or run in Lambda."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from chalicelib.config import LOCAL_JWT_SECRET, SECRET_FIELDS, Config

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 32


def deployed(**env: str) -> dict[str, str]:
    return {"YUNDIAN_STAGE": "dev", "YUNDIAN_JWT_SECRET": SECRET, "YUNDIAN_FEE_PROVIDER": "sandbox", **env}


@pytest.mark.parametrize("env", [{}, {"YUNDIAN_STAGE": ""}, {"YUNDIAN_JWT_SECRET": SECRET}])
def test_an_unset_stage_refuses_to_start(env: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match="YUNDIAN_STAGE is not set"):
        Config.from_env(env)


def test_only_an_explicit_local_stage_is_local() -> None:
    config = Config.from_env({"YUNDIAN_STAGE": "local"})
    assert config.is_local and config.jwt_secret == LOCAL_JWT_SECRET and config.fee_provider == "sandbox"
    assert config.table_name("partners") == "yundian-local-partners"
    assert not Config.from_env(deployed()).is_local


@pytest.mark.parametrize("secret", ["", "short", "x" * 31, "密" * 10, LOCAL_JWT_SECRET])
def test_deployed_stages_need_a_jwt_secret_of_32_bytes(secret: str) -> None:
    with pytest.raises(RuntimeError, match="YUNDIAN_JWT_SECRET"):
        Config.from_env(deployed(YUNDIAN_JWT_SECRET=secret))


def test_a_32_byte_secret_is_enough() -> None:
    assert Config.from_env(deployed(YUNDIAN_JWT_SECRET="x" * 32)).jwt_secret == "x" * 32
    assert Config.from_env(deployed(YUNDIAN_JWT_SECRET="密" * 11)).jwt_secret == "密" * 11  # 33 bytes


def test_deployed_stages_name_their_fee_provider_on_purpose() -> None:
    env = deployed()
    del env["YUNDIAN_FEE_PROVIDER"]
    with pytest.raises(RuntimeError, match="YUNDIAN_FEE_PROVIDER is not set"):
        Config.from_env(env)
    assert Config.from_env(deployed(YUNDIAN_FEE_PROVIDER="sandbox")).fee_provider == "sandbox"


def _stage_env(stage: str) -> dict[str, str]:
    """A stage's environment from .chalice/config.json."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}), **config["stages"][stage]["environment_variables"]}


STAGE_SECRET = {**{key: "" for key in SECRET_FIELDS}, "jwt_secret": "r" * 48}


def test_the_stage_configs_dev_names_the_sandbox_and_prod_refuses_until_a_provider_is_set() -> None:
    assert Config.from_env(_stage_env("dev"), secret=STAGE_SECRET).fee_provider == "sandbox"
    with pytest.raises(RuntimeError, match="YUNDIAN_FEE_PROVIDER is not set for stage 'prod'"):
        Config.from_env(_stage_env("prod"), secret=STAGE_SECRET)
    assert Config.from_env(_stage_env("local")).is_local


def test_the_local_stage_does_not_run_in_lambda() -> None:
    with pytest.raises(RuntimeError, match="does not run in AWS Lambda"):
        Config.from_env({**_stage_env("local"), "AWS_LAMBDA_FUNCTION_NAME": "yundian-local"})


def test_in_lambda_a_deployed_stage_takes_its_keys_from_its_secret_only() -> None:
    with pytest.raises(RuntimeError, match="reads its keys from its stage secret in AWS Lambda"):
        Config.from_env(deployed(AWS_LAMBDA_FUNCTION_NAME="yundian-dev"))
    in_lambda = {**_stage_env("dev"), "AWS_LAMBDA_FUNCTION_NAME": "yundian-dev"}
    assert Config.from_env(in_lambda, secret=STAGE_SECRET).jwt_secret == "r" * 48
    with pytest.raises(RuntimeError, match="takes YUNDIAN_JWT_SECRET from its stage secret only"):
        Config.from_env(deployed(), secret=STAGE_SECRET)
    with pytest.raises(RuntimeError, match="the stage secret of stage 'dev' lacks wechatpay_public_key"):
        Config.from_env(_stage_env("dev"), secret={k: v for k, v in STAGE_SECRET.items()
                                                   if k != "wechatpay_public_key"})


@pytest.mark.parametrize("key", sorted(SECRET_FIELDS))
def test_each_secret_field_is_its_env_variable_on_the_local_stage(key: str) -> None:
    """One declaration (`_held` in chalicelib/config.py) gives a field its secret key and its env name."""
    assert key in {f.name for f in dataclasses.fields(Config)}
    assert SECRET_FIELDS[key] == SECRET_FIELDS[key].upper() and SECRET_FIELDS[key].isidentifier()
    value = "v" * 40
    assert getattr(Config.from_env({"YUNDIAN_STAGE": "local", SECRET_FIELDS[key]: value}), key) == value
    assert getattr(Config.from_env(_stage_env("dev"), secret={**STAGE_SECRET, key: value}), key) == value


def test_deployed_stages_keep_no_key_in_their_environment() -> None:
    for stage in ("dev", "prod"):
        env = _stage_env(stage)
        assert env["YUNDIAN_SECRET_ID"] == f"yundian/{stage}"
        assert not set(SECRET_FIELDS.values()) & set(env), stage
        assert not [v for v in env.values() if "{{resolve:" in v], stage  # they would resolve into env vars


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_package_refuses_the_local_stage() -> None:
    # -o: take the install stamp as up to date (this test installs nothing and packages nothing)
    done = subprocess.run(["make", "-s", "-o", ".venv/.installed", "package", "STAGE=local"], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "the local stage cannot be packaged for deployment" in done.stderr


PLATFORM_URLS = {"ALIPAY_GATEWAY_URL": "alipay_gateway_url", "ALIPAY_APP_AUTH_URL": "alipay_app_auth_url",
                 "WECHAT_API_BASE_URL": "wechat_api_base_url"}


def test_the_platforms_endpoints_default_to_the_real_ones() -> None:
    deployed_config = Config.from_env(_stage_env("dev"), secret=STAGE_SECRET)
    for config in (Config.from_env({"YUNDIAN_STAGE": "local"}), deployed_config):
        assert (config.alipay_gateway_url, config.alipay_app_auth_url, config.wechat_api_base_url) == (
            "https://openapi.alipay.com/gateway.do", "https://openauth.alipay.com/oauth2/appToAppAuth.htm",
            "https://api.weixin.qq.com")
        assert config.wechat_miniapp_appid == ""
    local = Config.from_env({"YUNDIAN_STAGE": "local", "WECHAT_MINIAPP_APPID": "wx00000000000000a1",
                             **{name: f"http://127.0.0.1:9/{name}" for name in PLATFORM_URLS}})
    assert {field: getattr(local, field) for field in PLATFORM_URLS.values()} == {
        field: f"http://127.0.0.1:9/{name}" for name, field in PLATFORM_URLS.items()}  # the simulator
    assert local.wechat_miniapp_appid == "wx00000000000000a1"


@pytest.mark.parametrize("name", sorted(PLATFORM_URLS))
def test_a_deployed_stage_reaches_the_platforms_over_https_only(name: str) -> None:
    with pytest.raises(RuntimeError, match=f"{name} of stage 'dev' must be an https URL"):
        Config.from_env({**_stage_env("dev"), name: "http://api.weixin.qq.com"}, secret=STAGE_SECRET)
    with pytest.raises(RuntimeError, match=f"{name} must be an http"):
        Config.from_env({"YUNDIAN_STAGE": "local", name: "ftp://example.com"})
    assert Config.from_env({**_stage_env("dev"), name: "https://sandbox.example.com/gateway.do"},
                           secret=STAGE_SECRET)


def test_key_token_lifetime_is_an_hour_and_only_the_local_stage_shortens_it() -> None:
    assert Config.from_env({"YUNDIAN_STAGE": "local"}).key_token_seconds == 3600
    assert Config.from_env(deployed()).key_token_seconds == 3600
    assert Config.from_env({"YUNDIAN_STAGE": "local", "YUNDIAN_KEY_TOKEN_SECONDS": "10"}).key_token_seconds == 10
    with pytest.raises(RuntimeError, match="local stage only"):
        Config.from_env(deployed(YUNDIAN_KEY_TOKEN_SECONDS="10"))
    for bad in ("4", "3601", "1e3", "", " 10", "-10"):
        with pytest.raises(RuntimeError, match="YUNDIAN_KEY_TOKEN_SECONDS"):
            Config.from_env({"YUNDIAN_STAGE": "local", "YUNDIAN_KEY_TOKEN_SECONDS": bad})

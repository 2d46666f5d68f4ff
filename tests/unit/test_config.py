"""Safe defaults: nothing is local unless it says so, deployed stages need a real JWT secret and
name their fee provider on purpose, and the local stage is never packaged or run in Lambda."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from chalicelib.config import LOCAL_JWT_SECRET, Config

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
    """A stage's environment from .chalice/config.json, its secret references resolved."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {**config.get("environment_variables", {}), **config["stages"][stage]["environment_variables"]}
    return {k: ("r" * 48 if v.startswith("{{resolve:") else v) for k, v in env.items()}


def test_the_stage_configs_dev_names_the_sandbox_and_prod_refuses_until_a_provider_is_set() -> None:
    assert Config.from_env(_stage_env("dev")).fee_provider == "sandbox"
    with pytest.raises(RuntimeError, match="YUNDIAN_FEE_PROVIDER is not set for stage 'prod'"):
        Config.from_env(_stage_env("prod"))
    assert Config.from_env(_stage_env("local")).is_local


def test_the_local_stage_does_not_run_in_lambda() -> None:
    with pytest.raises(RuntimeError, match="does not run in AWS Lambda"):
        Config.from_env({**_stage_env("local"), "AWS_LAMBDA_FUNCTION_NAME": "yundian-local"})
    assert Config.from_env(deployed(AWS_LAMBDA_FUNCTION_NAME="yundian-dev")).stage == "dev"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_package_refuses_the_local_stage() -> None:
    # -o: take the install stamp as up to date (this test installs nothing and packages nothing)
    done = subprocess.run(["make", "-s", "-o", ".venv/.installed", "package", "STAGE=local"], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "the local stage cannot be packaged for deployment" in done.stderr

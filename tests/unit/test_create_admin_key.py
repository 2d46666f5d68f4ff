"""scripts/create_admin_key.py against moto's server: it makes a deployed stage's first admin key
with the stage's own code (its environment from .chalice/config.json, its keys from the stage
secret, its tables), and the key it prints exchanges for an admin token there. What an operator
must fix (the local stage, no credentials, no secret, no tables) is one message and exit 2.

The script binds the models to the stage's tables, which binding is global to a process, so every
run that gets that far is a subprocess (as an operator runs it), reaching moto through
AWS_ENDPOINT_URL; the runs refused earlier run in this process."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from chalicelib.auth import decode_bearer
from chalicelib.config import SECRET_FIELDS
from scripts.create_admin_key import main
from scripts.dynamodb_local import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "create_admin_key.py"
REGION = "us-east-1"  # the stage's secret and tables
BARE_REGION = "eu-west-1"  # neither
SECRET_ONLY_REGION = "ap-southeast-1"  # the secret, no tables
SECRET_ID = "yundian/dev"
VALUES = {**{key: "" for key in SECRET_FIELDS}, "jwt_secret": secrets.token_urlsafe(48)}
MOTO_ARN = "arn:aws:sts::123456789012:user/moto"  # who moto's STS says the caller is

# Another process on the same backend: the deployed stage's own bootstrap, which creates the tables
# a key is written to (`tables`; all 17 would take moto seconds) or exchanges a key for a token
# (`token KEY_ID:SECRET`, HTTP Basic).
STAGE_PROCESS = """
import base64, json, os, sys
os.environ["AWS_DEFAULT_REGION"] = sys.argv[1]  # the stage's region, as its functions have it
from chalicelib.admin_trail.models import AdminTrailModel
from chalicelib.bootstrap import bootstrap
from chalicelib.identity.models import ApiKeyModel
from chalicelib.stage_secret import load_config
from chalicelib.storage import create_tables
from scripts.create_admin_key import deployed_stage

services = bootstrap(load_config({**deployed_stage("dev").env, "AWS_REGION": sys.argv[1]}))
if sys.argv[2] == "tables":
    print(json.dumps(create_tables([ApiKeyModel, AdminTrailModel])))
else:
    print(json.dumps(services.identity.token("Basic " + base64.b64encode(sys.argv[3].encode()).decode())))
"""


def _env(endpoint: str) -> dict[str, str]:
    """An operator's shell reaching moto: credentials moto takes, no profile, no region."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_DYNAMODB": endpoint}


def _python(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=str(ROOT), env=_env(endpoint), capture_output=True,
                          text=True, timeout=60)


def _client(endpoint: str, service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server with the dev stage deployed in REGION (its secret, its tables) and only its
    secret in SECRET_ONLY_REGION."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for region in (REGION, SECRET_ONLY_REGION):
            _client(endpoint, "secretsmanager", region).create_secret(Name=SECRET_ID,
                                                                      SecretString=json.dumps(VALUES))
        made = _python(endpoint, "-c", STAGE_PROCESS, REGION, "tables")
        assert made.returncode == 0, made.stderr
        assert "yundian-dev-api_keys" in json.loads(made.stdout)
        yield endpoint
    finally:
        server.stop()


def _printed(stdout: str, label: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in stdout.splitlines() if line.strip().startswith(label))


def test_it_creates_an_admin_key_that_exchanges_for_an_admin_token(moto_endpoint: str) -> None:
    run = _python(moto_endpoint, str(SCRIPT), "--stage", "dev", "--name", "first admin", "--region", REGION)
    assert run.returncode == 0, run.stderr
    key_id, secret = _printed(run.stdout, "key id:"), _printed(run.stdout, "secret:")
    assert key_id.startswith("key_") and len(secret) >= 32
    assert run.stdout.count(secret) == 1 and secret not in run.stderr  # shown once, nowhere else
    assert "password manager" in run.stdout
    assert (f"curl -s -X POST -u {key_id} https://<api-id>.execute-api.{REGION}.amazonaws.com/dev/v1/auth/token"
            in run.stdout)

    exchanged = _python(moto_endpoint, "-c", STAGE_PROCESS, REGION, "token", f"{key_id}:{secret}")
    assert exchanged.returncode == 0, exchanged.stderr
    token = json.loads(exchanged.stdout)["token"]
    who = decode_bearer(f"Bearer {token}", VALUES["jwt_secret"], time.time())
    assert (who.role, who.key_id, who.partner_id, who.merchant_id) == ("admin", key_id, None, None)

    ddb = _client(moto_endpoint, "dynamodb")
    item = ddb.get_item(TableName="yundian-dev-api_keys", Key={"key_id": {"S": key_id}})["Item"]
    assert (item["role"]["S"], item["name"]["S"], item["created_by"]["S"]) == (
        "admin", "first admin", f"operator:{MOTO_ARN}")
    assert secret not in json.dumps(item) and len(item["secret_hash"]["S"]) == 64
    trail = [json.loads(i["data"]["S"]) for i in ddb.scan(TableName="yundian-dev-admin_trail")["Items"]]
    assert [(e["action"], e["subject"], e["who"], e["role"]) for e in trail if e["subject"] == key_id] == [
        ("api_key.create", key_id, f"operator:{MOTO_ARN}", "admin")]


def test_missing_tables_are_named(moto_endpoint: str) -> None:
    run = _python(moto_endpoint, str(SCRIPT), "--stage", "dev", "--region", SECRET_ONLY_REGION)
    assert run.returncode == 2 and run.stdout == ""
    assert "has no table yundian-dev-api_keys, yundian-dev-admin_trail in ap-southeast-1" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_missing_stage_secret_is_named(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in _env(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    assert main(["--stage", "dev", "--region", BARE_REGION]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "stage 'dev' in eu-west-1 (" in err and "cannot read stage secret 'yundian/dev'" in err
    assert "ResourceNotFoundException" in err


def test_the_local_stage_is_refused_pointing_at_make_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stage", "local"]) == 2
    assert "`make run` creates an admin API key and prints it" in capsys.readouterr().err


def test_an_unknown_stage_lists_the_deployed_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stage", "staging", "--region", REGION]) == 2
    assert "no stage 'staging' in config.json (deployed stages: dev, prod)" in capsys.readouterr().err


def test_no_credentials_is_one_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["--stage", "dev", "--region", REGION]) == 2
    assert "no usable AWS credentials (Unable to locate credentials)" in capsys.readouterr().err


def test_a_name_the_api_would_refuse_is_refused_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stage", "dev", "--name", " ", "--region", REGION]) == 2
    assert "--name ' '" in capsys.readouterr().err

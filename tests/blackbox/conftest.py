"""The black-box stack: DynamoDB Local, the tables, and the server of `make run`
(`localdev/server.py`, chalice's local server with the stream poller and the schedules) in a
subprocess, as a user runs them. Tests talk plain HTTP to it and see nothing else.

One server per pytest process (session scope). Everything started here is stopped in the
teardown, even when a test or the start-up fails.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from scripts.dynamodb_local import free_port
from scripts.run_local import stop_process_group
from tests import document_check
from tests.helpers import Reply

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "2021009900000001"
WECHAT_APPID, WECHAT_SECRET = "wx0000000000bb0001", "blackbox-" + secrets.token_hex(12)
JWT_SECRET = "blackbox-secret-" + secrets.token_hex(16)

@dataclass
class Stack:
    base: str
    jwt_secret: str
    app_id: str
    alipay_key: rsa.RSAPrivateKey
    log_path: Path
    calls: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                headers: dict[str, str] | None = None, raw: bytes | None = None,
                content_type: str = "application/json") -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": content_type, **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - our local server
                status, text, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, text, rh = err.code, err.read(), dict(err.headers)
        ctype = {k.lower(): v for k, v in rh.items()}.get("content-type", "")
        parsed: Any = text.decode("utf-8", "replace") if text else None
        if text and "json" in ctype:
            parsed = json.loads(text)
        document_check.check(method, path, status, rh, text)
        return Reply(status, parsed, {k.lower(): v for k, v in rh.items()}, text)

    def token(self, role: str, sub: str | None = None, ttl: int = 3600, **claims: Any) -> str:
        payload = {"sub": sub or f"{role}-{secrets.token_hex(4)}", "role": role,
                   "exp": int(time.time()) + ttl, **claims}
        return jwt.encode(payload, self.jwt_secret, algorithm="HS256")


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the local server exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - our local server
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the local server did not answer {url} in {timeout:.0f}s:\n{log.read_text()[-4000:]}")


def _stage_prefix() -> str | None:
    """The local server (like `chalice local`) lets the stage's environment in .chalice/config.json
    win over ours."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {**config.get("environment_variables", {}),
           **config["stages"]["local"].get("environment_variables", {})}
    return env.get("YUNDIAN_TABLE_PREFIX")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from localdev.platform_simulator import start as start_simulator
    from scripts.dynamodb_local import start

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the platform's
    app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # our app's, for its requests
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    app_pem = app_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    app_public_pem = app_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    # the platforms' stand-in, as `make run` starts it: it signs Alipay answers with the platform key
    simulator = start_simulator("127.0.0.1", 0, alipay_app_public_key_pem=app_public_pem,
                                alipay_platform_private_key=key, wechat_appid=WECHAT_APPID,
                                wechat_secret=WECHAT_SECRET, alipay_app_id=APP_ID)
    ddb = start()  # in memory, free port
    server: subprocess.Popen[bytes] | None = None
    log_path = tmp_path_factory.mktemp("blackbox") / "local-server.log"
    try:
        prefix = f"bb{secrets.token_hex(3)}-"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "YUNDIAN_", "ALIPAY_", "WECHAT", "POWERTOOLS_"))}
        env.update({
            "AWS_ENDPOINT_URL_DYNAMODB": ddb.endpoint,
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "YUNDIAN_STAGE": "local", "YUNDIAN_TABLE_PREFIX": prefix,
            "YUNDIAN_JWT_SECRET": JWT_SECRET,
            "ALIPAY_APP_ID": APP_ID,
            # the bare base64 body, as the platform console shows it
            "ALIPAY_PUBLIC_KEY": "".join(public_pem.strip().splitlines()[1:-1]),
            "ALIPAY_APP_PRIVATE_KEY": app_pem, "ALIPAY_GATEWAY_URL": simulator.alipay_gateway_url,
            "WECHAT_MINIAPP_APPID": WECHAT_APPID, "WECHAT_MINIAPP_SECRET": WECHAT_SECRET,
            "WECHAT_API_BASE_URL": simulator.url,
            "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true",
            # the server runs the stream event sources (the contest's feed) and the schedules,
            # these rarely, so the tests run the jobs when they mean to
            "YUNDIAN_LOCAL_JOB_SECONDS": "3600",
            "PYTHONPATH": str(ROOT),
        })
        # The server runs with the stage's prefix when the stage config sets one: create those.
        table_env = {**env, "YUNDIAN_TABLE_PREFIX": _stage_prefix() or prefix}
        subprocess.run([sys.executable, "-m", "localdev.tables"], cwd=str(ROOT), env=table_env, check=True,
                       capture_output=True, timeout=120)
        port = free_port()
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "localdev.server", "--host", "127.0.0.1", "--port", str(port),
                 "--stage", "local"],
                cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/v1/openapi.json", server, log_path)
        yield Stack(base, JWT_SECRET, APP_ID, key, log_path)
    finally:
        stop_process_group(server)
        ddb.stop()
        simulator.stop()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def admin(stack: Stack) -> str:
    return stack.token("admin", "ops-1")


@pytest.fixture
def clock(stack: Stack, admin: str) -> Iterator[None]:
    """Tests that move the business clock put it back to the wall clock."""
    try:
        yield
    finally:
        now = datetime.now(timezone(timedelta(hours=8)))
        r = stack.request("POST", "/v1/admin/clock", {"now": now.isoformat()}, token=admin)
        assert r.status == 200

"""The server `make run` starts (`localdev/server.py`), in a subprocess against DynamoDB Local on
tables of its own, configured as `make run` configures it (`scripts/run_local.py`: the local
payment platforms, generated into a data directory of its own) and with the demo seeded: it takes
a burst of simultaneous connections (20 terminals connecting at once got resets from
socketserver's listen backlog of 5), serves the services it installed, and confirms the demo
payment that `scripts/wechatpay_notify.py` notifies."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.auth import issue_token
from chalicelib.config import Config
from scripts.dynamodb_local import free_port
from scripts.run_local import stage_environment, stop_process_group, wait_http
from scripts.wechatpay_notify import DEMO_OPENID

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 64
CONNECT_SECONDS = 0.9  # below TCP's initial SYN retransmission timeout of 1 s


def machine_env() -> dict[str, str]:
    """Only the machine's environment: what the stage config sets (and tests may leave behind) is not ours."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("YUNDIAN_", "PYTEST_", "ALIPAY_", "WECHATPAY_"))}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's `.dynamodb/`: the local platforms' identities and the demo's state file."""
    return tmp_path_factory.mktemp("dot-dynamodb")


@pytest.fixture(scope="module")
def server(ddb_endpoint: str, test_config: Config, data_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = stage_environment(ddb_endpoint, data=data_dir, environ=machine_env())
    env.update({
        "YUNDIAN_TABLE_PREFIX": f"ls{secrets.token_hex(3)}-",  # its poller must not feed other tests
        "YUNDIAN_JWT_SECRET": test_config.jwt_secret,
        "YUNDIAN_LOCAL_JOB_SECONDS": "3600",
        "PYTHONPATH": str(ROOT),
    })
    for step in (["-m", "localdev.tables"], ["-m", "localdev.demo", str(data_dir / "demo.json")]):
        made = subprocess.run([sys.executable, *step], cwd=str(ROOT), env=env, capture_output=True, timeout=120)
        assert made.returncode == 0, made.stderr.decode(errors="replace")[-3000:]
    port = free_port()
    log_path = tmp_path_factory.mktemp("local-server") / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "localdev.server", "--port", str(port)], cwd=str(ROOT),
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(f"{base}/v1/openapi.json", proc)
        except RuntimeError as e:
            raise RuntimeError(f"{e}:\n{log_path.read_text()[-4000:]}") from e
        yield base
    finally:
        stop_process_group(proc)
    assert proc.returncode == 0, log_path.read_text()[-4000:]  # SIGTERM is a clean stop


def _get(port: int, path: str, start: threading.Barrier, out: list[object]) -> None:
    """Connect when every client is ready, send one request, read the whole reply."""
    try:
        start.wait(timeout=30)
        # Beyond a full listen queue a connection is reset (macOS, tcp_abort_on_overflow) or its
        # SYN is dropped and sent again a second later (Linux): either fails here. Within the
        # backlog the kernel completes the handshake at once (~10 ms for all 64 here).
        with socket.create_connection(("127.0.0.1", port), timeout=CONNECT_SECONDS) as s:
            s.settimeout(30)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        out.append(b"".join(chunks))
    except Exception as e:  # noqa: BLE001 - reported by the test
        out.append(e)


def test_simultaneous_connections_are_all_served(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    start = threading.Barrier(CLIENTS)
    replies: list[object] = []
    threads = [threading.Thread(target=_get, args=(port, "/v1/openapi.json", start, replies))
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    failed = [r for r in replies if not (isinstance(r, bytes) and r.startswith(b"HTTP/1.1 200"))]
    assert len(replies) == CLIENTS and not failed, [repr(r)[:200] for r in failed[:5]]
    assert all(b'"openapi"' in r for r in replies if isinstance(r, bytes))


def _wechatpay_notify(server: str, data_dir: Path, jwt_secret: str, *args: str) -> tuple[str, str, str]:
    """Run `scripts/wechatpay_notify.py` as a user does (the port from YUNDIAN_PORT): (status line,
    read-back URL, its token)."""
    env = {**machine_env(), "YUNDIAN_PORT": server.rsplit(":", 1)[1], "YUNDIAN_JWT_SECRET": jwt_secret}
    done = subprocess.run([sys.executable, "scripts/wechatpay_notify.py", *args, "--data-dir", str(data_dir)],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    found = re.fullmatch(r"read it back: curl -s (\S+) -H 'Authorization: Bearer (\S+)'", lines[-1])
    assert found, done.stdout
    return lines[1], found[1], found[2]


def _read(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - our local server
        assert r.status == 200
        return json.loads(r.read())


def test_the_wechatpay_script_confirms_a_demo_payment_once(server: str, data_dir: Path, test_config: Config) -> None:
    secret = test_config.jwt_secret
    out_trade_no = f"wx-{secrets.token_hex(4)}"
    status, url, token = _wechatpay_notify(server, data_dir, secret, out_trade_no, "2600")
    assert status == "204"
    payment = _read(url, token)
    assert (payment["out_trade_no"], payment["amount_fen"], payment["buyer_id"]) == (out_trade_no, 2600, DEMO_OPENID)
    assert payment["channels"] == ["wechatpay"] and payment["confirmed"] is True, payment

    # the platform's redelivery: acknowledged, a duplicate, still one payment
    status, _, _ = _wechatpay_notify(server, data_dir, secret, out_trade_no, "2600")
    assert status == "204"
    assert _read(url, token) == payment
    merchant = url.split("/payments/")[0]
    listed = _read(f"{merchant}/payments?limit=200", token)["payments"]
    assert [p["out_trade_no"] for p in listed if p["out_trade_no"] == out_trade_no] == [out_trade_no]
    logged = _read(f"{merchant}/callbacks?limit=200", token)["callbacks"]
    outcomes = [c["outcome"] for c in logged if c.get("out_trade_no") == out_trade_no]
    assert outcomes == ["duplicate", "recorded"], logged

    # and its refund, once
    status, _, _ = _wechatpay_notify(server, data_dir, secret, out_trade_no, "2600", "--refund", f"{out_trade_no}-r1",
                                     "600")
    assert status == "204"
    assert _read(url, token)["refunded_fen"] == 600


def test_the_audit_runs_on_the_servers_tables_after_draining_its_poller(server: str, test_config: Config) -> None:
    token = issue_token(test_config.jwt_secret, sub="ops", role="admin", exp=time.time() + 600)
    req = urllib.request.Request(f"{server}/v1/admin/audit", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - our local server
        assert r.status == 200
        body = json.loads(r.read())
    assert body["ok"] is True, body

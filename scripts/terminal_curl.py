"""Send a signed terminal request to the local API with curl (prints the command first).

    .venv/bin/python scripts/terminal_curl.py POST /v1/terminal/ping '{}'
    .venv/bin/python scripts/terminal_curl.py --dry-run POST /v1/terminal/ping '{}'

The terminal id and secret default to the first demo terminal of `make run`
(`.dynamodb/demo.json`); give --terminal/--secret for another. The base URL is
http://127.0.0.1:$YUNDIAN_PORT (8000 by default).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.auth import terminal_signature  # noqa: E402
from localdev.paths import data_dir  # noqa: E402

DEMO_FILE = data_dir() / "demo.json"


def build_command(base_url: str, method: str, path: str, body: str, terminal_id: str, secret: str,
                  now: float | None = None) -> list[str]:
    ts = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    sig = terminal_signature(secret, method, path, ts, nonce, body.encode())
    cmd = ["curl", "-sS", "-X", method, f"{base_url}{path}",
           "-H", "Content-Type: application/json",
           "-H", f"X-Yundian-Terminal: {terminal_id}",
           "-H", f"X-Yundian-Timestamp: {ts}",
           "-H", f"X-Yundian-Nonce: {nonce}",
           "-H", f"X-Yundian-Signature: {sig}"]
    if body:
        cmd += ["--data-binary", body]
    return cmd


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Send a signed terminal request with curl.")
    p.add_argument("method")
    p.add_argument("path", help="as in the contract, e.g. /v1/terminal/ping")
    p.add_argument("body", nargs="?", default="", help="raw JSON body (signed byte for byte)")
    p.add_argument("--terminal", help="terminal id (default: the first demo terminal)")
    p.add_argument("--secret", help="terminal secret (default: the first demo terminal's)")
    p.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('YUNDIAN_PORT', '8000')}")
    p.add_argument("--dry-run", action="store_true", help="only print the curl command")
    args = p.parse_args(argv)
    terminal_id, secret = args.terminal, args.secret
    if not (terminal_id and secret):
        if not DEMO_FILE.exists():
            p.error(f"no {DEMO_FILE.relative_to(ROOT)}: run `make run` first or give --terminal and --secret")
        demo = json.loads(DEMO_FILE.read_text())
        first = demo["merchants"][0]["terminals"][0]
        terminal_id, secret = terminal_id or first["terminal_id"], secret or first["secret"]
    cmd = build_command(args.base_url, args.method.upper(), args.path, args.body, terminal_id, secret)
    print(shlex.join(cmd), file=sys.stderr)
    if args.dry_run:
        return 0
    if shutil.which("curl") is None:
        print("curl is not installed; copy the command above to another machine", file=sys.stderr)
        return 1
    rc = subprocess.call(cmd)
    print()
    return rc


if __name__ == "__main__":
    sys.exit(main())

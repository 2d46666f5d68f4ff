"""schemathesis over every operation of `GET /v1/openapi.json`, with every check (`--checks all`),
against a local stack of its own (`make run`'s scripts/run_local.py: DynamoDB Local, the platform
simulator, demo data, the server) — never the stack other tests share: the fuzzer moves the test
clock, revokes, settles and creates things.

It fails on a server error, a status or content type the document does not declare, an answer
that breaks its schema, a request valid by the document that is refused, an invalid one that is
accepted, and credentials that are not enforced. The platform notifications are checked for "no
server error, a documented status and content type" only: a fuzzer cannot forge the platforms'
signatures (tests/functional/test_alipay_notify.py and test_wechatpay_*.py cover them). Rules
JSON Schema cannot say are handled, and documented, in tests/fuzz/hooks.py.

The run is bounded (`YUNDIAN_FUZZ_EXAMPLES` examples per operation, default 25) and seeded
(`YUNDIAN_FUZZ_SEED`, default a fixed one, so CI is repeatable; `random` for a new seed each run).
Deeper: `YUNDIAN_FUZZ_EXAMPLES=500 YUNDIAN_FUZZ_SEED=random .venv/bin/pytest tests/fuzz` (README, "API").
The run's output and reports land in `YUNDIAN_FUZZ_REPORT_DIR` (default: pytest's temporary folder).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.auth import issue_token, terminal_signature
from chalicelib.config import LOCAL_JWT_SECRET
from localdev.demo import tokens
from tests.local_stack import ROOT, LocalStack, clean_env, local_stack

EXAMPLES = int(os.environ.get("YUNDIAN_FUZZ_EXAMPLES", "25"))
SEED = os.environ.get("YUNDIAN_FUZZ_SEED", "20261202")
RUN_TIMEOUT = float(os.environ.get("YUNDIAN_FUZZ_TIMEOUT", "1200"))
TOKEN_TTL = 24 * 3600
MANIFEST = ROOT / "chalicelib" / "console_assets" / "manifest.json"  # the console's built assets
NOTIFICATIONS = ("/v1/notify/alipay", "/v1/notify/wechatpay")
# Operations whose success needs what no fuzzer can make, so the run is not expected to reach it:
# the platforms' signed notifications, a platform's one-time codes (the simulator knows only
# `sandbox:<id>` codes), and the signed `state` the authorize-url answer carries.
NO_SUCCESS_EXPECTED = {
    "POST /v1/notify/alipay", "POST /v1/notify/wechatpay",
    "POST /v1/auth/alipay", "POST /v1/auth/wechat",
    "GET /v1/auth/alipay/app-authorized", "POST /v1/merchants/{merchant_id}/bindings/alipay/authorize",
    # the shortfall can be asked back only after the membership's period, and only once
    "POST /v1/memberships/{membership_id}/refund",
}

pytestmark = pytest.mark.fuzz


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings, numbers and arrays are TOML ones


def _config(stack: LocalStack) -> str:
    demo = stack.demo
    merchants = [m for m in demo["merchants"] + demo["second_partner"]["merchants"]]
    values = {
        "partner_id": [demo["partner_id"], demo["second_partner"]["partner_id"]],
        "merchant_id": [m["merchant_id"] for m in merchants],
        "store_id": [s["store_id"] for m in merchants for s in m["stores"]],
        "plan_id": [m["plan_id"] for m in merchants if m.get("plan_id")],
        "contest_id": [demo["contest"]["contest_id"]],
        "membership_id": [m["membership_id"] for m in demo["customers"]["members"]],
        "asset": sorted(json.loads(MANIFEST.read_text())["assets"]),
    }
    # one worker: hypothesis describes strategies with `ast`, which CPython 3.11 cannot do from two
    # threads at once ("AST constructor recursion depth mismatch")
    lines = [f"base-url = {_toml(stack.base)}", "workers = 1", "continue-on-failure = true",
             "[generation]", f"max-examples = {EXAMPLES}", "[dictionaries]"]
    lines += [f"{name} = {{ values = {_toml(vals)} }}" for name, vals in values.items() if vals]
    lines.append("[parameters]")
    # a real id most of the time (so the run gets past 404), a generated one otherwise
    for name, vals in values.items():
        if vals:
            lines.append(f"{_toml('path.' + name)} = {{ dictionary = {_toml(name)}, probability = 0.8 }}")
    lines.append(f"{_toml('query.contest_id')} = {{ dictionary = \"contest_id\", probability = 0.8 }}")
    for path in NOTIFICATIONS:
        lines += ["[[operations]]", f"include-path = {_toml(path)}",
                  "checks.positive_data_acceptance.enabled = false",
                  "checks.negative_data_rejection.enabled = false",
                  "checks.missing_required_header.enabled = false"]
    return "\n".join(lines) + "\n"


def _context(stack: LocalStack, stats: Path) -> dict[str, Any]:
    demo = stack.demo
    minted = tokens(LOCAL_JWT_SECRET, demo)
    admin = stack.keys["admin"]
    # the admin's token comes from its API key, as a person's would (so `POST /v1/auth/refresh` can renew it)
    basic = base64.b64encode(f"{admin['key_id']}:{admin['secret']}".encode()).decode()
    req = urllib.request.Request(stack.base + "/v1/auth/token", data=b"", method="POST",
                                 headers={"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - our local server
        minted["admin"] = json.loads(r.read())["token"]
    customer = demo["customers"]["members"][0]["customer_id"]
    minted["customer"] = issue_token(LOCAL_JWT_SECRET, sub=customer, role="customer", exp=time.time() + TOKEN_TTL)
    terminal = demo["merchants"][0]["terminals"][0]
    merchants = demo["merchants"] + demo["second_partner"]["merchants"]
    return {"base": stack.base, "tokens": minted, "basic": [admin["key_id"], admin["secret"]],
            "terminal": {"terminal_id": terminal["terminal_id"], "secret": terminal["secret"]},
            "stores": {m["merchant_id"]: [s["store_id"] for s in m["stores"]] for m in merchants},
            "partner_id": demo["partner_id"],
            "stats": str(stats)}


def _call(stack: LocalStack, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
    req = urllib.request.Request(stack.base + path, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - our local server
            return int(r.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with local_stack(tmp_path_factory.mktemp("fuzz-data")) as s:
        yield s


def test_schemathesis_finds_nothing(stack: LocalStack, tmp_path: Path) -> None:
    out_dir = Path(os.environ.get("YUNDIAN_FUZZ_REPORT_DIR") or tmp_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = out_dir / "statuses.json"
    context = _context(stack, stats)
    (out_dir / "context.json").write_text(json.dumps(context))
    (out_dir / "schemathesis.toml").write_text(_config(stack))
    st = Path(sys.executable).with_name("st")
    cmd = [str(st), "--config-file", str(out_dir / "schemathesis.toml"), "--no-color", "run",
           # every check runs (schemathesis's default, `--checks all`); not named on the command line,
           # which would override the notifications' exceptions in the config file
           f"{stack.base}/v1/openapi.json", "--report", "junit",
           "--report-dir", str(out_dir / "reports")]
    if SEED != "random":
        cmd += ["--seed", SEED]
    env = {**clean_env(), "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks", "PYTHONPATH": str(ROOT),
           "YUNDIAN_FUZZ_CONTEXT": str(out_dir / "context.json")}
    started = time.monotonic()
    run = subprocess.run(cmd, cwd=str(out_dir), env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                         check=False)
    (out_dir / "schemathesis.txt").write_text(run.stdout + run.stderr)
    summary = run.stdout[run.stdout.rfind("=== SUMMARY"):] if "=== SUMMARY" in run.stdout else run.stdout[-6000:]
    print(f"\nschemathesis: {time.monotonic() - started:.0f} s, exit {run.returncode}; output in {out_dir}\n{summary}")
    assert run.returncode == 0, (f"schemathesis found problems (output: {out_dir / 'schemathesis.txt'}):\n"
                                 f"{run.stdout[-20000:]}\n{run.stderr[-3000:]}")

    # The run reached every operation's success path (not only its refusals), and what it ran as
    # stayed valid to the end (a revoked terminal or key would make every later case a 401).
    seen: dict[str, dict[str, int]] = json.loads(stats.read_text())
    document = json.loads(urllib.request.urlopen(f"{stack.base}/v1/openapi.json", timeout=30).read())  # noqa: S310
    operations = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    # (the document itself: schemathesis loaded the run from it, and does not count that call)
    never = sorted(op for op in operations - NO_SUCCESS_EXPECTED - {"GET /v1/openapi.json"}
                   if not any(code.startswith("2") for code in seen.get(op, {})))
    assert not never, f"operations the run never saw succeed: {never}\nstatuses: {json.dumps(seen, indent=1)}"
    admin = {"Authorization": f"Bearer {context['tokens']['admin']}"}
    assert _call(stack, "GET", "/v1/partners", admin) == 200
    ts, nonce = str(int(time.time())), "fuzz-check-" + str(time.time_ns())
    term = context["terminal"]
    signed = {"X-Yundian-Terminal": term["terminal_id"], "X-Yundian-Timestamp": ts, "X-Yundian-Nonce": nonce,
              "X-Yundian-Signature": terminal_signature(term["secret"], "POST", "/v1/terminal/ping", ts, nonce, b"")}
    assert _call(stack, "POST", "/v1/terminal/ping", signed) == 200

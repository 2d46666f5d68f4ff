"""`make run`: the whole backend on this machine.

1. DynamoDB Local (AWS's emulator, from the npm package) with its data in `.dynamodb/` (or
   `YUNDIAN_DATA_DIR`), so data survives a restart; moto's server, loudly, where Java is missing.
2. The tables (from `chalicelib.tables.ALL_MODELS`) and the demo data (`localdev/demo.py`).
3. The local server (`localdev/server.py`: chalice's local server with the stream poller and
   the schedules in its process) on 127.0.0.1:$YUNDIAN_PORT, then ready-to-paste curl examples.

The payment platforms' settings (`ALIPAY_*`, `WECHATPAY_*`) are the environment's where it sets
them (a tester playing the platform with keys of its own); each one it leaves unset comes from
the local platforms, generated once into `.dynamodb/` (`localdev/platform_keys.py`,
`localdev/wechatpay_platform.py`), whose private halves `scripts/alipay_notify.py` and
`scripts/wechatpay_notify.py` sign with.

Ctrl-C (SIGINT) or SIGTERM stops everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localdev.paths import data_dir  # noqa: E402
from scripts.dynamodb_local import LocalDynamo, die_with_parent, free_port, start  # noqa: E402

STAGE = "local"
ALIPAY_VARS = ("ALIPAY_APP_ID", "ALIPAY_PUBLIC_KEY")
WECHATPAY_VARS = ("WECHATPAY_SP_MCHID", "WECHATPAY_APIV3_KEY", "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_PUBLIC_KEY")


class Stop(Exception):
    """SIGTERM: leave through the same clean-up as Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Stop()


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def local_platforms(env: Mapping[str, str], data: Path) -> dict[str, str]:
    """The payment platforms' settings `env` leaves unset, from the local platforms (generated once
    into `data`, mode 0600). A name `env` sets, even to "", is the tester's and is not returned;
    `WECHATPAY_PLATFORM_CERTS` is only ever the tester's."""
    local: dict[str, str] = {}
    if any(name not in env for name in ALIPAY_VARS):
        from localdev.platform_keys import LOCAL_ALIPAY_APP_ID, public_pem

        local.update({"ALIPAY_APP_ID": LOCAL_ALIPAY_APP_ID, "ALIPAY_PUBLIC_KEY": public_pem(data)})
    if any(name not in env for name in WECHATPAY_VARS):
        from localdev.wechatpay_platform import local_platform

        local.update(local_platform(data).env())
    return {name: value for name, value in local.items() if name not in env}


def stage_environment(endpoint: str, data: Path | None = None,
                      environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the server runs with: ours (default: this process's) plus the stage's
    config, which wins, plus the local payment platforms for what neither sets."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(os.environ if environ is None else environ)
    env.update({
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        # never real AWS from a local run
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    })
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    env.update(config.get("environment_variables", {}))
    env.update(config["stages"][STAGE].get("environment_variables", {}))
    env.update(local_platforms(env, data or data_dir()))
    return env


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the local server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - our own local server
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the local server did not answer {url} within {timeout:.0f}s")


def wechatpay_lines(base: str, demo: dict[str, Any], merchant_token: str, env: Mapping[str, str],
                    own: list[str]) -> tuple[list[str], list[str]]:
    """The banner's WeChat Pay lines: what the server trusts, and the commands to try."""
    m1, m2 = demo["merchants"][0], demo["merchants"][1]
    port_env = "" if base.endswith(":8000") else f"YUNDIAN_PORT={base.rsplit(':', 1)[1]} "
    where = f"from your environment: {', '.join(own)}; the rest local" if own else "local identity in .dynamodb/"
    second = f"{m2['wechat_sub_mchid']} (a claim)" if m2.get("wechat_sub_mchid") else "none for the second"
    about = [f"WeChat Pay: service provider {env.get('WECHATPAY_SP_MCHID') or '(none)'}, platform key "
             f"{env.get('WECHATPAY_PUBLIC_KEY_ID') or '(none)'} ({where})",
             f"  demo sub-merchants: {m1.get('wechat_sub_mchid')} ({m1['name']}, verified), {second}"]
    sign = ""
    notes = ["  # WeChat Pay: its signed, encrypted TRANSACTION.SUCCESS of a new payment through the verified",
             "  # sub-merchant (confirmed at once; the same again is a duplicate), its REFUND.SUCCESS, the payment:"]
    if own:
        notes.append("  # (WECHATPAY_* from your environment: run the script with the same ones exported)")
    if "WECHATPAY_PUBLIC_KEY" in own:
        sign = f" --key YOUR_PLATFORM_KEY.pem --serial {env.get('WECHATPAY_PUBLIC_KEY_ID') or 'YOUR_SERIAL'}"
        notes.append("  # (the server verifies with your keys, not the local one: sign with your private key)")
    script = f"{port_env}.venv/bin/python scripts/wechatpay_notify.py"
    tries = [*notes,
             "  W=wx-demo-$RANDOM",
             f"  {script} $W 2600{sign}",
             f"  {script} $W 2600 --refund $W-r1 600{sign}",
             f"  curl -s {base}/v1/merchants/{m1['merchant_id']}/payments/$W "
             f"-H 'Authorization: Bearer {merchant_token}'"]
    return about, tries


def banner(base: str, demo: dict[str, Any], tokens: dict[str, str], created: bool, db_kind: str,
           endpoint: str, env: Mapping[str, str] | None = None, own: list[str] | None = None,
           data: Path | None = None) -> str:
    m1, m2 = demo["merchants"][0], demo["merchants"][1]
    wechat_about, wechat_tries = wechatpay_lines(base, demo, tokens["merchant"], env or {}, own or [])
    t1 = m1["terminals"][0]
    store = m1["stores"][0]["store_id"]
    port_env = "" if base.endswith(":8000") else f"YUNDIAN_PORT={base.rsplit(':', 1)[1]} "
    j = "-H 'Content-Type: application/json'"
    lines = [
        "",
        "=" * 78,
        f"yundian is serving on {base}  (stage local, {db_kind} at {endpoint}, data in {data or '.dynamodb'}/)",
        f"demo data {'created' if created else 'reused'}: partner {demo['partner_id']}, merchants "
        f"{m1['merchant_id']} and {m2['merchant_id']}",
        *([f"  and {demo['history']['payments']} payments over 30 days, members, the contest "
           f"{demo['contest']['name']!r} ({demo['contest']['contest_id']}; ranked, round 1 settled) "
           f"and a second partner — see them in the console"] if demo.get("contest") and demo.get("history") else []),
        "",
        "Tokens (local only, valid 1 year, signed with the local YUNDIAN_JWT_SECRET):",
        f"  admin:    {tokens['admin']}",
        f"  partner:  {tokens['partner']}",
        f"  merchant: {tokens['merchant']}",
        "",
        f"Demo terminal (store {t1['store_id']}): id {t1['terminal_id']}  secret {t1['secret']}",
        *wechat_about,
        "",
        "Try:",
        f"  curl -s {base}/v1/stores/{store}",
        f"  curl -s -X POST {base}/v1/partners -H 'Authorization: Bearer {tokens['admin']}' {j} "
        "-d '{\"name\": \"Another partner\"}'",
        f"  curl -s -X POST {base}/v1/partners/{demo['partner_id']}/merchants "
        f"-H 'Authorization: Bearer {tokens['partner']}' {j} "
        "-d '{\"name\": \"Tea house\", \"category\": \"restaurant\", \"stores\": [{\"name\": \"Main\"}]}'",
        f"  curl -s {base}/v1/admin/clock -H 'Authorization: Bearer {tokens['admin']}'",
        "  # a signed terminal request (signature, timestamp and a fresh nonce computed for you):",
        f"  {port_env}.venv/bin/python scripts/terminal_curl.py POST /v1/terminal/ping '{{}}'",
        "  # a payment at that terminal; Alipay's signed notification of it (the local platform key), which",
        "  # confirms it through the verified binding; the payment as read back; the merchant's dashboard:",
        "  O=demo-$RANDOM",
        f"  {port_env}.venv/bin/python scripts/terminal_curl.py POST /v1/terminal/payments "
        "\"{\\\"out_trade_no\\\": \\\"$O\\\", \\\"amount_fen\\\": 1800, "
        "\\\"buyer_id\\\": \\\"2088000000000042\\\", "
        "\\\"paid_at\\\": \\\"$(date -u +%Y-%m-%dT%H:%M:%S+00:00)\\\"}\"",
        f"  {port_env}.venv/bin/python scripts/alipay_notify.py $O 1800",
        f"  curl -s {base}/v1/merchants/{m1['merchant_id']}/payments/$O "
        f"-H 'Authorization: Bearer {tokens['merchant']}'",
        f"  curl -s {base}/v1/merchants/{m1['merchant_id']}/dashboard -H 'Authorization: Bearer {tokens['merchant']}'",
        *wechat_tries,
        "",
        f"OpenAPI: {base}/v1/openapi.json  — Ctrl-C stops the API and DynamoDB Local.",
        "=" * 78,
        "",
    ]
    return "\n".join(lines)


KEYS_FILE = "api-keys.json"


def demo_keys(services: Any, demo: dict[str, Any], path: Path) -> dict[str, dict[str, str]]:
    """Ready API keys for the local stage's admin, the demo partner and its first merchant (`make
    run` prints them; the console signs in with them): created once and kept in the data folder
    (mode 0600), like the demo terminal's secret, since the API shows a secret once; a kept key
    that no longer exchanges for a token (revoked, or a fresh table) is created again."""
    import base64

    from chalicelib.auth import Principal
    from chalicelib.errors import AppError

    kept: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {"admin": {"name": "make run (local admin)", "role": "admin"},
              "partner": {"name": "make run (demo partner)", "role": "partner", "partner_id": demo["partner_id"]},
              "merchant": {"name": "make run (demo merchant)", "role": "merchant",
                           "merchant_id": demo["merchants"][0]["merchant_id"]}}
    keys: dict[str, dict[str, str]] = {}
    for role, body in wanted.items():
        key = kept.get(role)
        if key is not None and all(key.get(k) == v for k, v in body.items() if k.endswith("_id")):
            basic = "Basic " + base64.b64encode(f"{key['key_id']}:{key['secret']}".encode()).decode()
            try:
                services.identity.token(basic)
                keys[role] = key
                continue
            except AppError:
                pass
        created = services.identity.create_key(Principal(sub="make-run", role="admin"), json.dumps(body).encode())
        keys[role] = {"key_id": created["key_id"], "secret": created["secret"],
                      **{k: v for k, v in body.items() if k.endswith("_id")}}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f, indent=2)
    return keys


def identity_lines(base: str, demo: dict[str, Any], tokens: dict[str, str], keys: dict[str, dict[str, str]],
                   simulator_url: str, data: Path) -> str:
    """The banner's "how to get in" part: the console, the API keys and the platform logins."""
    admin_key = keys["admin"]
    j = "-H 'Content-Type: application/json'"
    m2 = demo["merchants"][1]["merchant_id"]
    return "\n".join([
        f"Console: {base}/console  — sign in with a key id and its secret:",
        *(f"  {role + ':':9} key id {k['key_id']}  secret {k['secret']}" for role, k in keys.items()),
        f"  (kept in {data}/{KEYS_FILE}; create more in the console or with POST /v1/api-keys)",
        "",
        "Getting in (identity):",
        "  # exchange it for a 1-hour token (then: -H 'Authorization: Bearer <token>'; refresh with /v1/auth/refresh):",
        f"  curl -s -X POST -u '{admin_key['key_id']}:{admin_key['secret']}' {base}/v1/auth/token",
        f"  # a customer logs in through the platform simulator ({simulator_url}; any code sandbox:<user id>):",
        f"  curl -s -X POST {base}/v1/auth/alipay {j} -d '{{\"auth_code\": \"sandbox:2088000000000042\"}}'",
        f"  curl -s -X POST {base}/v1/auth/wechat {j} -d '{{\"code\": \"sandbox:oDemoBuyer0000000000000000042\"}}'",
        "  # the second demo merchant authorizes our Alipay app (its seller id becomes a verified binding):",
        f"  curl -s {base}/v1/merchants/{m2}/bindings/alipay/authorize-url "
        f"-H 'Authorization: Bearer {tokens['partner']}'",
        f"  curl -s -X POST {base}/v1/merchants/{m2}/bindings/alipay/authorize "
        f"-H 'Authorization: Bearer {tokens['partner']}' {j} -d '{{\"app_auth_code\": \"sandbox:2088000000000077\"}}'",
        "=" * 78,
    ])


def stop_process_group(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Started in the background by a shell, SIGINT arrives ignored: make Ctrl-C work regardless.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    port = int(os.environ.get("YUNDIAN_PORT", "8000"))
    if port_in_use(port):
        print(f"port {port} on 127.0.0.1 is taken; choose another with YUNDIAN_PORT=8001 make run",
              file=sys.stderr)
        return 2
    base = f"http://127.0.0.1:{port}"
    ddb: LocalDynamo | None = None
    server: subprocess.Popen[bytes] | None = None
    simulator: Any = None
    try:
        data = data_dir()
        data.mkdir(parents=True, exist_ok=True)
        print("starting DynamoDB Local ...", flush=True)
        ddb = start(free_port(), db_path=str(data / "data"), log_path=str(data / "dynamodb.log"))
        env = stage_environment(ddb.endpoint, data)
        from localdev.platform_simulator import start_local

        simulator, logins_env = start_local(env, data)
        env.update(logins_env)  # the app's real platform adapters reach the simulator
        own_wechatpay = [name for name in (*WECHATPAY_VARS, "WECHATPAY_PLATFORM_CERTS") if name in os.environ]
        os.environ.update(env)  # same endpoint, credentials and table prefix as the server

        from chalicelib.bootstrap import bootstrap
        from chalicelib.config import Config
        from chalicelib.storage import create_tables
        from chalicelib.tables import ALL_MODELS
        from localdev.demo import seed, tokens

        services = bootstrap(Config.from_env(env))
        created_tables = create_tables(ALL_MODELS)
        if created_tables:
            print(f"created tables: {', '.join(created_tables)}", flush=True)
        services.jobs["backfill_list_order"]()  # data of an older `make run` joins the lists (idempotent)
        demo, created = seed(services, data / "demo.json")
        demo_tokens = tokens(services.config.jwt_secret, demo)
        keys = demo_keys(services, demo, data / KEYS_FILE)

        cmd = [sys.executable, "-m", "localdev.server", "--host", "127.0.0.1", "--port", str(port),
               "--stage", STAGE]
        # Its own process group, so stopping it stops everything it started.
        server = subprocess.Popen(cmd, cwd=str(ROOT), env=env, start_new_session=True,
                                  preexec_fn=die_with_parent)  # noqa: PLW1509
        wait_http(f"{base}/v1/openapi.json", server)
        print(banner(base, demo, demo_tokens, created, ddb.kind, ddb.endpoint, env, own_wechatpay, data), flush=True)
        print(identity_lines(base, demo, demo_tokens, keys, simulator.url, data), flush=True)
        return server.wait()
    except (KeyboardInterrupt, Stop):
        print("\nstopping ...", flush=True)
        return 0
    finally:
        stop_process_group(server)
        if simulator is not None:
            simulator.stop()
        if ddb is not None:
            ddb.stop()


if __name__ == "__main__":
    sys.exit(main())

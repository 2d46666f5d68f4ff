"""`make run`'s payment platforms (`scripts/run_local.py`): the `ALIPAY_*` and `WECHATPAY_*` values
of the environment are kept, each unset one comes from the local platforms, whose identity is
generated once (files of mode 0600) and stays the same across runs; `scripts/wechatpay_notify.py`
signs for a tester's own platform key when given it."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.payments import wechatpay
from localdev import wechatpay_platform as platform
from scripts import wechatpay_notify
from scripts.run_local import WECHATPAY_VARS, banner, local_platforms, stage_environment

IDENTITY_FILES = ("alipay-platform-key.pem", platform.KEY_FILE, platform.IDENTITY_FILE)
THEIR_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
THEIRS = {"WECHATPAY_PUBLIC_KEY": platform.public_pem(THEIR_KEY), "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_" + "7" * 32}


def test_unset_values_come_from_the_local_platforms(tmp_path: Path) -> None:
    env = local_platforms({}, tmp_path)
    local = platform.local_platform(tmp_path)
    assert {k: v for k, v in env.items() if k.startswith("WECHATPAY_")} == local.env()
    assert set(env) == {"ALIPAY_APP_ID", "ALIPAY_PUBLIC_KEY", *WECHATPAY_VARS}  # never WECHATPAY_PLATFORM_CERTS
    assert re.fullmatch(r"PUB_KEY_ID_[0-9]{32}", env["WECHATPAY_PUBLIC_KEY_ID"])
    assert len(env["WECHATPAY_APIV3_KEY"]) == 32 and env["WECHATPAY_SP_MCHID"] == platform.LOCAL_SP_MCHID


def test_values_the_environment_sets_are_kept(tmp_path: Path) -> None:
    environ = {**THEIRS, "WECHATPAY_PLATFORM_CERTS": "", "ALIPAY_APP_ID": "2021009900000009",
               "PATH": "/usr/bin"}
    env = stage_environment("http://127.0.0.1:1", data=tmp_path, environ=environ)
    local = platform.local_platform(tmp_path)
    assert {k: env[k] for k in environ} == environ  # theirs, an empty one included
    assert env["WECHATPAY_APIV3_KEY"] == local.apiv3_key and env["WECHATPAY_SP_MCHID"] == local.sp_mchid
    assert env["ALIPAY_PUBLIC_KEY"].startswith("-----BEGIN PUBLIC KEY-----")


def test_nothing_is_generated_when_the_environment_sets_everything(tmp_path: Path) -> None:
    environ = {name: "" for name in ("ALIPAY_APP_ID", "ALIPAY_PUBLIC_KEY", *WECHATPAY_VARS)}
    assert local_platforms(environ, tmp_path) == {}
    assert list(tmp_path.iterdir()) == []


def test_the_generated_identities_are_private_and_stable(tmp_path: Path) -> None:
    first = local_platforms({}, tmp_path)
    contents = {name: (tmp_path / name).read_bytes() for name in IDENTITY_FILES}
    assert {name: oct((tmp_path / name).stat().st_mode & 0o777) for name in IDENTITY_FILES} == \
        dict.fromkeys(IDENTITY_FILES, "0o600")
    assert local_platforms({}, tmp_path) == first  # the next `make run`
    assert {name: (tmp_path / name).read_bytes() for name in IDENTITY_FILES} == contents


def _args(**kw: object) -> argparse.Namespace:
    defaults: dict[str, object] = {"key": None, "serial": None, "refund": None, "out_trade_no": "wx-1",
                                   "amount_fen": 2600, "openid": wechatpay_notify.DEMO_OPENID}
    return argparse.Namespace(**{**defaults, **kw})


def test_the_script_signs_with_a_testers_own_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = platform.local_platform(tmp_path)
    for name, value in {**THEIRS, "WECHATPAY_APIV3_KEY": "k" * 32, "WECHATPAY_SP_MCHID": "1900009999"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match="--key PEM_FILE --serial ID"):
        wechatpay_notify.signer(_args(), local)  # the local key would not verify against theirs

    pem = tmp_path / "theirs.pem"
    pem.write_text(platform.private_pem(THEIR_KEY))
    sender = wechatpay_notify.signer(_args(key=pem, serial=THEIRS["WECHATPAY_PUBLIC_KEY_ID"]), local)
    event_type, plaintext = wechatpay_notify.resource(_args(), sender.sp_mchid, "1900000201")
    headers, body = sender.notification(event_type, plaintext)

    # what the server configured with their values does with it
    keys = wechatpay.WechatPayKeys.load(THEIRS["WECHATPAY_PUBLIC_KEY_ID"], THEIRS["WECHATPAY_PUBLIC_KEY"])
    wechatpay.verify_headers({k.lower(): v for k, v in headers.items()}, body, keys, time.time())
    clear = json.loads(wechatpay.decrypt(wechatpay.parse_envelope(body).resource, b"k" * 32))
    assert (clear["sp_mchid"], clear["sub_mchid"], clear["amount"]["total"]) == ("1900009999", "1900000201", 2600)
    # a redelivery is the same payment: the same transaction_id
    assert clear["transaction_id"] == wechatpay_notify.resource(_args(), "x", "y")[1]["transaction_id"]


DEMO = {"partner_id": "ptn_1", "merchants": [
    {"merchant_id": "mch_1", "name": "Noodles", "wechat_sub_mchid": "1900000201",
     "stores": [{"store_id": "sto_1"}], "terminals": [{"store_id": "sto_1", "terminal_id": "trm_1", "secret": "s"}]},
    {"merchant_id": "mch_2", "name": "Tea", "wechat_sub_mchid": "1900000202", "stores": [], "terminals": []}]}
TOKENS = {"admin": "A", "partner": "P", "merchant": "M"}


def test_the_banner_shows_the_wechatpay_commands(tmp_path: Path) -> None:
    env = local_platforms({}, tmp_path)
    text = banner("http://127.0.0.1:8137", DEMO, TOKENS, True, "DynamoDB Local", "http://x", env, [])
    assert f"service provider {env['WECHATPAY_SP_MCHID']}, platform key {env['WECHATPAY_PUBLIC_KEY_ID']}" in text
    assert "YUNDIAN_PORT=8137 .venv/bin/python scripts/wechatpay_notify.py $W 2600\n" in text
    assert "scripts/wechatpay_notify.py $W 2600 --refund $W-r1 600\n" in text
    assert "curl -s http://127.0.0.1:8137/v1/merchants/mch_1/payments/$W -H 'Authorization: Bearer M'" in text

    # a tester's own platform key: the commands say to sign with it
    env = {**env, **THEIRS}
    text = banner("http://127.0.0.1:8000", DEMO, TOKENS, True, "DynamoDB Local", "http://x", env, list(THEIRS))
    assert ("\n  .venv/bin/python scripts/wechatpay_notify.py $W 2600 --key YOUR_PLATFORM_KEY.pem "
            f"--serial {THEIRS['WECHATPAY_PUBLIC_KEY_ID']}\n") in text
    assert "from your environment: WECHATPAY_PUBLIC_KEY, WECHATPAY_PUBLIC_KEY_ID" in text

"""Post a WeChat Pay notification to the local API as the platform sends it: the resource
encrypted with the APIv3 key (AEAD_AES_256_GCM), the body signed with the platform's key
(SHA256withRSA), with the local stage's platform identity (`make run` generates it once in
`.dynamodb/`).

    .venv/bin/python scripts/wechatpay_notify.py [OUT_TRADE_NO] AMOUNT_FEN [--openid ID] [--sub-mchid ID]
    .venv/bin/python scripts/wechatpay_notify.py OUT_TRADE_NO AMOUNT_FEN --refund OUT_REFUND_NO REFUND_FEN
    ... [--key PEM_FILE --serial PUB_KEY_ID]

TRANSACTION.SUCCESS of OUT_TRADE_NO (a new one when omitted) for AMOUNT_FEN fen; with --refund,
REFUND.SUCCESS of REFUND_FEN fen on that payment of AMOUNT_FEN. The sub-merchant defaults to the
first demo merchant's (verified by the demo seeding), so the payment is confirmed; the same
notification again is a duplicate. As `make run` does, the WECHATPAY_* values of the environment
win over the local ones: the service provider, the APIv3 key and the key id. The server then
trusts your WECHATPAY_PUBLIC_KEY, whose private half only you have: give it with --key (and its id
with --serial). The base URL is http://127.0.0.1:$YUNDIAN_PORT (8000 by default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from chalicelib.auth import issue_token  # noqa: E402
from chalicelib.config import LOCAL_JWT_SECRET  # noqa: E402
from localdev import wechatpay_platform as platform  # noqa: E402
from localdev.paths import data_dir  # noqa: E402

DATA_DIR = data_dir()
DEMO_OPENID = "oDemoBuyer0000000000000000042"  # the demo buyer's sp_openid
TOKEN_TTL_SECONDS = 3600


def transaction_id(out_trade_no: str) -> str:
    """The platform's number of the payment, the same on every redelivery of it."""
    digits = str(int(hashlib.sha256(out_trade_no.encode()).hexdigest(), 16))
    return "4200" + digits[:24]


def load_key(pem_file: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem_file.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SystemExit(f"{pem_file}: not an RSA private key")
    return key


def signer(args: argparse.Namespace, local: platform.LocalPlatform) -> platform.LocalPlatform:
    """Who signs: the local platform, with what the environment and the options replace of it."""
    env, local_pem = os.environ, platform.public_pem(local.key)
    if args.key is None and env.get("WECHATPAY_PUBLIC_KEY", local_pem).strip() != local_pem.strip():
        raise SystemExit("WECHATPAY_PUBLIC_KEY is set to a key that is not the local platform's: the server "
                         "verifies with it, so sign with its private half (--key PEM_FILE --serial ID)")
    key = load_key(args.key) if args.key else local.key
    serial = args.serial or env.get("WECHATPAY_PUBLIC_KEY_ID", local.public_key_id)
    return platform.LocalPlatform(key, serial, env.get("WECHATPAY_APIV3_KEY", local.apiv3_key),
                                  env.get("WECHATPAY_SP_MCHID", local.sp_mchid))


def resource(args: argparse.Namespace, sp_mchid: str, sub_mchid: str) -> tuple[str, dict[str, Any]]:
    """(event_type, plaintext) of the notification the arguments ask for."""
    if args.refund:
        out_refund_no, refund_fen = args.refund[0], int(args.refund[1])
        return "REFUND.SUCCESS", platform.refund(sp_mchid, sub_mchid, args.out_trade_no, out_refund_no,
                                                 refund_fen, args.amount_fen)
    return "TRANSACTION.SUCCESS", platform.transaction(sp_mchid, sub_mchid, args.out_trade_no, args.amount_fen,
                                                       args.openid, transaction_id=transaction_id(args.out_trade_no))


def read_back(base_url: str, demo: dict[str, Any], sub_mchid: str, out_trade_no: str) -> str:
    """The curl that reads the payment back, with a token of its merchant (local JWT secret)."""
    merchant = next((m for m in demo["merchants"] if m.get("wechat_sub_mchid") == sub_mchid), None)
    if merchant is None:
        return f"(sub-merchant {sub_mchid} is no demo merchant's: read it back with its merchant's token)"
    secret = os.environ.get("YUNDIAN_JWT_SECRET") or LOCAL_JWT_SECRET
    token = issue_token(secret, sub="demo-merchant", role="merchant", exp=time.time() + TOKEN_TTL_SECONDS,
                        merchant_id=merchant["merchant_id"])
    return (f"curl -s {base_url}/v1/merchants/{merchant['merchant_id']}/payments/{out_trade_no} "
            f"-H 'Authorization: Bearer {token}'")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_trade_no", nargs="?", help="the payment (default: a new one)")
    p.add_argument("amount_fen", type=int, help="the payment's amount (amount.total)")
    p.add_argument("--refund", nargs=2, metavar=("OUT_REFUND_NO", "REFUND_FEN"),
                   help="send REFUND.SUCCESS of REFUND_FEN on OUT_TRADE_NO instead")
    p.add_argument("--openid", default=DEMO_OPENID, help="the buyer (payer.sp_openid)")
    p.add_argument("--sub-mchid", help="the sub-merchant (default: the first demo merchant's)")
    p.add_argument("--key", type=Path, metavar="PEM_FILE",
                   help="the platform's private key, when the server trusts your WECHATPAY_PUBLIC_KEY")
    p.add_argument("--serial", metavar="ID", help="its key id (default: $WECHATPAY_PUBLIC_KEY_ID or the local one)")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where `make run` keeps its data (.dynamodb)")
    p.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('YUNDIAN_PORT', '8000')}")
    args = p.parse_args(argv)
    if args.refund and args.out_trade_no is None:
        p.error("--refund needs the OUT_TRADE_NO of the payment")
    if args.refund and not args.refund[1].isdigit():
        p.error("REFUND_FEN is a whole number of fen")
    args.out_trade_no = args.out_trade_no or f"wx-demo-{secrets.token_hex(4)}"
    demo_file = args.data_dir / "demo.json"
    if not demo_file.exists():
        p.error(f"no {demo_file}: run `make run` first")
    demo = json.loads(demo_file.read_text())
    sub_mchid = args.sub_mchid or demo["merchants"][0].get("wechat_sub_mchid")
    if not sub_mchid:
        p.error("the demo has no WeChat Pay sub-merchant: restart `make run` or give --sub-mchid")

    sender = signer(args, platform.local_platform(args.data_dir))
    event_type, plaintext = resource(args, sender.sp_mchid, sub_mchid)
    headers, body = sender.notification(event_type, plaintext)
    req = urllib.request.Request(f"{args.base_url}/v1/notify/wechatpay", data=body, method="POST", headers=headers)
    what = f"out_refund_no={args.refund[0]} refund={args.refund[1]}" if args.refund else f"total={args.amount_fen}"
    print(f"{event_type} out_trade_no={args.out_trade_no} sub_mchid={sub_mchid} {what}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - the local server
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    print(f"{status} {text}".rstrip())
    print("read it back:", read_back(args.base_url, demo, sub_mchid, args.out_trade_no))
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Post an Alipay trade notification to the local API, signed with the local stage's platform key
(`make run` generates it once in `.dynamodb/`), as the platform would send it.

    .venv/bin/python scripts/alipay_notify.py OUT_TRADE_NO AMOUNT_FEN [--buyer ID] [--seller ID]

The seller id defaults to the first demo merchant's (verified by the demo seeding), so the
notification confirms the payment with that out_trade_no; the buyer defaults to the demo buyer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.payments import alipay  # noqa: E402
from localdev.paths import data_dir  # noqa: E402
from localdev.platform_keys import LOCAL_ALIPAY_APP_ID, private_key  # noqa: E402

DATA_DIR = data_dir()
DEMO_BUYER = "2088000000000042"


def notification(out_trade_no: str, amount_fen: int, seller_id: str, buyer_id: str,
                 data: Path = DATA_DIR) -> dict[str, str]:
    now = datetime.now(alipay.ALIPAY_TZ).strftime("%Y-%m-%d %H:%M:%S")
    params = {"notify_time": now, "notify_type": "trade_status_sync", "notify_id": f"local-{out_trade_no}",
              "app_id": LOCAL_ALIPAY_APP_ID, "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
              "trade_no": f"2026{abs(hash(out_trade_no)) % 10**16:016d}", "out_trade_no": out_trade_no,
              "buyer_id": buyer_id, "seller_id": seller_id, "trade_status": "TRADE_SUCCESS",
              "total_amount": f"{amount_fen // 100}.{amount_fen % 100:02d}", "gmt_create": now, "gmt_payment": now}
    return {**params, "sign": alipay.sign(params, private_key(data))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_trade_no")
    p.add_argument("amount_fen", type=int)
    p.add_argument("--buyer", default=DEMO_BUYER)
    p.add_argument("--seller", help="the merchant's seller id (default: the first demo merchant's)")
    p.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('YUNDIAN_PORT', '8000')}")
    args = p.parse_args(argv)
    first = json.loads((DATA_DIR / "demo.json").read_text())["merchants"][0]
    seller = args.seller or first.get("alipay_seller_id") or "2088000000000001"
    body = urlencode(notification(args.out_trade_no, args.amount_fen, seller, args.buyer)).encode()
    req = urllib.request.Request(f"{args.base_url}/v1/notify/alipay", data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - the local server
            print(r.status, r.read().decode())
            return 0
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode())
        return 1


if __name__ == "__main__":
    sys.exit(main())

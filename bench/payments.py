"""Benchmark of terminal payment callbacks, in process through the Chalice app, against a
DynamoDB Local started for the run — and the floor: one bare conditional PutItem per callback
on the same DynamoDB Local. Also the confirmations: Alipay's signed notification of a payment
arriving through a verified binding, after the terminal's report (the usual order) and before it
(platform first, then the terminal's report). And WeChat Pay's v3 notifications, signed and
encrypted for real (`bench.wechatpay`): a new payment, its redelivery, the confirmation of a
terminal's report and a refund — with what verifying and decrypting one costs in process.

    make bench                       # or: python -m bench payments --n 2000 --dup 0.1
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for key, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
                   "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_TRACE_DISABLED": "true",
                   "POWERTOOLS_METRICS_DISABLED": "true", "YUNDIAN_STAGE": "local"}.items():
    os.environ.setdefault(key, value)

from bench import wechatpay as wx  # noqa: E402
from bench.dynamo import DynamoMeter  # noqa: E402

PATH = "/v1/terminal/payments"
NOTIFY = "/v1/notify/alipay"
NOTIFY_WECHATPAY = "/v1/notify/wechatpay"
ALIPAY_APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"


@dataclass
class Result:
    name: str
    calls: int
    recorded: int
    seconds: float
    latencies_ms: list[float]
    requests: int
    wcu: float
    rcu: float
    by_operation: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds

    def pct(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))]

    def row(self) -> str:
        per = max(self.recorded, 1)
        return (f"{self.name:<22} {self.calls:>6} {self.per_second:>10.1f} {self.pct(50):>8.2f} {self.pct(99):>8.2f} "
                f"{self.requests / self.calls:>9.2f} {self.requests / per:>10.2f} {self.wcu / per:>9.2f} "
                f"{self.rcu / per:>8.2f}")


def combine(parts: list[Result]) -> Result:
    """One result from blocks measured interleaved with the other workloads."""
    first = parts[0]
    ops: dict[str, int] = {}
    for r in parts:
        for k, v in r.by_operation.items():
            ops[k] = ops.get(k, 0) + v
    return Result(first.name, sum(r.calls for r in parts), sum(r.recorded for r in parts),
                  sum(r.seconds for r in parts), [x for r in parts for x in r.latencies_ms],
                  sum(r.requests for r in parts), sum(r.wcu for r in parts), sum(r.rcu for r in parts), ops)


def traced_peak_kib(calls: list[Callable[[], bool]]) -> float:
    """Peak Python memory (tracemalloc) while running the calls, in KiB."""
    import tracemalloc

    sink = io.StringIO()
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(sink):
            for call in calls:
                call()
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


HEADER = (f"{'':<22} {'calls':>6} {'calls/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'req/call':>9} "
          f"{'req/record':>10} {'WCU/rec':>9} {'RCU/rec':>8}")


def _measure(name: str, meter: DynamoMeter, calls: list[Callable[[], bool]]) -> Result:
    meter.reset()
    latencies: list[float] = []
    recorded = 0
    sink = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sink):  # Powertools metrics print EMF lines
        for call in calls:
            t0 = time.perf_counter()
            recorded += bool(call())
            latencies.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - start
    return Result(name, len(calls), recorded, seconds, latencies, meter.total_requests, meter.wcu, meter.rcu,
                  dict(meter.requests))


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench payments")
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "1000")), help="callbacks")
    parser.add_argument("--dup", type=float, default=0.1, help="share of callbacks that are duplicates")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved blocks of app, floor and bare runs")
    args = parser.parse_args(argv)

    from scripts.dynamodb_local import start

    handle = start()
    previous = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = handle.endpoint
    try:
        _run(args.n, args.dup, handle.kind, max(1, args.rounds))
    finally:
        handle.stop()
        if previous is None:  # the next benchmark starts its own DynamoDB Local
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        else:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = previous


def _run(n: int, dup_share: float, kind: str, rounds: int) -> None:
    import boto3
    from chalice.test import Client
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    import app as app_module
    from chalicelib.auth import issue_token, terminal_signature
    from chalicelib.bootstrap import bootstrap
    from chalicelib.clock import OffsetClock
    from chalicelib.config import Config
    from chalicelib.payments import alipay
    from chalicelib.payments.domain import business_day
    from chalicelib.payments.models import PAYMENT_SK, PaymentModel, payment_pk
    from chalicelib.storage import GuardModel, create_tables
    from chalicelib.tables import ALL_MODELS

    platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # stands in for Alipay's
    public_pem = platform_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    wechat = wx.Platform.generate()  # stands in for WeChat Pay's
    config = wechat.configure(Config.from_env({"YUNDIAN_STAGE": "local", "YUNDIAN_TABLE_PREFIX": "bench-",
                                               "YUNDIAN_JWT_SECRET": "bench-secret-0123456789-abcdefghij",
                                               "ALIPAY_APP_ID": ALIPAY_APP_ID, "ALIPAY_PUBLIC_KEY": public_pem,
                                               "AWS_DEFAULT_REGION": "us-east-1"}))
    services = bootstrap(config, clock=OffsetClock(), rebind_tables=True)  # this run's DynamoDB Local
    create_tables(ALL_MODELS)
    app_module.runtime.install(services)
    client = Client(app_module.app, stage_name="local")
    admin = issue_token(config.jwt_secret, sub="bench", role="admin", exp=time.time() + 3600)

    def http(method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        h = {"Content-Type": "application/json", **(headers or {})}
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = client.http.request(method, path, headers=h, body=raw)
        return resp.status_code, json.loads(resp.body) if resp.body else None

    auth = {"Authorization": f"Bearer {admin}"}
    _, partner = http("POST", "/v1/partners", {"name": "Bench"}, auth)
    _, merchant = http("POST", f"/v1/partners/{partner['partner_id']}/merchants",
                       {"name": "Bench shop", "category": "retail", "stores": [{"name": "S"}],
                        "alipay_seller_id": SELLER_ID}, auth)
    mid = merchant["merchant_id"]
    status, binding = http("PUT", f"/v1/admin/merchants/{mid}/bindings/alipay", {"id": SELLER_ID}, auth)
    assert status == 200 and binding["verified"] is True, (status, binding)
    status, binding = http("PUT", f"/v1/admin/merchants/{mid}/bindings/wechatpay", {"id": wx.SUB_MCHID}, auth)
    assert status == 200 and binding["verified"] is True, (status, binding)
    _, terminal = http("POST", f"/v1/merchants/{merchant['merchant_id']}/terminals",
                       {"store_id": merchant["stores"][0]["store_id"], "kind": "qr"}, auth)
    tid, secret = terminal["terminal_id"], terminal["secret"]
    rng = random.Random(1)
    now = datetime.now(UTC)

    def new_payment(i: int) -> dict[str, Any]:
        return {"out_trade_no": f"b{i}-{secrets.token_hex(4)}", "amount_fen": rng.randint(1, 100_000),
                "buyer_id": f"2088{rng.randint(0, 500):012d}",
                "paid_at": (now - timedelta(seconds=rng.randint(0, 3600))).isoformat()}

    def new_body(i: int) -> bytes:
        return json.dumps(new_payment(i)).encode()

    def send_terminal(raw: bytes) -> dict[str, Any]:
        ts, nonce = str(int(time.time())), secrets.token_hex(12)
        sig = terminal_signature(secret, "POST", PATH, ts, nonce, raw)
        status, body = http("POST", PATH, raw, {"X-Yundian-Terminal": tid, "X-Yundian-Timestamp": ts,
                                                "X-Yundian-Nonce": nonce, "X-Yundian-Signature": sig})
        assert status == 200, (status, body)
        return body

    def callback(raw: bytes) -> Callable[[], bool]:
        return lambda: not send_terminal(raw)["duplicate"]

    def terminal_join(payment: dict[str, Any]) -> Callable[[], bool]:
        """The terminal's report of a payment the platform reported first: a duplicate that adds
        the terminal's channel; it counts as one joined payment."""
        raw = json.dumps(payment).encode()
        return lambda: bool(send_terminal(raw)["duplicate"])

    def notification(payment: dict[str, Any]) -> bytes:
        """Alipay's signed async notification of the payment (signed here, outside the timing)."""
        paid = datetime.fromisoformat(payment["paid_at"]).astimezone(alipay.ALIPAY_TZ).strftime("%Y-%m-%d %H:%M:%S")
        total = f"{payment['amount_fen'] // 100}.{payment['amount_fen'] % 100:02d}"
        params = {"notify_time": datetime.now(alipay.ALIPAY_TZ).strftime("%Y-%m-%d %H:%M:%S"),
                  "notify_type": "trade_status_sync", "notify_id": secrets.token_hex(16), "app_id": ALIPAY_APP_ID,
                  "charset": "utf-8", "version": "1.0", "sign_type": "RSA2", "trade_no": "2016" + secrets.token_hex(10),
                  "out_trade_no": payment["out_trade_no"], "buyer_id": payment["buyer_id"], "seller_id": SELLER_ID,
                  "trade_status": "TRADE_SUCCESS", "total_amount": total, "receipt_amount": total,
                  "buyer_pay_amount": total, "subject": "bench", "gmt_create": paid, "gmt_payment": paid}
        return urlencode({**params, "sign": alipay.sign(params, platform_key)}).encode()

    def notify(payment: dict[str, Any]) -> Callable[[], bool]:
        raw = notification(payment)

        def call() -> bool:
            resp = client.http.request("POST", NOTIFY, body=raw,
                                       headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert (resp.status_code, resp.body) == (200, b"success"), (resp.status_code, resp.body)
            return True  # each notification confirms one payment (checked after the block)
        return call

    def stored(p: dict[str, Any]) -> PaymentModel:
        return PaymentModel.get(payment_pk(mid, p["out_trade_no"]), PAYMENT_SK, consistent_read=True)

    def confirmed(payments: list[dict[str, Any]]) -> bool:
        return all(stored(p).confirmed_at is not None for p in payments)

    # WeChat Pay: notifications signed and encrypted when a workload is built, outside the timing
    # (a block runs well within the 300 s timestamp window).
    def wx_payment(i: int) -> dict[str, Any]:
        return {**new_payment(i), "buyer_id": wx.openid(rng.randint(0, 500))}

    def wx_paid(p: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        return wechat.paid(p["out_trade_no"], p["amount_fen"], p["buyer_id"], datetime.fromisoformat(p["paid_at"]))

    def wx_refunded(p: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        return wechat.refunded(p["out_trade_no"], f"r-{p['out_trade_no']}", max(1, p["amount_fen"] // 2),
                               p["amount_fen"])

    def wx_notify(note: tuple[dict[str, str], bytes]) -> Callable[[], bool]:
        headers, raw = note

        def call() -> bool:
            resp = client.http.request("POST", NOTIFY_WECHATPAY, body=raw, headers=headers)
            assert (resp.status_code, resp.body) == (204, b""), (resp.status_code, resp.body)
            return True  # each notification does one thing (checked after the block)
        return call

    def day_payments(payments: list[dict[str, Any]]) -> int:
        days = {business_day(datetime.fromisoformat(p["paid_at"]), config.tz) for p in payments}
        return sum(services.payments_repo.day_figures(mid, d).payments for d in days)

    def wx_record(payments: list[dict[str, Any]]) -> None:
        """The terminal's reports of payments a WeChat notification will confirm (not measured)."""
        with contextlib.redirect_stdout(io.StringIO()):
            for p in payments:
                assert not send_terminal(json.dumps(p).encode())["duplicate"]

    def workload(count: int, offset: int) -> list[Callable[[], bool]]:
        bodies = [new_body(offset + i) for i in range(count)]
        sends = list(bodies)
        sends += [rng.choice(bodies) for _ in range(int(count * dup_share))]
        rng.shuffle(sends)
        return [callback(b) for b in sends]

    ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"], region_name="us-east-1")
    floor_table = GuardModel.Meta.table_name

    tables = {m.TABLE: m.Meta.table_name for m in ALL_MODELS}

    def bare_tx_call(i: int) -> Callable[[], bool]:
        """The payment transaction's shape without the app: 8 items over 5 tables."""
        def call() -> bool:
            k = f"tx#{i}#{secrets.token_hex(4)}"
            s = lambda v: {"S": v}  # noqa: E731
            agg = lambda pk: {"Update": {"TableName": tables["aggregates"], "Key": {"pk": s(pk), "sk": s("AGG")},  # noqa: E731
                                         "UpdateExpression": "ADD gmv_fen :a, payments :one",
                                         "ExpressionAttributeValues": {":a": {"N": "100"}, ":one": {"N": "1"}}}}
            ddb.transact_write_items(TransactItems=[
                {"ConditionCheck": {"TableName": tables["terminals"], "Key": {"terminal_id": s(tid)},
                                    "ConditionExpression": "attribute_not_exists(revoked_at)"}},
                {"Put": {"TableName": floor_table, "Item": {"key": s(k)},
                         "ConditionExpression": "attribute_not_exists(#k)", "ExpressionAttributeNames": {"#k": "key"}}},
                {"Put": {"TableName": tables["payments"],
                         "Item": {"pk": s(k), "sk": s("PAY"), "amount_fen": {"N": "100"}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": tables["aggregates"], "Item": {"pk": s("bare#D"), "sk": s("C#" + k)}}},
                {"Put": {"TableName": tables["aggregates"], "Item": {"pk": s("bare#M"), "sk": s("C#" + k)}}},
                {"Put": {"TableName": tables["callbacks"], "Item": {"log_key": s("bare"), "received": s(k)}}},
                agg("bare#D"), agg("bare#M"),
            ])
            return True
        return call

    def floor_call(i: int) -> Callable[[], bool]:
        def call() -> bool:
            ddb.put_item(TableName=floor_table, Item={"key": {"S": f"floor#{i}#{secrets.token_hex(4)}"},
                                                      "owner": {"S": "bench"}},
                         ConditionExpression="attribute_not_exists(#k)", ExpressionAttributeNames={"#k": "key"})
            return True
        return call

    meter = DynamoMeter()
    meter.install()
    try:
        # DynamoDB Local runs on the JVM, which keeps getting faster for the first thousand or so
        # requests: warm it up, then measure app, floor and bare transaction in interleaved
        # blocks so that neither side profits from running later.
        warm = [new_payment(2 * 10**6 + i) for i in range(100)]
        wx_warm = [wx_payment(2 * 10**6 + 500 + i) for i in range(50)]
        wx_record(wx_warm[25:])
        wx_notes = [wx_paid(p) for p in wx_warm]
        _measure("warm-up", meter, workload(300, 10**6) + [floor_call(-i) for i in range(1, 601)]
                 + [bare_tx_call(-i) for i in range(1, 201)] + [notify(p) for p in warm]
                 + [terminal_join(p) for p in warm] + [wx_notify(note) for note in wx_notes * 2]
                 + [wx_notify(wx_refunded(p)) for p in wx_warm])
        unique = max(1, int(n / (1 + dup_share)))
        app_parts, floor_parts, bare_parts = [], [], []
        confirm_parts, first_parts, join_parts = [], [], []
        wx_new_parts, wx_dup_parts, wx_confirm_parts, wx_refund_parts = [], [], [], []
        for r in range(rounds):
            block = workload(unique // rounds, r * unique)
            app_parts.append(_measure("app (terminal payment)", meter, block))
            floor_parts.append(_measure("floor (conditional Put)", meter,
                                        [floor_call(r * n + i) for i in range(len(block))]))
            bare_parts.append(_measure("bare 8-item TransactWrite", meter,
                                       [bare_tx_call(r * n + i) for i in range(len(block))]))
            # Confirmations: terminal first (the payment recorded before the block, not measured),
            # then platform first (its notification, then the terminal's report of it).
            count = max(1, unique // rounds // 2)
            recorded = [new_payment(3 * 10**6 + r * unique + i) for i in range(count)]
            with contextlib.redirect_stdout(io.StringIO()):  # Powertools metrics print EMF lines
                for p in recorded:
                    assert not send_terminal(json.dumps(p).encode())["duplicate"]
            confirm_parts.append(_measure("confirm (terminal 1st)", meter, [notify(p) for p in recorded]))
            fresh = [new_payment(4 * 10**6 + r * unique + i) for i in range(count)]
            first_parts.append(_measure("platform 1st: notify", meter, [notify(p) for p in fresh]))
            join_parts.append(_measure("platform 1st: terminal", meter, [terminal_join(p) for p in fresh]))
            assert confirmed(recorded) and confirmed(fresh), "every notification confirms its payment"
            # WeChat Pay: new payments, their redelivery, refunds of them; confirmations of terminal reports.
            wx_fresh = [wx_payment(5 * 10**6 + r * unique + i) for i in range(count)]
            notes = [wx_paid(p) for p in wx_fresh]
            wx_new_parts.append(_measure("wechat: new payment", meter, [wx_notify(note) for note in notes]))
            assert confirmed(wx_fresh), "every new payment notified is recorded and confirmed"
            counted = day_payments(wx_fresh)
            wx_dup_parts.append(_measure("wechat: redelivery", meter, [wx_notify(note) for note in notes]))
            assert day_payments(wx_fresh) == counted, "a redelivery records nothing"
            refunds = [wx_refunded(p) for p in wx_fresh]
            wx_refund_parts.append(_measure("wechat: refund", meter, [wx_notify(note) for note in refunds]))
            assert all(stored(p).refunded_fen == max(1, p["amount_fen"] // 2) for p in wx_fresh)
            wx_terminal = [wx_payment(6 * 10**6 + r * unique + i) for i in range(count)]
            wx_record(wx_terminal)
            notes = [wx_paid(p) for p in wx_terminal]
            wx_confirm_parts.append(_measure("wechat: confirm (term.)", meter, [wx_notify(note) for note in notes]))
            assert confirmed(wx_terminal), "every notification confirms the terminal's payment"
        app, floor, bare = combine(app_parts), combine(floor_parts), combine(bare_parts)
        confirm, first, join = combine(confirm_parts), combine(first_parts), combine(join_parts)
        wx_rows = [combine(parts) for parts in (wx_new_parts, wx_dup_parts, wx_confirm_parts, wx_refund_parts)]
        crypto = wx.crypto_cost(wechat, platform_key)
        app_mem = traced_peak_kib(workload(200, 10**7))
        floor_mem = traced_peak_kib([floor_call(10**7 + i) for i in range(200)])
    finally:
        meter.uninstall()
        app_module.runtime.install(None)

    print(f"\nPayment callbacks vs the floor — DynamoDB backend: {kind}, {app.calls} calls "
          f"({app.calls - app.recorded} duplicates), one process, sequential")
    print(HEADER)
    print(app.row())
    print(floor.row())
    print(bare.row())
    print(f"throughput ratio app/floor: {app.per_second / floor.per_second:.2f}   "
          f"app/bare transaction: {app.per_second / bare.per_second:.2f}")
    print(f"peak traced Python memory over 200 calls: app {app_mem:.0f} KiB, floor {floor_mem:.0f} KiB "
          f"(ratio {app_mem / max(floor_mem, 1):.1f})")
    print(f"app DynamoDB requests by operation: {app.by_operation} "
          f"(a new payment is 1 TransactWriteItems; a duplicate adds one: nonce claim + log entry)")

    print(f"\nConfirmations — Alipay's signed notification through a verified binding, {confirm.calls} payments "
          f"per order")
    print(HEADER)
    for row in (confirm, first, join):
        print(row.row())
    per = lambda *rs: (sum(r.requests for r in rs) / rs[0].recorded, sum(r.wcu for r in rs) / rs[0].recorded)  # noqa: E731
    t_req, t_wcu = per(confirm)
    p_req, p_wcu = per(first, join)
    print(f"per confirmation, terminal first: {t_req:.2f} requests, {t_wcu:.2f} WCU "
          f"(+ {app.requests / max(app.recorded, 1):.2f} requests, {app.wcu / max(app.recorded, 1):.2f} WCU "
          f"for the terminal's report)")
    print(f"per payment, platform first (notification + terminal's report): {p_req:.2f} requests, {p_wcu:.2f} WCU")
    print(f"DynamoDB requests by operation: confirm {confirm.by_operation}; platform-first notify "
          f"{first.by_operation}; its terminal report {join.by_operation}")

    wx_new = wx_rows[0]
    print(f"\nWeChat Pay v3 notifications — SHA256withRSA-signed, AES-256-GCM-encrypted, through a verified "
          f"binding, {wx_new.calls} per kind")
    print(HEADER)
    for row in wx_rows:
        print(row.row())
    print(f"throughput ratio new payment/bare transaction: {wx_new.per_second / bare.per_second:.2f}   "
          f"new payment/floor: {wx_new.per_second / floor.per_second:.2f}   "
          f"new payment/terminal callbacks: {wx_new.per_second / app.per_second:.2f}")
    for row in wx_rows:
        print(f"{row.name}: {row.requests / row.calls:.2f} requests, {row.wcu / row.calls:.2f} WCU, "
              f"{row.rcu / row.calls:.2f} RCU per notification {dict(row.by_operation)}")
    print("\nIn-process cost of the checks (best of 15 interleaved rounds, no I/O):")
    for line in crypto.lines():
        print(line)
    print(f"share of a new payment's p50 latency: {crypto.wechatpay_us / 1000 / wx_new.pct(50):.1%}")


if __name__ == "__main__":
    run(sys.argv[1:])

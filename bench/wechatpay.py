"""The WeChat Pay side of the payments benchmark: a platform identity generated for the run, its
notifications signed and encrypted for real (`localdev.wechatpay_platform`), and the in-process
cost of verifying and decrypting one against a terminal's HMAC check and Alipay's RSA2 check.
`bench.payments` runs the notifications through the app beside the terminal callbacks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from localdev import wechatpay_platform as platform

SP_MCHID = platform.LOCAL_SP_MCHID
SUB_MCHID = "1600000001"
BENCH_OPENID_PREFIX = "oBench"


@dataclass(frozen=True)
class Platform:
    """The run's WeChat Pay platform: its signing key (the public-key mode, `PUB_KEY_ID_…`) and the
    APIv3 key the app decrypts with."""

    key: rsa.RSAPrivateKey
    public_key_id: str
    apiv3_key: str

    @classmethod
    def generate(cls) -> Platform:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), platform.new_public_key_id(),
                   platform.new_apiv3_key())

    def configure(self, config: Any) -> Any:
        """`config` (a `chalicelib.config.Config`) with WeChat Pay configured for this platform."""
        return dataclasses.replace(config, wechatpay_sp_mchid=SP_MCHID, wechatpay_apiv3_key=self.apiv3_key,
                                   wechatpay_public_key_id=self.public_key_id,
                                   wechatpay_public_key=platform.public_pem(self.key))

    def notification(self, event_type: str, resource: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        return platform.notification(event_type, resource, key=self.key, serial=self.public_key_id,
                                     apiv3_key=self.apiv3_key)

    def paid(self, out_trade_no: str, amount_fen: int, buyer_id: str,
             paid_at: datetime) -> tuple[dict[str, str], bytes]:
        """TRANSACTION.SUCCESS of a payment at the bench's sub-merchant."""
        return self.notification("TRANSACTION.SUCCESS", platform.transaction(
            SP_MCHID, SUB_MCHID, out_trade_no, amount_fen, buyer_id, paid_at))

    def refunded(self, out_trade_no: str, out_refund_no: str, refund_fen: int,
                 total_fen: int) -> tuple[dict[str, str], bytes]:
        """REFUND.SUCCESS of a refund at the bench's sub-merchant."""
        return self.notification("REFUND.SUCCESS", platform.refund(
            SP_MCHID, SUB_MCHID, out_trade_no, out_refund_no, refund_fen, total_fen))


def openid(n: int) -> str:
    """A WeChat buyer id (payer.sp_openid) of the shape the platform sends, 28 characters."""
    return BENCH_OPENID_PREFIX + hashlib.sha256(str(n).encode()).hexdigest()[:22]


@dataclass(frozen=True)
class CryptoCost:
    """Microseconds per notification of each in-process check (no I/O, no app), best of rounds."""

    wechatpay_us: float  # headers + SHA256withRSA + envelope parse + AES-256-GCM + plaintext model
    wechatpay_signature_us: float  # of which the headers and SHA256withRSA
    terminal_us: float  # terminal headers + HMAC-SHA256 (the secret cached, as in the app)
    alipay_us: float  # form parse + RSA2 (SHA256withRSA)

    def lines(self) -> list[str]:
        return [f"WeChat Pay verification + decryption {self.wechatpay_us:7.1f} µs per notification "
                f"(signature {self.wechatpay_signature_us:.1f} µs)",
                f"terminal HMAC verification           {self.terminal_us:7.1f} µs per callback",
                f"Alipay RSA2 verification             {self.alipay_us:7.1f} µs per notification",
                f"ratio WeChat Pay / terminal HMAC: {self.wechatpay_us / self.terminal_us:.1f}   "
                f"WeChat Pay / Alipay: {self.wechatpay_us / self.alipay_us:.2f}"]


def _per_call_us(call: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t0) / n * 1e6


def crypto_cost(wx: Platform, alipay_key: rsa.RSAPrivateKey, n: int = 300, rounds: int = 15) -> CryptoCost:
    """What verifying (and, for WeChat Pay, decrypting) one notification costs, in process, with the
    app's own functions: the best of interleaved rounds, as `timeit` advises — on a busy machine the
    other rounds measure the neighbours."""
    from chalicelib.auth import parse_terminal_headers, terminal_signature, verify_signature
    from chalicelib.payments import alipay, wechatpay

    keys = wechatpay.WechatPayKeys.load(wx.public_key_id, platform.public_pem(wx.key))
    apiv3 = wechatpay.apiv3_key_bytes(wx.apiv3_key)
    headers, body = wx.paid("bench-crypto-0001", 1234, openid(0), datetime.now().astimezone())
    lower = {k.lower(): v for k, v in headers.items()}

    def signature() -> object:
        return wechatpay.verify_headers(lower, body, keys, time.time())

    def wechat() -> object:
        signature()
        plaintext = wechatpay.decrypt(wechatpay.parse_envelope(body).resource, apiv3)
        return wechatpay.payment_notice(plaintext)

    secret, path = secrets.token_hex(32), "/v1/terminal/payments"
    raw = (b'{"out_trade_no": "bench-crypto-0001", "amount_fen": 1234, "buyer_id": "2088000000000001", '
           b'"paid_at": "2024-01-01T00:00:00+08:00"}')
    ts, nonce = str(int(time.time())), secrets.token_hex(12)
    t_headers = {"x-yundian-terminal": "trm_bench", "x-yundian-timestamp": ts, "x-yundian-nonce": nonce,
                 "x-yundian-signature": terminal_signature(secret, "POST", path, ts, nonce, raw)}

    def terminal() -> object:
        signed = parse_terminal_headers(t_headers, time.time())
        verify_signature(signed, secret, "POST", path, raw)
        return signed

    params = {"notify_type": "trade_status_sync", "app_id": "2021000000000001", "charset": "utf-8",
              "sign_type": "RSA2", "out_trade_no": "bench-crypto-0001", "seller_id": "2088000000000001",
              "trade_status": "TRADE_SUCCESS", "total_amount": "12.34", "buyer_id": "2088000000000002",
              "gmt_payment": "2024-01-01 00:00:00", "notify_id": secrets.token_hex(16)}
    form = urlencode({**params, "sign": alipay.sign(params, alipay_key)}).encode()
    public = alipay_key.public_key()

    def alipay_check() -> object:
        parsed = alipay.parse_form(form)
        alipay.verify(parsed, public)
        return parsed

    checks = (wechat, signature, terminal, alipay_check)
    for call in checks:  # warm caches and pydantic's lazily built validators
        _per_call_us(call, 50)
    samples: list[list[float]] = [[] for _ in checks]
    for _ in range(rounds):
        for call, out in zip(checks, samples, strict=True):
            out.append(_per_call_us(call, n))
    w, sig, t, a = (min(s) for s in samples)
    return CryptoCost(w, sig, t, a)

"""The WeChat Pay platform's side of a notification, for the local stage, the tests and the
benchmark: what the platform does before it posts to `/v1/notify/wechatpay` — encrypt the
resource with the merchant's APIv3 key (AEAD_AES_256_GCM), sign `timestamp\\nnonce\\nbody\\n`
with its private key (SHA256withRSA) and name the key by its serial.

The local stage's platform identity (an RSA key pair, a `PUB_KEY_ID_…` and an APIv3 key) is
generated once into `.dynamodb/` (git-ignored, mode 0600), like the demo terminal secret and the
local Alipay key; `make run` configures the server with its public half."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

LOCAL_SP_MCHID = "1900000100"
KEY_FILE = "wechatpay-platform-key.pem"
IDENTITY_FILE = "wechatpay-platform.json"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def new_apiv3_key() -> str:
    """32 characters, like the key a merchant sets in the WeChat Pay console."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


def new_public_key_id() -> str:
    return "PUB_KEY_ID_" + "".join(secrets.choice("0123456789") for _ in range(32))


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def certificate(key: rsa.RSAPrivateKey, serial: int | None = None, days: int = 365) -> x509.Certificate:
    """A self-signed platform certificate (the platform-certificate key mode)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (local)")])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
            .sign(key, hashes.SHA256()))


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def encrypt(plaintext: bytes, apiv3_key: str, associated_data: str = "transaction",
            nonce: str | None = None) -> dict[str, str]:
    """A `resource` object as the platform sends it."""
    nonce = nonce or secrets.token_hex(6)  # 12 characters, as the platform's
    ct = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ct).decode(),
            "associated_data": associated_data, "nonce": nonce}


def sign(key: rsa.RSAPrivateKey, timestamp: str, nonce: str, body: bytes) -> str:
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def notification(event_type: str, resource: dict[str, Any], *, key: rsa.RSAPrivateKey, serial: str,
                 apiv3_key: str, timestamp: int | None = None, nonce: str | None = None,
                 original_type: str | None = None) -> tuple[dict[str, str], bytes]:
    """(headers, body) of one notification of `event_type` carrying `resource` (the plaintext)."""
    family = "refund" if event_type.startswith("REFUND.") else "transaction"
    summary = {"TRANSACTION.SUCCESS": "支付成功", "REFUND.SUCCESS": "退款成功"}.get(event_type, "通知")
    envelope = {
        "id": str(uuid.uuid4()), "create_time": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource", "event_type": event_type, "summary": summary,
        "resource": {"original_type": original_type or family,
                     **encrypt(json.dumps(resource, ensure_ascii=False).encode(), apiv3_key, family)},
    }
    body = json.dumps(envelope, ensure_ascii=False).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    headers = {"Content-Type": "application/json", "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce,
               "Wechatpay-Serial": serial, "Wechatpay-Signature": sign(key, ts, nonce, body),
               "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}
    return headers, body


def transaction(sp_mchid: str, sub_mchid: str, out_trade_no: str, total_fen: int, openid: str,
                success_time: datetime | None = None, *, transaction_id: str | None = None,
                trade_state: str = "SUCCESS", sub_openid: bool = False) -> dict[str, Any]:
    """A TRANSACTION.SUCCESS plaintext (service-provider mode)."""
    when = (success_time or datetime.now(UTC)).astimezone()
    payer = {"sub_openid": openid} if sub_openid else {"sp_openid": openid}
    return {
        "sp_appid": "wx8888888888888888", "sp_mchid": sp_mchid, "sub_appid": "wxd678efh567hg6999",
        "sub_mchid": sub_mchid, "out_trade_no": out_trade_no,
        "transaction_id": transaction_id or "4200" + "".join(secrets.choice("0123456789") for _ in range(24)),
        "trade_type": "JSAPI", "trade_state": trade_state, "trade_state_desc": "支付成功", "bank_type": "CMC",
        "attach": "", "success_time": when.isoformat(timespec="seconds"), "payer": payer,
        "amount": {"total": total_fen, "payer_total": total_fen, "currency": "CNY", "payer_currency": "CNY"},
    }


def refund(sp_mchid: str, sub_mchid: str, out_trade_no: str, out_refund_no: str, refund_fen: int,
           total_fen: int, *, status: str = "SUCCESS") -> dict[str, Any]:
    """A REFUND.SUCCESS plaintext (service-provider mode)."""
    return {
        "sp_mchid": sp_mchid, "sub_mchid": sub_mchid,
        "transaction_id": "4200" + "".join(secrets.choice("0123456789") for _ in range(24)),
        "out_trade_no": out_trade_no, "refund_id": "5030" + "".join(secrets.choice("0123456789") for _ in range(25)),
        "out_refund_no": out_refund_no, "refund_status": status,
        "success_time": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "user_received_account": "招商银行信用卡0403",
        "amount": {"total": total_fen, "refund": refund_fen, "payer_total": total_fen, "payer_refund": refund_fen},
    }


# ---------------------------------------------------------------- the local stage's identity


@dataclass(frozen=True)
class LocalPlatform:
    key: rsa.RSAPrivateKey
    public_key_id: str
    apiv3_key: str
    sp_mchid: str = LOCAL_SP_MCHID

    def env(self) -> dict[str, str]:
        """What the local server is configured with (see `scripts/run_local.py`)."""
        return {"WECHATPAY_SP_MCHID": self.sp_mchid, "WECHATPAY_APIV3_KEY": self.apiv3_key,
                "WECHATPAY_PUBLIC_KEY_ID": self.public_key_id, "WECHATPAY_PUBLIC_KEY": public_pem(self.key)}

    def notification(self, event_type: str, resource: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        return notification(event_type, resource, key=self.key, serial=self.public_key_id, apiv3_key=self.apiv3_key)


def local_platform(data_dir: Path) -> LocalPlatform:
    """The local stage's WeChat Pay identity, generated on first use (files of mode 0600)."""
    key_path, identity_path = data_dir / KEY_FILE, data_dir / IDENTITY_FILE
    if not key_path.exists() or not identity_path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for path, text in ((key_path, private_pem(key)),
                           (identity_path, json.dumps({"public_key_id": new_public_key_id(),
                                                       "apiv3_key": new_apiv3_key()}))):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
    loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    identity = json.loads(identity_path.read_text())
    return LocalPlatform(loaded, identity["public_key_id"], identity["apiv3_key"])

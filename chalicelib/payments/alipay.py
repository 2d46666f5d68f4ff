"""Alipay asynchronous notifications: form parsing, RSA2 verification and the trade facts.

Verification follows Alipay's rule for async notifications (`rsaCheckV1`): drop `sign` and
`sign_type`, sort the remaining parameters by key, join `key=value` (URL-decoded values) with
`&`, encode with the notification's `charset`, and verify the base64 `sign` with SHA256withRSA
(PKCS#1 v1.5) against the platform public key. Only `sign_type=RSA2` is accepted.
No AWS here; the RSA work is `cryptography`'s.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib import platform_crypto
from chalicelib.errors import BadRequest, Invalid, Unauthorized
from chalicelib.payments.domain import MAX_AMOUNT_FEN, yuan_to_fen
from chalicelib.schemas import within_bounds

ALIPAY_TZ = ZoneInfo("Asia/Shanghai")  # the platform's timestamps are Beijing time, without offset
CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030"}
UNSIGNED = ("sign", "sign_type")
OUT_TRADE_NO_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BUYER_RE = re.compile(r"^[\x21-\x7e]{1,64}$")

PAID_STATUSES = ("TRADE_SUCCESS", "TRADE_FINISHED")
WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
TRADE_CLOSED = "TRADE_CLOSED"


def parse_form(raw: bytes) -> dict[str, str]:
    """An x-www-form-urlencoded body → {key: URL-decoded value}, decoded with its `charset`."""
    pairs: list[tuple[bytes, bytes]] = []
    for part in raw.split(b"&") if raw else []:
        key, sep, value = part.partition(b"=")
        if not sep or not key:
            raise BadRequest("body is not a form", code="invalid_form")
        pairs.append((unquote_to_bytes(key.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    if not pairs:
        raise BadRequest("empty notification", code="invalid_form")
    charset_raw = next((v for k, v in pairs if k == b"charset"), b"utf-8")
    charset = CHARSETS.get(charset_raw.decode("ascii", "replace").strip().lower())
    if charset is None:
        raise BadRequest("unsupported charset", code="invalid_form")
    params: dict[str, str] = {}
    try:
        for k, v in pairs:
            name, text = k.decode(charset), v.decode(charset)
            if name in params:
                raise BadRequest(f"parameter {name!r} repeated", code="invalid_form")
            params[name] = text
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid {charset}", code="invalid_form") from exc
    return params


def sign_content(params: dict[str, str]) -> str:
    """The string Alipay signs: every parameter but sign/sign_type, sorted by key, `k=v&k=v`."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in UNSIGNED)


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """The platform key as PEM, or the bare base64 body the Alipay console shows."""
    return platform_crypto.load_public_key(text, "ALIPAY_PUBLIC_KEY")


def charset_of(params: dict[str, str]) -> str:
    return CHARSETS.get(params.get("charset", "utf-8").strip().lower(), "utf-8")


def verify(params: dict[str, str], public_key: rsa.RSAPublicKey) -> None:
    """Check sign_type and the RSA2 signature; 400 for another sign type, 401 for a bad signature."""
    sign_type = params.get("sign_type")
    if sign_type != "RSA2":
        raise BadRequest(f"sign_type {sign_type!r} is not accepted (RSA2 only)", code="unsupported_sign_type")
    sign = params.get("sign", "")
    try:
        signature = base64.b64decode(sign.replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unauthorized("sign is not base64", code="bad_signature") from exc
    message = sign_content(params).encode(charset_of(params))
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise Unauthorized("signature does not verify", code="bad_signature") from exc


def sign(params: dict[str, str], private_key: rsa.RSAPrivateKey) -> str:
    """Sign like the platform does (tests, the benchmark, local demos)."""
    message = sign_content(params).encode(charset_of(params))
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


@dataclass(frozen=True)
class TradeNotice:
    """The facts of one verified notification."""

    app_id: str
    seller_id: str
    trade_status: str
    out_trade_no: str
    trade_no: str | None
    total_fen: int | None
    refund_fee_fen: int | None
    buyer_id: str | None
    paid_at: datetime | None
    notify_id: str | None

    @property
    def has_payment_facts(self) -> bool:
        return self.total_fen is not None and self.buyer_id is not None and self.paid_at is not None


def _fen(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return yuan_to_fen(value)
    except ValueError as exc:
        raise Invalid(f"{name} is not an amount in yuan with at most 2 decimals", code="invalid_value") from exc


def _time(params: dict[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if not value:
        return None
    try:
        when = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ALIPAY_TZ)
    except ValueError as exc:
        raise Invalid(f"{name} must be 'yyyy-MM-dd HH:mm:ss'", code="invalid_datetime") from exc
    try:
        return within_bounds(when)
    except ValueError as exc:
        raise Invalid(f"{name} is out of range", code="invalid_value") from exc


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise Invalid(f"{name} is missing", code="missing_field")
    return value


def notice_from(params: dict[str, str]) -> TradeNotice:
    """The trade facts of a (verified) notification; 422 when a field is malformed."""
    out_trade_no = _required(params, "out_trade_no")
    if not OUT_TRADE_NO_RE.fullmatch(out_trade_no):
        raise Invalid("out_trade_no must be 1-64 of [A-Za-z0-9_-]", code="invalid_value")
    total = _fen(params, "total_amount")
    if total is not None and not 1 <= total <= MAX_AMOUNT_FEN:
        raise Invalid("total_amount out of range", code="invalid_value")
    refund = _fen(params, "refund_fee")
    if refund is not None and total is not None and refund > total:
        raise Invalid("refund_fee exceeds total_amount", code="invalid_value")
    buyer = params.get("buyer_id") or params.get("buyer_open_id") or None
    if buyer is not None and not BUYER_RE.fullmatch(buyer):
        raise Invalid("buyer_id is malformed", code="invalid_value")
    return TradeNotice(
        app_id=_required(params, "app_id"), seller_id=_required(params, "seller_id"),
        trade_status=_required(params, "trade_status"), out_trade_no=out_trade_no,
        trade_no=params.get("trade_no") or None, total_fen=total, refund_fee_fen=refund or None,
        buyer_id=buyer, paid_at=_time(params, "gmt_payment"), notify_id=params.get("notify_id"),
    )


__all__ = ["parse_form", "sign_content", "load_public_key", "verify", "sign", "notice_from", "TradeNotice"]

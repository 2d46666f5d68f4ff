"""WeChat Pay API v3 notifications (service-provider mode): header verification, `resource`
decryption and the facts of a payment or refund. No AWS here; the RSA and AES-GCM work is
`cryptography`'s.

Verification follows the platform's rule, in the contract's order, on the raw body:
1. `Wechatpay-Timestamp` within 300 s of the wall clock (`stale_timestamp`);
2. `Wechatpay-Serial` names a configured key — the WeChat Pay public key by its id
   (`PUB_KEY_ID_…`) or a platform certificate by its serial number in upper-case hex; both kinds
   may be configured at once, as during a merchant's migration (`unknown_serial`);
3. `Wechatpay-Signature`: base64 SHA256withRSA (PKCS#1 v1.5) over
   `timestamp\\nnonce\\nbody\\n` (`bad_signature`; the platform's `WECHATPAY/SIGNTEST/` probes
   are signatures that never verify).
Then `resource` is decrypted with AEAD_AES_256_GCM under the APIv3 key (its UTF-8 bytes; the
platform issues 32-byte keys, its SDK's own test vector uses 16) with `associated_data` as AAD.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, StringConstraints, ValidationError

from chalicelib.errors import BadRequest, Invalid, Unauthorized
from chalicelib.parsing import parse_int
from chalicelib.payments.limits import MAX_AMOUNT_FEN
from chalicelib.schemas import Body, Timestamp, validation_error

TIMESTAMP_WINDOW_SECONDS = 300
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
ALGORITHM = "AEAD_AES_256_GCM"
AES_KEY_BYTES = (16, 24, 32)
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"

TRANSACTION_SUCCESS = "TRANSACTION.SUCCESS"
REFUND_SUCCESS = "REFUND.SUCCESS"
HANDLED_FAMILIES = ("TRANSACTION.", "REFUND.")
TRADE_STATE_SUCCESS = "SUCCESS"
REFUND_STATUS_SUCCESS = "SUCCESS"

_NONCE_RE = re.compile(r"^[\x21-\x7e]{1,64}$")
_SERIAL_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class WechatPayKeys:
    """The platform's verification keys by the serial a notification names."""

    by_serial: Mapping[str, rsa.RSAPublicKey]  # a public key by its exact id, certificates by normalised serial

    @classmethod
    def load(cls, public_key_id: str = "", public_key_pem: str = "", certificates_pem: str = "") -> WechatPayKeys:
        """Keys from the configuration; ValueError naming what is malformed."""
        keys: dict[str, rsa.RSAPublicKey] = {}
        if public_key_pem.strip() or public_key_id.strip():
            if not public_key_id.startswith(PUBLIC_KEY_ID_PREFIX) or not public_key_pem.strip():
                raise ValueError("WECHATPAY_PUBLIC_KEY_ID (PUB_KEY_ID_…) and WECHATPAY_PUBLIC_KEY go together")
            try:
                key = serialization.load_pem_public_key(_pem(public_key_pem))
            except ValueError as exc:
                raise ValueError("WECHATPAY_PUBLIC_KEY is not a PEM public key") from exc
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("WECHATPAY_PUBLIC_KEY is not an RSA key")
            keys[public_key_id] = key
        if certificates_pem.strip():
            try:
                certificates = x509.load_pem_x509_certificates(_pem(certificates_pem))
            except ValueError as exc:
                raise ValueError("WECHATPAY_PLATFORM_CERTS are not PEM certificates") from exc
            for cert in certificates:
                cert_key = cert.public_key()
                if not isinstance(cert_key, rsa.RSAPublicKey):
                    raise ValueError("a WECHATPAY_PLATFORM_CERTS certificate has no RSA key")
                keys[serial_of(cert)] = cert_key
        return cls(keys)

    def key_for(self, serial: str) -> rsa.RSAPublicKey | None:
        """The WeChat Pay public key named by its exact id, or the platform certificate whose serial
        number this is (hex, any case, leading zeros or not)."""
        if serial.startswith(PUBLIC_KEY_ID_PREFIX):
            return self.by_serial.get(serial)
        if not re.fullmatch(r"[0-9A-Fa-f]{1,64}", serial):
            return None
        return self.by_serial.get(_normal_serial(serial))

    def __bool__(self) -> bool:
        return bool(self.by_serial)


def serial_of(cert: x509.Certificate) -> str:
    """A certificate's serial number as the platform writes it: upper-case hex."""
    return format(cert.serial_number, "X")


def _normal_serial(serial: str) -> str:
    return serial.strip().upper().lstrip("0") or "0"


def _pem(text: str) -> bytes:
    return text.strip().replace("\\n", "\n").encode()


def apiv3_key_bytes(text: str) -> bytes:
    """The APIv3 key as AES key bytes (its raw UTF-8); ValueError for a length AES refuses."""
    key = text.encode("utf-8")
    if len(key) not in AES_KEY_BYTES:
        raise ValueError("WECHATPAY_APIV3_KEY must be 32 bytes (16 or 24 only for test vectors)")
    return key


# ---------------------------------------------------------------- headers and signature


@dataclass(frozen=True)
class SignedNotification:
    timestamp: str
    nonce: str
    serial: str
    signature: str


def message_of(timestamp: str, nonce: str, body: bytes) -> bytes:
    """What the platform signs: `timestamp\\nnonce\\nbody\\n`, the body as raw bytes."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def verify_headers(headers: Mapping[str, str], body: bytes, keys: WechatPayKeys,
                   wall_time: float) -> SignedNotification:
    """Check timestamp, serial and signature in the contract's order (headers by lower-case name);
    Unauthorized with `stale_timestamp` / `unknown_serial` / `bad_signature` otherwise."""
    ts = headers.get("wechatpay-timestamp")
    unix = parse_int(ts, "Wechatpay-Timestamp (unix seconds)", max_digits=12, error=Unauthorized,
                     code="stale_timestamp")
    if abs(wall_time - unix) > TIMESTAMP_WINDOW_SECONDS:
        raise Unauthorized("Wechatpay-Timestamp is outside the 300 s window", code="stale_timestamp")
    serial = headers.get("wechatpay-serial") or ""
    key = keys.key_for(serial) if _SERIAL_RE.fullmatch(serial) else None
    if key is None:
        raise Unauthorized("Wechatpay-Serial names no configured platform key", code="unknown_serial")
    nonce = headers.get("wechatpay-nonce") or ""
    signature = headers.get("wechatpay-signature") or ""
    sig_type = headers.get("wechatpay-signature-type")
    if sig_type is not None and sig_type != SIGNATURE_TYPE:
        raise Unauthorized(f"Wechatpay-Signature-Type must be {SIGNATURE_TYPE}", code="bad_signature")
    if signature.startswith(PROBE_PREFIX):
        raise Unauthorized("a signature probe: refused, as it must be", code="bad_signature")
    if not _NONCE_RE.fullmatch(nonce) or not signature:
        raise Unauthorized("Wechatpay-Nonce and Wechatpay-Signature are required", code="bad_signature")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unauthorized("Wechatpay-Signature is not base64", code="bad_signature") from exc
    try:
        key.verify(raw_signature, message_of(str(ts), nonce, body), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise Unauthorized("Wechatpay-Signature does not verify", code="bad_signature") from exc
    return SignedNotification(str(ts), nonce, serial, signature)


# ---------------------------------------------------------------- envelope and resource


class Resource(Body):
    algorithm: str
    ciphertext: str
    nonce: str
    associated_data: str = ""
    original_type: str | None = None


class Envelope(Body):
    id: Annotated[str, StringConstraints(max_length=128)] | None = None
    event_type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    resource_type: str | None = None
    resource: Resource


def parse_envelope(body: bytes) -> Envelope:
    """The notification envelope (after its signature verified); 400/422 when malformed."""
    try:
        return Envelope.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from exc


def decrypt(resource: Resource, apiv3_key: bytes) -> bytes:
    """The plaintext of `resource`; 400 `undecryptable_resource` when it does not decrypt."""
    if resource.algorithm != ALGORITHM:
        raise BadRequest(f"resource.algorithm must be {ALGORITHM}", code="undecryptable_resource")
    try:
        ciphertext = base64.b64decode(resource.ciphertext, validate=True)
        nonce = resource.nonce.encode("utf-8")
        return AESGCM(apiv3_key).decrypt(nonce, ciphertext, resource.associated_data.encode("utf-8"))
    except (binascii.Error, ValueError, InvalidTag, OverflowError) as exc:
        raise BadRequest("resource does not decrypt with the APIv3 key", code="undecryptable_resource") from exc


# ---------------------------------------------------------------- the facts


MchId = Annotated[str, StringConstraints(max_length=64)]
OutTradeNo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_*-]{1,64}$")]
OutRefundNo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_*|@-]{1,64}$")]
OpenId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,64}$")]
TradeNo = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,64}$")]
AmountFen = Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)]


class Routing(Body):
    """What every TRANSACTION.* and REFUND.* plaintext names first: whose notification it is."""

    sp_mchid: MchId
    sub_mchid: MchId


class Payer(Body):
    sp_openid: OpenId | None = None
    sub_openid: OpenId | None = None


class TransactionAmount(Body):
    total: AmountFen
    currency: str | None = None


class Transaction(Body):
    out_trade_no: OutTradeNo
    transaction_id: TradeNo | None = None
    trade_state: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    success_time: Timestamp | None = None
    payer: Payer | None = None
    amount: TransactionAmount | None = None


class RefundAmount(Body):
    total: AmountFen | None = None
    refund: AmountFen


class Refund(Body):
    out_trade_no: OutTradeNo
    out_refund_no: OutRefundNo
    refund_id: TradeNo | None = None
    refund_status: Annotated[str, StringConstraints(max_length=32)] | None = None
    success_time: Timestamp | None = None
    amount: RefundAmount


def _plain(model: type[Any], plaintext: bytes) -> Any:
    """The decrypted resource as `model`: pydantic's own JSON parser (nesting bounded, no
    recursion in Python, strict types); anything else is 400 `invalid_json` or a 422."""
    try:
        return model.model_validate_json(plaintext)
    except ValidationError as exc:
        raise validation_error(exc) from exc


def routing_of(plaintext: bytes) -> Routing:
    result: Routing = _plain(Routing, plaintext)
    return result


@dataclass(frozen=True)
class PaymentNotice:
    out_trade_no: str
    transaction_id: str | None
    trade_state: str
    amount_fen: int | None
    buyer_id: str | None
    paid_at: datetime | None

    @property
    def succeeded(self) -> bool:
        return self.trade_state == TRADE_STATE_SUCCESS


def payment_notice(plaintext: bytes) -> PaymentNotice:
    """A TRANSACTION.* plaintext; a successful one must name amount, payer and time (422)."""
    t: Transaction = _plain(Transaction, plaintext)
    buyer = (t.payer.sp_openid or t.payer.sub_openid) if t.payer else None
    notice = PaymentNotice(t.out_trade_no, t.transaction_id, t.trade_state,
                           t.amount.total if t.amount else None, buyer, t.success_time)
    if notice.succeeded:
        missing = [name for name, v in (("amount.total", notice.amount_fen), ("payer.sp_openid", buyer),
                                        ("success_time", notice.paid_at)) if v is None]
        if missing:
            raise Invalid(f"{', '.join(missing)} missing from a successful transaction", code="missing_field")
    return notice


@dataclass(frozen=True)
class RefundNotice:
    out_trade_no: str
    out_refund_no: str
    refund_id: str | None
    status: str | None
    amount_fen: int
    total_fen: int | None

    @property
    def succeeded(self) -> bool:
        return self.status in (None, REFUND_STATUS_SUCCESS)


def refund_notice(plaintext: bytes) -> RefundNotice:
    r: Refund = _plain(Refund, plaintext)
    if r.amount.total is not None and r.amount.refund > r.amount.total:
        raise Invalid("amount.refund exceeds amount.total", code="invalid_value")
    return RefundNotice(r.out_trade_no, r.out_refund_no, r.refund_id, r.refund_status, r.amount.refund,
                        r.amount.total)


def handled(event_type: str) -> bool:
    """TRANSACTION.* and REFUND.* are about a sub-merchant's money; every other event is acknowledged."""
    return event_type.startswith(HANDLED_FAMILIES)


__all__ = ["WechatPayKeys", "verify_headers", "parse_envelope", "decrypt", "routing_of", "payment_notice",
           "refund_notice", "handled", "apiv3_key_bytes", "message_of", "serial_of"]

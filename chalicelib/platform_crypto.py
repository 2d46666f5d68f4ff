"""RSA keys and SHA256withRSA signatures as the payment platforms use them (Alipay's RSA2, WeChat
Pay's WECHATPAY2-SHA256-RSA2048): PKCS#1 v1.5 padding, SHA-256, base64 signatures. Shared by
the areas that talk to a platform; the RSA work is `cryptography`'s. No I/O, no AWS."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def _key_text(text: str) -> str:
    # a PEM pasted into an environment variable often carries literal "\n"
    return text.strip().replace("\\n", "\n")


def load_public_key(text: str, what: str = "ALIPAY_PUBLIC_KEY") -> rsa.RSAPublicKey:
    """An RSA public key as PEM, or the bare base64 body (SubjectPublicKeyInfo DER) a platform's
    console shows; ValueError naming `what` (never quoting the value) otherwise."""
    text = _key_text(text)
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValueError(f"{what} is not an RSA public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{what} is not an RSA public key")
    return key


def load_private_key(text: str, what: str) -> rsa.RSAPrivateKey:
    """An RSA private key as PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`),
    or the bare base64 body of either (what Alipay's key tool gives); ValueError naming `what`
    (never quoting the value) otherwise. Encrypted keys are not accepted."""
    text = _key_text(text)
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = serialization.load_der_private_key(base64.b64decode("".join(text.split()), validate=True),
                                                     password=None)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValueError(f"{what} is not an unencrypted RSA private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{what} is not an RSA private key")
    return key


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def same_key(a: rsa.RSAPublicKey, b: rsa.RSAPublicKey) -> bool:
    return a.public_numbers() == b.public_numbers()


def sign_sha256_rsa(message: bytes, key: rsa.RSAPrivateKey) -> str:
    """The base64 SHA256withRSA (PKCS#1 v1.5) signature of `message`."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify_sha256_rsa(message: bytes, signature_b64: str, key: rsa.RSAPublicKey) -> bool:
    """Whether `signature_b64` is a valid SHA256withRSA signature of `message` under `key`."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


__all__ = ["load_public_key", "load_private_key", "public_pem", "private_pem", "same_key", "sign_sha256_rsa",
           "verify_sha256_rsa"]

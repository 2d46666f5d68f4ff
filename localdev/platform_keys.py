"""The local stage's stand-in for the payment platform's signing key: an RSA key pair generated
once into `.dynamodb/` (git-ignored, like the demo terminal secret), whose public half the local
server trusts as `ALIPAY_PUBLIC_KEY`. `scripts/alipay_notify.py` signs demo notifications with the
private half, exactly as Alipay signs its own (RSA2), so the real verification path runs."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LOCAL_ALIPAY_APP_ID = "2021000000000000"
KEY_FILE = "alipay-platform-key.pem"


def private_key(data_dir: Path) -> rsa.RSAPrivateKey:
    """The local platform key, generated on first use (mode 0600)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def public_pem(data_dir: Path) -> str:
    return private_key(data_dir).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

"""Our Alipay keys, read once: RSA keys in the forms the SDK loads, and the AES content key.

Configuration may hold a full PEM (PKCS#8 or PKCS#1 private, SubjectPublicKeyInfo public) or the
bare base64 body the Alipay console shows. Errors never quote the key.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from channels.base import ChannelMisconfigured


def _der(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ChannelMisconfigured("alipay key is neither PEM nor base64") from None


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """Our app's RSA private key, from PEM or a bare base64 (PKCS#8 or PKCS#1) body."""
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = serialization.load_der_private_key(_der(text), password=None)
    except (ValueError, TypeError):
        raise ChannelMisconfigured("alipay app private key does not load") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ChannelMisconfigured("alipay app private key is not an RSA key")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Alipay's RSA public key, from PEM or a bare base64 SubjectPublicKeyInfo body."""
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(_der(text))
    except (ValueError, TypeError):
        raise ChannelMisconfigured("alipay public key does not load") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ChannelMisconfigured("alipay public key is not an RSA key")
    return key


def sdk_private_key(key: rsa.RSAPrivateKey) -> str:
    """PKCS#1 PEM: ``SignatureUtils.sign_with_rsa2`` reads only ``BEGIN RSA PRIVATE KEY``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def sdk_public_key(key: rsa.RSAPublicKey) -> str:
    """SubjectPublicKeyInfo PEM, what ``SignatureUtils.verify_with_rsa`` loads."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_aes_key(text: str) -> bytes:
    """The app's content encryption key: base64 of 16, 24 or 32 bytes (Alipay issues 16)."""
    raw = _der(text)
    if len(raw) not in (16, 24, 32):
        raise ChannelMisconfigured("alipay AES key must decode to 16, 24 or 32 bytes")
    return raw

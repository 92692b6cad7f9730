"""The ``my.getPhoneNumber`` payload: RSA2-signed by Alipay, AES-encrypted with the app's key.

``res.response`` in the mini-program is a JSON text
``{"response": "<base64 ciphertext>", "sign": "...", "sign_type": "RSA2", "encrypt_type": "AES",
"charset": "UTF-8"}``. Per Alipay's "sensitive data" guide, the signature covers the ciphertext
*with its surrounding double quotes* (the raw JSON value, as for gateway answers); the plaintext
is ``{"code": "10000", "msg": "Success", "mobile": "..."}``, AES-CBC with a zero IV and PKCS#7.
The signature is checked first; nothing is decrypted before it verifies.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.base import InvalidPayload

ZERO_IV = bytes(16)


def _field(envelope: dict[str, Any], name: str, default: str | None = None) -> str:
    value = envelope.get(name, default)
    if not isinstance(value, str) or not value:
        raise InvalidPayload(f"phone payload lacks a string {name!r}")
    return value


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayload(f"phone payload {what} is not base64") from None


def decrypt(ciphertext: bytes, aes_key: bytes) -> bytes:
    """AES-CBC, zero IV, PKCS#7: Alipay's content encryption."""
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidPayload("phone payload is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(ZERO_IV)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise InvalidPayload("phone payload does not decrypt with our AES key") from None


def open_phone_payload(text: str, alipay_public_key: rsa.RSAPublicKey, aes_key: bytes) -> str:
    """Verify and decrypt a ``my.getPhoneNumber`` response; return the mobile number.

    Raises :class:`InvalidPayload` for anything malformed, unsigned, signed by another key, not
    decrypting with our key, or not a success. Messages never include the number or the keys.
    """
    try:
        envelope = json.loads(text)
    except ValueError:
        raise InvalidPayload("phone payload is not JSON") from None
    if not isinstance(envelope, dict):
        raise InvalidPayload("phone payload is not a JSON object")
    content = _field(envelope, "response")
    signature = _b64(_field(envelope, "sign"), "sign")
    if _field(envelope, "sign_type", "RSA2") != "RSA2":
        raise InvalidPayload("phone payload must be signed with RSA2")
    if _field(envelope, "encrypt_type", "AES") != "AES":
        raise InvalidPayload("phone payload must be encrypted with AES")
    charset = _field(envelope, "charset", "UTF-8")
    if charset.replace("-", "").lower() != "utf8":
        raise InvalidPayload("phone payload must use UTF-8")
    if content.startswith("{"):
        # A plaintext answer is legal for non-sensitive data only; a phone number never is.
        raise InvalidPayload("phone payload is not encrypted")
    try:
        alipay_public_key.verify(signature, f'"{content}"'.encode(), PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise InvalidPayload("phone payload signature does not verify") from None
    try:
        data = json.loads(decrypt(_b64(content, "response"), aes_key))
    except ValueError:  # undecodable bytes or not JSON: wrong key or forged content
        raise InvalidPayload("phone payload does not decrypt with our AES key") from None
    if not isinstance(data, dict):
        raise InvalidPayload("phone payload plaintext is not a JSON object")
    if data.get("code") != "10000":
        code = str(data.get("code"))[:16]
        raise InvalidPayload(f"alipay refused the phone number: {code}", platform_code=code)
    mobile = data.get("mobile")
    if not isinstance(mobile, str) or not mobile.strip():
        raise InvalidPayload("phone payload carries no mobile number")
    return mobile.strip()

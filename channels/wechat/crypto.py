"""The legacy ``getPhoneNumber`` / ``getUserInfo`` payload: AES-128-CBC with the session_key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.base import InvalidPayload


def _b64_16(value: str, what: str) -> bytes:
    """Decode base64 that must hold exactly 16 bytes (the session_key, the iv)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayload(f"{what} is not base64") from None
    if len(raw) != 16:
        raise InvalidPayload(f"{what} must be 16 bytes")
    return raw


def decrypt_user_data(
    app_id: str, session_key: str, encrypted_data: str, iv: str
) -> dict[str, Any]:
    """Decrypt and check a mini-program ``encryptedData``; its watermark appid must be ``app_id``.

    Raises :class:`InvalidPayload` for anything that does not decrypt, unpad, parse as a JSON
    object, or carry our appid. Messages never include the key or the plaintext.
    """
    key = _b64_16(session_key, "session_key")
    iv_bytes = _b64_16(iv, "iv")
    try:
        ciphertext = base64.b64decode(encrypted_data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayload("encrypted_data is not base64") from None
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidPayload("encrypted_data is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv_bytes)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        data = json.loads(plain)
    except ValueError:  # bad padding, undecodable bytes, or not JSON: wrong key or tampered data
        raise InvalidPayload("encrypted_data does not decrypt with this session") from None
    if not isinstance(data, dict):
        raise InvalidPayload("encrypted_data is not a JSON object")
    watermark = data.get("watermark")
    if not isinstance(watermark, dict) or watermark.get("appid") != app_id:
        raise InvalidPayload("encrypted_data was made for another app")
    return data

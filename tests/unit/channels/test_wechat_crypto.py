"""decrypt_user_data: the legacy getPhoneNumber payload (AES-128-CBC with the session_key)."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.base import ChannelError, InvalidPayload
from channels.wechat import decrypt_user_data

APP_ID = "wx0123456789abcdef"


def new_session_key() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode()


def encrypt(session_key: str, payload: Any, iv: bytes | None = None) -> tuple[str, str]:
    """Encrypt as WeChat does: AES-128-CBC, PKCS#7, base64 (written independently of the code)."""
    iv = iv or secrets.token_bytes(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(payload).encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(base64.b64decode(session_key)), modes.CBC(iv)).encryptor()
    data = enc.update(plain) + enc.finalize()
    return base64.b64encode(data).decode(), base64.b64encode(iv).decode()


def phone_payload(appid: str = APP_ID) -> dict[str, Any]:
    return {
        "phoneNumber": "13800138000",
        "purePhoneNumber": "13800138000",
        "countryCode": "86",
        "watermark": {"appid": appid, "timestamp": 1650000000},
    }


def test_good_payload_decrypts_to_the_phone_data() -> None:
    key = new_session_key()
    encrypted, iv = encrypt(key, phone_payload())

    assert decrypt_user_data(APP_ID, key, encrypted, iv) == phone_payload()


def test_payload_made_for_another_app_is_refused() -> None:
    key = new_session_key()
    encrypted, iv = encrypt(key, phone_payload(appid="wxsomeoneelse00000"))

    with pytest.raises(InvalidPayload, match="another app"):
        decrypt_user_data(APP_ID, key, encrypted, iv)


def test_payload_without_watermark_is_refused() -> None:
    key = new_session_key()
    payload = phone_payload()
    del payload["watermark"]
    encrypted, iv = encrypt(key, payload)

    with pytest.raises(InvalidPayload):
        decrypt_user_data(APP_ID, key, encrypted, iv)


def test_payload_decrypted_with_another_session_key_is_refused() -> None:
    encrypted, iv = encrypt(new_session_key(), phone_payload())

    with pytest.raises(InvalidPayload):
        decrypt_user_data(APP_ID, new_session_key(), encrypted, iv)


def test_tampered_ciphertext_is_refused() -> None:
    key = new_session_key()
    encrypted, iv = encrypt(key, phone_payload())
    raw = bytearray(base64.b64decode(encrypted))
    raw[-1] ^= 0xFF  # breaks the padding of the last block
    tampered = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(InvalidPayload):
        decrypt_user_data(APP_ID, key, tampered, iv)


def test_tampered_iv_that_breaks_the_json_is_refused() -> None:
    key = new_session_key()
    encrypted, iv = encrypt(key, phone_payload())
    raw_iv = bytearray(base64.b64decode(iv))
    raw_iv[0] ^= ord("{") ^ ord("x")  # CBC: flips the first plaintext byte, "{" becomes "x"

    with pytest.raises(InvalidPayload):
        decrypt_user_data(APP_ID, key, encrypted, base64.b64encode(bytes(raw_iv)).decode())


def test_payload_that_is_not_a_json_object_is_refused() -> None:
    key = new_session_key()
    encrypted, iv = encrypt(key, ["not", "an", "object"])

    with pytest.raises(InvalidPayload):
        decrypt_user_data(APP_ID, key, encrypted, iv)


@pytest.mark.parametrize(
    ("encrypted", "iv"),
    [
        ("not base64 at all!", base64.b64encode(b"0" * 16).decode()),
        (base64.b64encode(b"short").decode(), base64.b64encode(b"0" * 16).decode()),
        (base64.b64encode(b"x" * 32).decode(), base64.b64encode(b"short iv").decode()),
        ("", base64.b64encode(b"0" * 16).decode()),
    ],
    ids=["not-base64", "not-whole-blocks", "short-iv", "empty"],
)
def test_garbage_is_refused(encrypted: str, iv: str) -> None:
    with pytest.raises(InvalidPayload):
        decrypt_user_data(APP_ID, new_session_key(), encrypted, iv)


def test_session_key_that_is_not_sixteen_bytes_is_refused() -> None:
    encrypted, iv = encrypt(new_session_key(), phone_payload())

    with pytest.raises(InvalidPayload):
        decrypt_user_data(APP_ID, "c2hvcnQ=", encrypted, iv)


def test_refusals_do_not_reveal_the_key_or_the_plaintext() -> None:
    key = new_session_key()
    encrypted, iv = encrypt(key, phone_payload(appid="wxsomeoneelse00000"))

    with pytest.raises(ChannelError) as caught:
        decrypt_user_data(APP_ID, key, encrypted, iv)

    assert key not in str(caught.value)
    assert "13800138000" not in str(caught.value)
    assert caught.value.__cause__ is None

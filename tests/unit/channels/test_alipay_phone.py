"""The ``my.getPhoneNumber`` payload, built here the way Alipay's guide describes it."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.alipay import AlipayChannel
from channels.alipay.phone import open_phone_payload
from channels.base import InvalidPayload
from channels.emulator.config import generate_rsa_private_key_pem

PHONE = "13812345678"
SUCCESS = {"code": "10000", "msg": "Success", "mobile": PHONE}


def encrypt(plain: bytes, key: bytes) -> str:
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    padded = padder.update(plain) + padder.finalize()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def sign(key: rsa.RSAPrivateKey, content: str) -> str:
    return base64.b64encode(key.sign(content.encode(), PKCS1v15(), hashes.SHA256())).decode()


def payload(
    platform_key: rsa.RSAPrivateKey,
    aes_key: bytes,
    plain: dict[str, Any] = SUCCESS,
    overrides: dict[str, str] | None = None,
) -> str:
    """``res.response``: signature over the ciphertext in double quotes (Alipay's Java demo)."""
    ciphertext = encrypt(json.dumps(plain).encode(), aes_key)
    envelope = {
        "response": ciphertext,
        "sign": sign(platform_key, f'"{ciphertext}"'),
        "sign_type": "RSA2",
        "encrypt_type": "AES",
        "charset": "UTF-8",
    }
    return json.dumps({**envelope, **(overrides or {})})


@pytest.fixture(scope="module")
def platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def aes_key() -> bytes:
    return secrets.token_bytes(16)


def open_it(text: str, platform_key: rsa.RSAPrivateKey, aes_key: bytes) -> str:
    return open_phone_payload(text, platform_key.public_key(), aes_key)


def test_signed_and_encrypted_payload_opens_to_the_phone(
    platform_key: rsa.RSAPrivateKey, aes_key: bytes
) -> None:
    assert open_it(payload(platform_key, aes_key), platform_key, aes_key) == PHONE


def test_tampered_ciphertext_is_refused(platform_key: rsa.RSAPrivateKey, aes_key: bytes) -> None:
    envelope = json.loads(payload(platform_key, aes_key))
    other = encrypt(json.dumps({**SUCCESS, "mobile": "13900000000"}).encode(), aes_key)
    tampered = json.dumps({**envelope, "response": other})
    with pytest.raises(InvalidPayload, match="signature"):
        open_it(tampered, platform_key, aes_key)


def test_tampered_signature_is_refused(platform_key: rsa.RSAPrivateKey, aes_key: bytes) -> None:
    envelope = json.loads(payload(platform_key, aes_key))
    raw = bytearray(base64.b64decode(envelope["sign"]))
    raw[10] ^= 0x01
    tampered = json.dumps({**envelope, "sign": base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(InvalidPayload, match="signature"):
        open_it(tampered, platform_key, aes_key)


def test_payload_signed_by_another_key_is_refused(
    platform_key: rsa.RSAPrivateKey, aes_key: bytes
) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidPayload, match="signature"):
        open_it(payload(impostor, aes_key), platform_key, aes_key)


def test_payload_for_another_aes_key_is_refused(
    platform_key: rsa.RSAPrivateKey, aes_key: bytes
) -> None:
    other_app_key = secrets.token_bytes(16)
    with pytest.raises(InvalidPayload, match="decrypt"):
        open_it(payload(platform_key, other_app_key), platform_key, aes_key)


def test_signature_over_the_unquoted_ciphertext_is_refused(
    platform_key: rsa.RSAPrivateKey, aes_key: bytes
) -> None:
    envelope = json.loads(payload(platform_key, aes_key))
    unquoted = json.dumps({**envelope, "sign": sign(platform_key, envelope["response"])})
    with pytest.raises(InvalidPayload, match="signature"):
        open_it(unquoted, platform_key, aes_key)


def test_refused_authorisation_is_refused(platform_key: rsa.RSAPrivateKey, aes_key: bytes) -> None:
    refused = {"code": "40003", "msg": "Insufficient Conditions", "subCode": "isv.invalid-auth"}
    with pytest.raises(InvalidPayload, match="40003"):
        open_it(payload(platform_key, aes_key, refused), platform_key, aes_key)


def test_plaintext_payload_is_refused_even_when_signed(
    platform_key: rsa.RSAPrivateKey, aes_key: bytes
) -> None:
    plain = json.dumps(SUCCESS)
    text = json.dumps({"response": plain, "sign": sign(platform_key, plain), "sign_type": "RSA2"})
    with pytest.raises(InvalidPayload, match="not encrypted"):
        open_it(text, platform_key, aes_key)


@pytest.mark.parametrize("override", [{"sign_type": "RSA"}, {"encrypt_type": "SM4"}])
def test_other_algorithms_are_refused(
    platform_key: rsa.RSAPrivateKey, aes_key: bytes, override: dict[str, str]
) -> None:
    with pytest.raises(InvalidPayload, match="must be"):
        open_it(payload(platform_key, aes_key, overrides=override), platform_key, aes_key)


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"response": "abc"}'])
def test_malformed_payload_is_refused(
    platform_key: rsa.RSAPrivateKey, aes_key: bytes, text: str
) -> None:
    with pytest.raises(InvalidPayload):
        open_it(text, platform_key, aes_key)


@pytest.fixture(scope="module")
def channel(platform_key: rsa.RSAPrivateKey, aes_key: bytes) -> AlipayChannel:
    platform_pem = (
        platform_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return AlipayChannel(
        "2021000000000001",
        generate_rsa_private_key_pem(),
        platform_pem,
        base64.b64encode(aes_key).decode(),
        "http://127.0.0.1:9/gateway.do",  # never dialled
    )


def test_adapter_verifies_the_response_field_to_a_phone(
    channel: AlipayChannel, platform_key: rsa.RSAPrivateKey, aes_key: bytes
) -> None:
    verified = channel.verify_phone({"response": payload(platform_key, aes_key)}, None)
    assert verified.phone == PHONE
    assert PHONE not in repr(verified)


@pytest.mark.parametrize(
    "proof", [{}, {"code": "x"}, {"response": "x", "sign": "y"}, {"encrypted_data": "x"}]
)
def test_adapter_refuses_a_proof_of_the_wrong_shape(
    channel: AlipayChannel, proof: dict[str, str]
) -> None:
    with pytest.raises(InvalidPayload, match="exactly"):
        channel.verify_phone(proof, None)

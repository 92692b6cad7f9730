"""The code token: only genuine, unexpired tokens of a listed key pass; nothing personal in it."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from miniapp_api.codes.tokens import (
    CodeClaims,
    ExpiredCodeToken,
    InvalidCodeToken,
    sign_code,
    verify_code,
)
from miniapp_api.settings import SigningKey

NOW = datetime(2022, 4, 10, 8, 0, tzinfo=UTC)


def new_key(kid: str) -> SigningKey:
    seed = secrets.token_bytes(32)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return SigningKey(kid, public.public_bytes(Encoding.Raw, PublicFormat.Raw), seed)


def verify_only(key: SigningKey) -> SigningKey:
    return SigningKey(key.kid, key.public_key)


def claims(expires_at: datetime = NOW + timedelta(days=30)) -> CodeClaims:
    return CodeClaims("c0dE-1d_xYz9", "张*明", expires_at)


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def flip_bit(token: str, segment: int, byte: int) -> str:
    """The token with one bit of one decoded segment flipped, re-encoded canonically."""
    parts = token.split(".")
    raw = bytearray(b64url_decode(parts[segment]))
    raw[byte % len(raw)] ^= 0x01
    parts[segment] = b64url_encode(bytes(raw))
    return ".".join(parts)


KEY = new_key("k1")


def test_a_signed_code_verifies_with_its_claims() -> None:
    token = sign_code(KEY, claims())
    found = verify_code(token, [KEY], NOW)
    assert found == CodeClaims("c0dE-1d_xYz9", "张*明", NOW + timedelta(days=30), "k1")


def test_the_same_claims_and_key_give_the_same_token() -> None:
    assert sign_code(KEY, claims()) == sign_code(KEY, claims())


def test_the_token_holds_the_key_id_and_masked_data_only() -> None:
    header, payload, _ = sign_code(KEY, claims()).split(".")
    assert json.loads(b64url_decode(header)) == {"alg": "EdDSA", "kid": "k1"}
    assert json.loads(b64url_decode(payload)) == {
        "jti": "c0dE-1d_xYz9",
        "exp": int((NOW + timedelta(days=30)).timestamp()),
        "n": "张*明",
    }  # not the ID's last four: they are the H5 lookup's second factor


@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
@pytest.mark.parametrize("byte", [0, 7, 20, -1])
def test_a_flipped_bit_anywhere_is_refused(segment: int, byte: int) -> None:
    tampered = flip_bit(sign_code(KEY, claims()), segment, byte)
    with pytest.raises(InvalidCodeToken):
        verify_code(tampered, [KEY], NOW)


def test_every_truncation_is_refused() -> None:
    token = sign_code(KEY, claims())
    for length in range(len(token)):
        with pytest.raises(InvalidCodeToken):
            verify_code(token[:length], [KEY], NOW)


def test_a_token_without_its_signature_is_refused() -> None:
    header, payload, _ = sign_code(KEY, claims()).split(".")
    for unsigned in (f"{header}.{payload}.", f"{header}.{payload}"):
        with pytest.raises(InvalidCodeToken):
            verify_code(unsigned, [KEY], NOW)


def test_an_unknown_key_id_is_refused() -> None:
    stranger = new_key("zz")
    with pytest.raises(InvalidCodeToken):
        verify_code(sign_code(stranger, claims()), [KEY], NOW)


def test_a_token_signed_by_another_key_under_our_key_id_is_refused() -> None:
    impostor = SigningKey("k1", KEY.public_key, new_key("k1").private_key)
    with pytest.raises(InvalidCodeToken):
        verify_code(sign_code(impostor, claims()), [KEY], NOW)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256"])
def test_another_algorithm_in_the_header_is_refused(alg: str) -> None:
    _, payload, signature = sign_code(KEY, claims()).split(".")
    header = b64url_encode(json.dumps({"alg": alg, "kid": "k1"}).encode())
    with pytest.raises(InvalidCodeToken):
        verify_code(f"{header}.{payload}.{signature}", [KEY], NOW)


def test_an_expired_token_is_refused_as_expired() -> None:
    token = sign_code(KEY, claims(expires_at=NOW))
    with pytest.raises(ExpiredCodeToken):
        verify_code(token, [KEY], NOW)
    assert verify_code(token, [KEY], NOW - timedelta(seconds=1)).code_id == "c0dE-1d_xYz9"


def test_a_code_of_a_retired_key_is_valid_while_the_key_is_listed() -> None:
    old, new = new_key("k1"), new_key("k2")
    in_album = sign_code(old, claims())
    rotated = [new, verify_only(old)]
    assert verify_code(in_album, rotated, NOW).kid == "k1"
    assert verify_code(sign_code(new, claims()), rotated, NOW).kid == "k2"
    with pytest.raises(InvalidCodeToken):
        verify_code(in_album, [new], NOW)


def test_garbage_is_refused() -> None:
    for junk in ("", "...", "not a token", "a.b.c", "eyJ9.eyJ9.AA", "张三.1234.x"):
        with pytest.raises(InvalidCodeToken):
            verify_code(junk, [KEY], NOW)

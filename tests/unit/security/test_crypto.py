"""Encryption at rest and blind indexes."""

from __future__ import annotations

import secrets

import pytest

from miniapp_api.security.crypto import DecryptionError, PersonalDataCrypto


@pytest.fixture
def crypto() -> PersonalDataCrypto:
    return PersonalDataCrypto(secrets.token_bytes(32), secrets.token_bytes(32))


def test_round_trip_with_a_fresh_nonce_each_time(crypto: PersonalDataCrypto) -> None:
    first = crypto.encrypt("resident.id_number", "310115199003071234")
    second = crypto.encrypt("resident.id_number", "310115199003071234")
    assert first != second
    assert b"310115199003071234" not in first
    assert crypto.decrypt("resident.id_number", first) == "310115199003071234"


def test_a_value_moved_to_another_column_does_not_decrypt(crypto: PersonalDataCrypto) -> None:
    blob = crypto.encrypt("resident.id_number", "310115199003071234")
    with pytest.raises(DecryptionError):
        crypto.decrypt("phone", blob)


def test_a_flipped_bit_does_not_decrypt(crypto: PersonalDataCrypto) -> None:
    blob = bytearray(crypto.encrypt("phone", "13812345678"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        crypto.decrypt("phone", bytes(blob))


def test_another_key_does_not_decrypt(crypto: PersonalDataCrypto) -> None:
    other = PersonalDataCrypto(secrets.token_bytes(32), secrets.token_bytes(32))
    with pytest.raises(DecryptionError):
        other.decrypt("phone", crypto.encrypt("phone", "13812345678"))


def test_blind_index_is_stable_keyed_and_purpose_bound(crypto: PersonalDataCrypto) -> None:
    other = PersonalDataCrypto(secrets.token_bytes(32), secrets.token_bytes(32))
    index = crypto.blind_index("phone", "13812345678")
    assert index == crypto.blind_index("phone", "13812345678")
    assert index != other.blind_index("phone", "13812345678")
    assert index != crypto.blind_index("resident.id_number", "13812345678")
    assert "13812345678" not in index

"""Key rotation in the crypto layer: key ids in ciphertexts, several keys to read, one to write,
blind indexes under every configured index key (README "Rotating keys")."""

from __future__ import annotations

import secrets

import pytest

from miniapp_api.security.crypto import DecryptionError, KeyRing, PersonalDataCrypto, key_id_of

K1, K2, I1, I2 = (secrets.token_bytes(32) for _ in range(4))


def test_a_single_key_is_key_1_and_each_ciphertext_names_its_key() -> None:
    before = PersonalDataCrypto(K1, I1)
    blob = before.encrypt("phone", "13812345678")
    assert blob[:2] == b"\x02\x01"  # format 2, key 1
    assert key_id_of(blob) == 1
    after = PersonalDataCrypto(KeyRing({1: K1, 2: K2}, 2), KeyRing({1: I1, 2: I2}, 2))
    new = after.encrypt("phone", "13812345678")
    assert key_id_of(new) == 2
    assert after.decrypt("phone", blob) == after.decrypt("phone", new) == "13812345678"
    assert (after.is_current(blob), after.is_current(new)) == (False, True)


def test_the_first_step_of_a_rollout_reads_the_new_key_and_writes_the_old() -> None:
    reading = PersonalDataCrypto(KeyRing({1: K1, 2: K2}, 1), I1)
    writing = PersonalDataCrypto(KeyRing({1: K1, 2: K2}, 2), I1)
    assert key_id_of(reading.encrypt("phone", "x")) == 1
    assert reading.decrypt("phone", writing.encrypt("phone", "x")) == "x"


def test_ciphertexts_of_before_key_ids_existed_are_read_with_key_1() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    legacy = b"\x01" + nonce + AESGCM(K1).encrypt(nonce, b"310115199003071234", b"resident.id")
    ring = PersonalDataCrypto(KeyRing({1: K1, 2: K2}, 2), I1)
    assert ring.decrypt("resident.id", legacy) == "310115199003071234"
    assert not ring.is_current(legacy)


def test_a_ciphertext_of_a_removed_key_says_which_key_is_missing() -> None:
    old = PersonalDataCrypto(K1, I1).encrypt("phone", "x")
    only_new = PersonalDataCrypto(KeyRing({2: K2}, 2), I2)
    with pytest.raises(DecryptionError, match="data key 1 is not configured"):
        only_new.decrypt("phone", old)


def test_a_ciphertext_whose_key_id_was_changed_does_not_decrypt() -> None:
    ring = PersonalDataCrypto(KeyRing({1: K1, 2: K2}, 2), I1)
    blob = bytearray(ring.encrypt("phone", "x"))
    blob[1] = 1
    with pytest.raises(DecryptionError, match="does not verify"):
        ring.decrypt("phone", bytes(blob))


def test_a_search_tries_every_index_key_the_current_first() -> None:
    old, new = PersonalDataCrypto(K1, I1), PersonalDataCrypto(K1, KeyRing({2: I2}, 2))
    both = PersonalDataCrypto(K1, KeyRing({1: I1, 2: I2}, 2))
    indexes = both.blind_indexes("resident.id_number", "cn_id:310115199003071234")
    assert indexes == [
        new.blind_index("resident.id_number", "cn_id:310115199003071234"),
        old.blind_index("resident.id_number", "cn_id:310115199003071234"),
    ]
    assert both.blind_index("resident.id_number", "cn_id:310115199003071234") == indexes[0]


@pytest.mark.parametrize(
    ("keys", "current", "problem"),
    [
        ({1: K1}, 2, "key 2 is to write but is not among the keys"),
        ({0: K1}, 0, "key ids are 1 to 255, not 0"),
        ({1: b"short"}, 1, "key 1 must be 32 bytes"),
    ],
)
def test_a_key_ring_that_cannot_work_is_refused(
    keys: dict[int, bytes], current: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        KeyRing(keys, current)

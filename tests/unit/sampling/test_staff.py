"""Staff passwords: argon2id hashes, and usernames as typed on a phone."""

from __future__ import annotations

from argon2 import PasswordHasher

from miniapp_api.sampling.staff import hash_password, normalize_username


def test_passwords_are_hashed_with_argon2id_and_a_salt() -> None:
    first, second = hash_password("swab-and-scan"), hash_password("swab-and-scan")
    assert first.startswith("$argon2id$")
    assert first != second
    assert PasswordHasher().verify(first, "swab-and-scan")


def test_usernames_ignore_case_and_surrounding_spaces() -> None:
    assert normalize_username("  Li.Na ") == "li.na"

"""AES-GCM encryption of personal data at rest and keyed blind indexes to find it."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value does not decrypt with our key (wrong key, tampering, wrong column)."""


class PersonalDataCrypto:
    """Encrypts fields with a random nonce; indexes them with HMAC-SHA256.

    ``purpose`` (e.g. ``"resident.id_number"``) is bound into both: a ciphertext moved to
    another column fails to decrypt, and equal values in different columns index differently.
    """

    def __init__(self, data_key: bytes, index_key: bytes) -> None:
        if len(data_key) != 32 or len(index_key) != 32:
            raise ValueError("data and index keys must be 32 bytes")
        self._aead = AESGCM(data_key)
        self._index_key = index_key

    def encrypt(self, purpose: str, plaintext: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), purpose.encode())
        return _VERSION + nonce + sealed

    def decrypt(self, purpose: str, blob: bytes) -> str:
        if blob[:1] != _VERSION:
            raise DecryptionError("unknown ciphertext version")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, purpose.encode()).decode()
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not verify") from exc

    def blind_index(self, purpose: str, normalized: str) -> str:
        message = purpose.encode() + b"\x00" + normalized.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

"""AES-GCM encryption of personal data at rest and keyed blind indexes to find it.

Both keys rotate (``miniapp keys rotate``, README "Rotating keys"): each configured key has an
id from 1 to 255, a :class:`KeyRing` holds every key still needed to read and the id of the one
new writes use.

- A ciphertext names its key: ``0x02``, the key id, the nonce, the sealed text. ``0x01`` (no
  id) is the format before rotation existed, read with key 1.
- A blind index does not name its key (the 64 hex digits fill the column): a search computes it
  under every configured index key (:meth:`PersonalDataCrypto.blind_indexes`) and the rotation
  recomputes each stored one from the decrypted value.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from miniapp_api.settings import LEGACY_KEY_ID, KeyRing

__all__ = ["DecryptionError", "KeyRing", "PersonalDataCrypto", "key_id_of"]

_UNNAMED_KEY = b"\x01"  # version 1: no key id, key 1
_NAMED_KEY = b"\x02"  # version 2: a key id byte follows
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value does not decrypt with our keys (a key no longer configured, tampering,
    wrong column)."""


class PersonalDataCrypto:
    """Encrypts fields with a random nonce; indexes them with HMAC-SHA256.

    ``purpose`` (e.g. ``"resident.id_number"``) is bound into both: a ciphertext moved to
    another column fails to decrypt, and equal values in different columns index differently.
    """

    def __init__(self, data_keys: KeyRing | bytes, index_keys: KeyRing | bytes) -> None:
        self.data_keys = data_keys if isinstance(data_keys, KeyRing) else KeyRing.single(data_keys)
        self.index_keys = (
            index_keys if isinstance(index_keys, KeyRing) else KeyRing.single(index_keys)
        )
        self._aeads = {key_id: AESGCM(key) for key_id, key in self.data_keys.keys.items()}
        self._writer = _NAMED_KEY + bytes([self.data_keys.current])
        # The index keys in the order a search tries them: the current one first.
        self._index_order = [self.index_keys.current, *self.index_keys.others()]

    def encrypt(self, purpose: str, plaintext: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        aead = self._aeads[self.data_keys.current]
        return self._writer + nonce + aead.encrypt(nonce, plaintext.encode(), purpose.encode())

    def decrypt(self, purpose: str, blob: bytes) -> str:
        key_id = key_id_of(blob)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise DecryptionError(f"data key {key_id} is not configured")
        body = blob[1:] if blob[:1] == _UNNAMED_KEY else blob[2:]
        nonce, sealed = body[:_NONCE_BYTES], body[_NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, sealed, purpose.encode()).decode()
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not verify") from exc

    def is_current(self, blob: bytes) -> bool:
        """Whether ``blob`` is written with the current data key (rotation skips it)."""
        return blob[:2] == self._writer

    def blind_index(self, purpose: str, normalized: str) -> str:
        """The index new rows store: under the current index key."""
        return _index(self.index_keys.current_key, purpose, normalized)

    def blind_indexes(self, purpose: str, normalized: str) -> list[str]:
        """The index under every configured key, the current one first: what a search looks
        for while a rotation is under way."""
        keys = self.index_keys.keys
        return [_index(keys[key_id], purpose, normalized) for key_id in self._index_order]


def key_id_of(blob: bytes) -> int:
    """The id of the data key ``blob`` was written with."""
    if blob[:1] == _UNNAMED_KEY:
        return LEGACY_KEY_ID
    if blob[:1] == _NAMED_KEY and len(blob) > 1:
        return blob[1]
    raise DecryptionError("unknown ciphertext version")


def _index(key: bytes, purpose: str, normalized: str) -> str:
    message = purpose.encode() + b"\x00" + normalized.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()

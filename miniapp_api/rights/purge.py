"""Account deletion, the Redis side: everything kept in Redis for the deleted account and the
residents it took with it (``miniapp_api/privacy/redis_keys.py`` lists every family).

Run after the database transaction of :func:`miniapp_api.rights.deletion.delete_account`
committed, with what it returned. Family by family:

* ``session``, ``adm`` (the account's quota and export budget), ``view``, ``links``: all keys
  of an account share its ``{<account id>}`` hash tag (``sessions.py``, ``accountview.py``),
  so one ``SCAN`` for ``*{<account id>}*`` finds them, whatever family a later change adds
  there. Every session is ended first, at once, by moving the account's session epoch; the
  epoch key goes last, after the session keys it guards. Deleting the links generation
  makes a fill still in flight find no generation, so it writes nothing back.
* ``results``: the read model of the removed residents (hash and watchers) is deleted; the
  account is taken off the watchers of the residents that stay (held by other accounts).
* ``qr``: the images of the removed residents' codes, found by signing each code again
  (Ed25519 is deterministic: the same row gives the same token, ``codes/service.py``).
* ``h5``: the H5 lookup's budget and failure count of each removed code.
* ``realname``: a pending real-name check is keyed by the platform's certify id, which we do
  not keep; its value is a keyed hash of (account id, ID number, name) that names nobody
  without our index key, can no longer be used (it is bound to the deleted account), and
  expires within 23 hours. Left to expire.
* ``staff``, ``failed``, ``names``, ``labnonce``, ``overload``, ``wechat``: never hold a
  resident or an account.

The ``SCAN`` walks the whole keyspace (``COUNT`` 1,000 per call, each a short step for Redis):
about a second of Redis time per million keys, for a request that is rare.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import redis

from miniapp_api.codes.tokens import CodeClaims, short_masked_name, sign_code
from miniapp_api.db import as_utc
from miniapp_api.lookup.limits import code_key, failures_key
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.rights.deletion import Deletion, IssuedCodeRef
from miniapp_api.sessions import SessionStore
from miniapp_api.settings import CodeSettings, SigningKey

log = logging.getLogger(__name__)

SCAN_COUNT = 1000


@dataclass(frozen=True)
class Purged:
    keys: int  # keys deleted (not counting watcher entries removed)


def purge_redis(
    client: redis.Redis,
    deletion: Deletion,
    *,
    sessions: SessionStore,
    readmodel: ResultReadModel,
    codes: CodeSettings,
) -> Purged:
    """Delete what Redis keeps of the deleted account and its removed residents."""
    account = deletion.account_id
    sessions.revoke_all(account)
    epoch = sessions.epoch_key(account)
    slot = [
        key
        for key in client.scan_iter(match=f"*{{{account}}}*", count=SCAN_COUNT)
        if _text(key) != epoch
    ]
    deleted = _delete_each(client, slot)
    deleted += _delete_each(client, [epoch])
    readmodel.forget_residents(deletion.removed_residents)
    readmodel.stop_watching(account, deletion.kept_residents)
    deleted += _delete_each(
        client, [key for ref in deletion.codes for key in _code_keys(ref, codes)]
    )
    return Purged(deleted)


def _code_keys(ref: IssuedCodeRef, codes: CodeSettings) -> list[str]:
    """The keys a code has in Redis: its image (if a key that can sign it is configured), its
    H5 lookup budget and failure count."""
    keys = [code_key(ref.code_id), failures_key(ref.code_id)]
    signer = _signer(codes, ref.kid)
    if signer is not None:
        claims = CodeClaims(
            code_id=ref.code_id,
            name_masked=short_masked_name(ref.name_masked),
            expires_at=as_utc(ref.expires_at),
            kid=signer.kid,
        )
        token = sign_code(signer, claims)
        # The shape of codes/images.py's key.
        keys.append(f"qr:{{{hashlib.sha256(token.encode()).hexdigest()[:32]}}}:png")
    return keys


def _signer(codes: CodeSettings, kid: str) -> SigningKey | None:
    """The key that signs this code's token when shown (``codes/service.py``'s ``_key_for``):
    its own while its private half is configured, else today's."""
    if not codes.keys:
        return None
    return next((k for k in codes.keys if k.kid == kid and k.private_key), codes.signing_key)


def _delete_each(client: redis.Redis, keys: list[str]) -> int:
    """One DEL per key in one pipeline (keys of many slots: fine on Redis Cluster too)."""
    if not keys:
        return 0
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.delete(key)
    return sum(int(n) for n in pipe.execute())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

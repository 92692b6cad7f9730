"""Which residents an account holds (self first, then dependents), as lookups need it.

The result lookup (``GET /api/v1/results``, the busiest route on a bad morning) needs the
residents an account holds before it can read their results. Reading that from the database
was two thirds of a lookup's time; a Redis copy per account ("links"), filled from the database
(one indexed, read-only query) when missing, makes a lookup touch no database at all, and
lookups keep working while the database is saturated.

When an operator switches on ``cache_only`` (the database must be spared), a lookup whose copy
is missing does not query the database: it is refused with
:class:`~miniapp_api.overload.rejection.Rejected` (the 503 overload contract). The mode is read
from Redis on that miss only, so the usual lookup pays nothing for it.

The copy must not outlive a change of links (a removed dependent's results must not stay
visible): whoever changes links calls :func:`forget_links` after the commit, and the copy
expires after :data:`LINKS_TTL_SECONDS` anyway. A fill racing with a change cannot put the old
links back: each change moves the account's generation, and a fill is written only if the
generation it read before querying the database is still current (``accountview.py``).

The copy, its generation and the account view (``miniapp_api/accountview.py``) share the
account's slot; the admission gate reads them with the session, and :func:`holdings` takes
that snapshot instead of a round trip of its own. :func:`holder_accounts` names the accounts
whose views a change to some residents concerns.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Collection, Iterable
from dataclasses import astuple, dataclass

import redis
from sqlalchemy import String, any_, select
from sqlalchemy.orm import Session

from miniapp_api.accountview import (
    AccountViews,
    ViewSnapshot,
    forget,
    generation_key,
    links_key,
)
from miniapp_api.dialects import array_param, is_postgresql
from miniapp_api.errors import Unauthorized
from miniapp_api.overload.controls import load_modes
from miniapp_api.overload.rejection import Rejected, Rejection
from miniapp_api.residents.models import Account, AccountResident, Relation, Resident

log = logging.getLogger(__name__)

# Bounds how stale a copy can be should a change not call forget_links (or Redis fail then).
LINKS_TTL_SECONDS = 120
_SQLITE_BATCH = 5_000  # SQLite allows 32,766 parameters in a statement
# KEYS: links, generation; ARGV: generation seen before the database read, links, TTL.
_FILL_UNLESS_FORGOTTEN = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 0
"""


@dataclass(frozen=True)
class Holding:
    """A resident the account holds, as the lookup shows it."""

    resident_id: str
    relation: str
    name_masked: str


def holdings(
    session: Session,
    client: redis.Redis,
    account_id: str,
    seen: ViewSnapshot | None = None,
    *,
    before_database: Callable[[], None] | None = None,
) -> list[Holding]:
    """Self first, then dependents in the order added; 401 if the account is gone.

    From the Redis copy when there is one (in ``seen``, the account's snapshot read with the
    session, if given), else from the database (read-only), then cached; :class:`Rejected`
    (``cache_only``) instead of the database while ``cache_only`` is on. ``before_database``
    runs just before the database is read and may refuse (results: a withdrawn consent). It
    guards every copy: a copy is filled only after it passed, under the generation read
    before it, and whatever makes it refuse must drop the copy (``forget_links``).
    """
    if seen is None or seen.account_id != account_id:
        seen = AccountViews(client).snapshot(account_id, ())
    if seen.links is not None:
        return [Holding(*entry) for entry in json.loads(seen.links)]
    if load_modes(client).cache_only:
        raise Rejected(Rejection(503, "cache_only", 5.0))
    if before_database is not None:
        before_database()
    held = _holdings_from_database(session, account_id)
    encoded = json.dumps([astuple(h) for h in held], ensure_ascii=False)
    client.register_script(_FILL_UNLESS_FORGOTTEN)(
        keys=[links_key(account_id), generation_key(account_id)],
        # Jittered, so copies filled together (a morning's first lookups) do not all expire
        # in the same second and send their accounts to the database at once.
        args=[seen.generation, encoded, round(LINKS_TTL_SECONDS * random.uniform(0.8, 1))],
    )
    return held


def forget_links(client: redis.Redis, account_ids: Iterable[str]) -> None:
    """Drop the cached links of ``account_ids``.

    Call after committing any change to the residents an account holds or to their masked
    names (dependent added or removed, profile declared or corrected, account deleted), for
    every account holding the residents concerned. If Redis is unreachable the copies expire
    within :data:`LINKS_TTL_SECONDS`.
    """
    forget(client, account_ids)  # the whole view: it shows the links


def _holdings_from_database(session: Session, account_id: str) -> list[Holding]:
    rows = session.execute(
        select(AccountResident.relation, Resident.public_id, Resident.name_masked)
        .select_from(Account)
        .outerjoin(AccountResident, AccountResident.account_id == Account.id)
        .outerjoin(Resident, Resident.id == AccountResident.resident_id)
        .where(Account.public_id == account_id)
        .order_by(AccountResident.id)
    ).all()
    session.rollback()  # read-only; hand the connection back before the next Redis call
    if not rows:
        raise Unauthorized("This login no longer exists; log in again.")
    held = [Holding(r.public_id, r.relation, r.name_masked) for r in rows if r.public_id]
    return sorted(held, key=lambda h: h.relation != Relation.SELF)


def holder_accounts(session: Session, resident_ids: Collection[str]) -> set[str]:
    """The public ids of the accounts holding any of these residents (by public id).

    One indexed query (a batch of SQLite parameters at a time on the embedded default).
    """
    wanted = sorted(set(resident_ids))
    if not wanted:
        return set()
    query = (
        select(Account.public_id)
        .join(AccountResident, AccountResident.account_id == Account.id)
        .join(Resident, Resident.id == AccountResident.resident_id)
        .distinct()
    )
    if is_postgresql(session):
        ids = array_param("resident_ids", wanted, String())
        return set(session.scalars(query.where(Resident.public_id == any_(ids))))
    found: set[str] = set()
    for start in range(0, len(wanted), _SQLITE_BATCH):
        batch = wanted[start : start + _SQLITE_BATCH]
        found.update(session.scalars(query.where(Resident.public_id.in_(batch))))
    return found

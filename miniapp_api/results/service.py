"""Results use cases: the lookup residents make, and rebuilding its Redis read model.

The lookup never writes to the database. It needs which residents the account holds (its
"links") and their results: the results come from the Redis read model in one pipelined round
trip; the links from a Redis copy, filled from the database (one indexed, read-only query)
when missing. With the copy, a lookup touches no database at all (measured: the links query
was two thirds of a lookup's time), and lookups keep working while the database is saturated.

When an operator switches on ``cache_only`` (the database must be spared), a lookup whose links
copy is missing does not query the database: it is refused with :class:`Rejected` (rendered
as the 503 overload contract). The mode is read from Redis on that miss only, so the usual
lookup pays nothing for it.

The copy must not outlive a change of links (a removed dependent's results must not stay
visible): whoever changes links calls :func:`forget_links` after the commit, and the copy
expires after :data:`LINKS_TTL_SECONDS` anyway. A fill racing with a change cannot put the old
links back: each change bumps a generation, and a fill is written only if the generation it
read before querying the database is still current.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.auth.models import Account
from miniapp_api.db import as_utc
from miniapp_api.errors import ServiceUnavailable, Unauthorized
from miniapp_api.overload.controls import load_modes
from miniapp_api.overload.rejection import Rejected, Rejection
from miniapp_api.redis_client import REDIS_ERRORS
from miniapp_api.residents.models import AccountResident, Relation, Resident
from miniapp_api.results.models import PersonResult
from miniapp_api.results.readmodel import ResultEntry, ResultReadModel
from miniapp_api.results.schemas import ResidentResultsOut, ResultOut, ResultsOut
from miniapp_api.sampling.models import Sampling, ScreeningRound, Site, Tube
from miniapp_api.settings import ResultSettings

log = logging.getLogger(__name__)

# Bounds how stale a copy can be should a change not call forget_links (or Redis fail then).
LINKS_TTL_SECONDS = 120
_GENERATION_TTL_SECONDS = 86_400
# KEYS: links, generation; ARGV: generation seen before the database read, links, TTL.
_FILL_UNLESS_FORGOTTEN = """
if (redis.call('GET', KEYS[2]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 0
"""

OVERDUE_GUIDANCE = (
    "No result yet, more than {hours} hours after sampling. Please ask the sampling site "
    "({site}) about your sample; you may need to be sampled again."
)
GUIDANCE = {
    "positive": "Your sample tested positive. Stay where you are; health staff will contact "
    "you. Follow their instructions.",
    "retest_required": "Your pooled tube tested positive, which does not mean you are. Stay "
    "where you are and wait for a single-tube re-test; staff will contact you.",
    "invalid": "Your sample could not be tested. Please get sampled again at any sampling site.",
}


@dataclass(frozen=True)
class Holding:
    """A resident the account holds, as the lookup shows it."""

    resident_id: str
    relation: str
    name_masked: str


def lookup(
    session: Session,
    client: redis.Redis,
    settings: ResultSettings,
    account_id: str,
    now: datetime,
) -> ResultsOut:
    """Latest result and history of self and each dependent.

    An unreachable Redis propagates: the app answers with the overload contract (503, what
    works instead), as for every path that needs Redis.
    """
    held = holdings(session, client, account_id)
    found = read_results(client, [h.resident_id for h in held])
    overdue_after = timedelta(hours=settings.overdue_hours)
    residents = []
    for h in held:
        shown = [result_out(e, now, overdue_after) for e in found.get(h.resident_id, [])]
        residents.append(
            ResidentResultsOut(
                id=h.resident_id,
                relation=Relation(h.relation).value,
                name_masked=h.name_masked,
                latest=shown[0] if shown else None,
                history=shown[1:],
            )
        )
    return ResultsOut(residents=residents)


def result_out(entry: ResultEntry, now: datetime, overdue_after: timedelta) -> ResultOut:
    overdue = entry.state == "pending" and now - entry.sampled_at > overdue_after
    if overdue:
        hours = int(overdue_after.total_seconds() // 3600)
        guidance: str | None = OVERDUE_GUIDANCE.format(hours=hours, site=entry.site_name)
    else:
        guidance = GUIDANCE.get(entry.state)
    return ResultOut(
        state=entry.state,  # type: ignore[arg-type]  # written by fan-out and sampling only
        tube_no=entry.tube_no,
        round=entry.round_name,
        site=entry.site_name,
        sampled_at=entry.sampled_at,
        tested_at=entry.tested_at,
        overdue=overdue,
        guidance=guidance,
    )


def read_results(client: redis.Redis, resident_ids: list[str]) -> dict[str, list[ResultEntry]]:
    """The read model's entries of these residents; 503 if they cannot be read."""
    try:
        return ResultReadModel(client).read(resident_ids)
    except ValueError:
        # Unreadable entries (e.g. the names map was lost in a failover): the database still
        # has everything; operators refill Redis from it.
        log.error("result read model unreadable; run `miniapp readmodel rebuild`")
        raise ServiceUnavailable.retry_later(
            "Results cannot be shown right now. Your result will also be pushed to you when "
            "it arrives; try again shortly.",
            code="results_unavailable",
            base_seconds=5.0,
        ) from None


# --- which residents an account holds, cached in Redis ----------------------------------------


def holdings(session: Session, client: redis.Redis, account_id: str) -> list[Holding]:
    """Self first, then dependents in the order added; 401 if the account is gone.

    From the Redis copy when there is one, else from the database (read-only), then cached;
    :class:`Rejected` (``cache_only``) instead of the database while ``cache_only`` is on.
    """
    links, generation = _links_key(account_id), _generation_key(account_id)
    pipe = client.pipeline(transaction=False)
    pipe.get(links)
    pipe.get(generation)
    cached, seen_generation = pipe.execute()
    if cached is not None:
        return [Holding(*entry) for entry in json.loads(cached)]
    if load_modes(client).cache_only:
        raise Rejected(Rejection(503, "cache_only", 5.0))
    held = _holdings_from_database(session, account_id)
    encoded = json.dumps([astuple(h) for h in held], ensure_ascii=False)
    client.register_script(_FILL_UNLESS_FORGOTTEN)(
        keys=[links, generation],
        # Jittered, so copies filled together (a morning's first lookups) do not all expire
        # in the same second and send their accounts to the database at once.
        args=[seen_generation or b"0", encoded, round(LINKS_TTL_SECONDS * random.uniform(0.8, 1))],
    )
    return held


def forget_links(client: redis.Redis, account_ids: Iterable[str]) -> None:
    """Drop the cached links of ``account_ids``.

    Call after committing any change to the residents an account holds or to their masked
    names (dependent added or removed, profile declared or corrected, account deleted), for
    every account holding the residents concerned. If Redis is unreachable the copies expire
    within :data:`LINKS_TTL_SECONDS`.
    """
    pipe = client.pipeline(transaction=False)
    for account_id in account_ids:
        pipe.incr(_generation_key(account_id))
        pipe.expire(_generation_key(account_id), _GENERATION_TTL_SECONDS)
        pipe.delete(_links_key(account_id))
    try:
        pipe.execute()
    except REDIS_ERRORS:
        log.warning("could not drop cached account links; they expire on their own")


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


def _links_key(account_id: str) -> str:
    return f"links:{{{account_id}}}"


def _generation_key(account_id: str) -> str:
    return f"links:{{{account_id}}}:generation"


# --- rebuild ---------------------------------------------------------------------------------


def rebuild_read_model(session: Session, readmodel: ResultReadModel, batch_size: int) -> int:
    """Write every sampling's entry from the database into Redis, in batches; returns how many.

    Entries are overwritten, not cleared first, so lookups keep working during a rebuild. An
    ingest committing while a batch is in flight could have its fresh entry overwritten by
    the older one read here, so each batch's states are read again after writing it and the
    ones that changed are written once more (the ingest's own write comes after its commit).
    """
    after, total = 0, 0
    while True:
        rows = session.execute(_entries_after(after, batch_size)).all()
        session.rollback()
        if not rows:
            return total
        readmodel.record(_entries(rows))
        first, after = rows[0].sampling_id, rows[-1].sampling_id
        states = _states(session, first, after)
        changed = [
            r for r in rows if states.get(r.sampling_id, (None, None)) != (r.state, r.tested_at)
        ]
        if changed:
            fresh = session.execute(_entries_of([r.sampling_id for r in changed])).all()
            readmodel.record(_entries(fresh))
        session.rollback()
        total += len(rows)


def _entry_query() -> Any:
    return (
        select(
            Sampling.id.label("sampling_id"),
            Resident.public_id.label("resident_id"),
            Tube.tube_no,
            ScreeningRound.name.label("round_name"),
            Site.name.label("site_name"),
            Sampling.scanned_at,
            PersonResult.state,
            PersonResult.tested_at,
        )
        .join(Resident, Resident.id == Sampling.resident_id)
        .join(Tube, Tube.id == Sampling.tube_id)
        .join(ScreeningRound, ScreeningRound.id == Sampling.round_id)
        .join(Site, Site.id == Sampling.site_id)
        .outerjoin(PersonResult, PersonResult.sampling_id == Sampling.id)
    )


def _entries_after(after: int, limit: int) -> Any:
    return _entry_query().where(Sampling.id > after).order_by(Sampling.id).limit(limit)


def _entries_of(sampling_ids: list[int]) -> Any:
    return _entry_query().where(Sampling.id.in_(sampling_ids))


def _states(session: Session, first: int, last: int) -> dict[int, tuple[str | None, Any]]:
    query = select(PersonResult.sampling_id, PersonResult.state, PersonResult.tested_at).where(
        PersonResult.sampling_id.between(first, last)
    )
    return {r.sampling_id: (r.state, r.tested_at) for r in session.execute(query)}


def _entries(rows: Iterable[Any]) -> list[tuple[str, ResultEntry]]:
    return [
        (
            r.resident_id,
            ResultEntry(
                tube_no=r.tube_no,
                round_name=r.round_name,
                site_name=r.site_name,
                sampled_at=as_utc(r.scanned_at),
                state=r.state or "pending",
                tested_at=as_utc(r.tested_at) if r.tested_at is not None else None,
            ),
        )
        for r in rows
    ]

"""What residents see of results: every sampling of the people an account holds, with guidance.

Lookups never write to the database. Their answer is kept in the account view
(``miniapp_api/accountview.py``) and sent from there while it is valid; when it is not, it is
built from the residents an account holds (their Redis copy, ``residents/holdings.py``) and the
Redis read model (``miniapp_api/readmodel.py``), and kept again. The database is read only to
fill a missing holdings copy.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from sqlalchemy.orm import Session

from miniapp_api.accountview import ViewSnapshot
from miniapp_api.errors import ServiceUnavailable
from miniapp_api.messages import DEFAULT, Language, guidance_code, guidance_text
from miniapp_api.readmodel import ResultEntry, ResultReadModel
from miniapp_api.residents import consents
from miniapp_api.residents.holdings import holdings
from miniapp_api.residents.models import Relation
from miniapp_api.results.schemas import ResidentResultsOut, ResultOut, ResultsOut
from miniapp_api.settings import ResultSettings

log = logging.getLogger(__name__)


def account_results(
    session: Session,
    account_id: str,
    *,
    client: redis.Redis,
    readmodel: ResultReadModel,
    settings: ResultSettings,
    now: datetime,
    seen: ViewSnapshot | None = None,
    language: Language = DEFAULT,
) -> ResultsOut:
    """Latest result and history of self and each dependent of the account (``seen``: the
    account's snapshot, read with the session, if there is one), guidance in ``language``.

    An unreachable Redis propagates: the app answers with the overload contract (503, what
    works instead), as for every path that needs Redis. While a required consent is withdrawn,
    409 ``consent_required``: checked only when the account's links copy must be read from the
    database, since a withdrawal drops that copy (``residents/consents.py``); a screen built
    from the copy sends no SQL.
    """
    held = holdings(
        session,
        client,
        account_id,
        seen,
        before_database=lambda: consents.refuse_if_withdrawn(session, account_id),
    )
    # The account watches its residents: this answer is kept in its view (accountview.py).
    found = read_results(readmodel, [h.resident_id for h in held], watcher=account_id)
    overdue_after = timedelta(hours=settings.overdue_hours)
    residents = []
    for h in held:
        entries = found.get(h.resident_id, [])
        shown = [result_out(e, now, overdue_after, language) for e in entries]
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


def valid_until(out: ResultsOut, settings: ResultSettings, now: datetime) -> datetime:
    """Until when ``out`` stays right if nothing changes: the first moment a pending result
    turns overdue (its guidance changes then), else a day on (the view expires long before)."""
    overdue_after = timedelta(hours=settings.overdue_hours)
    turns = [
        shown.sampled_at + overdue_after
        for person in out.residents
        for shown in ([person.latest] if person.latest else []) + person.history
        if shown.state == "pending" and not shown.overdue
    ]
    return min(turns, default=now + timedelta(days=1))


def result_out(
    entry: ResultEntry, now: datetime, overdue_after: timedelta, language: Language = DEFAULT
) -> ResultOut:
    """One entry as shown, its guidance (if any) in ``language``."""
    overdue = entry.state == "pending" and now - entry.sampled_at > overdue_after
    code = guidance_code(entry.state, overdue=overdue)
    guidance = None
    if code is not None:
        hours = int(overdue_after.total_seconds() // 3600)
        guidance = guidance_text(code, language, hours=hours, site=entry.site_name)
    return ResultOut(
        state=entry.state,  # type: ignore[arg-type]  # written by fan-out and sampling only
        tube_no=entry.tube_no,
        round=entry.round_name,
        site=entry.site_name,
        sampled_at=entry.sampled_at,
        tested_at=entry.tested_at,
        overdue=overdue,
        guidance_code=code,
        guidance=guidance,
    )


def read_results(
    readmodel: ResultReadModel, resident_ids: list[str], watcher: str | None = None
) -> dict[str, list[ResultEntry]]:
    """The read model's entries of these residents (``watcher``: see
    :meth:`ResultReadModel.read`); 503 if they cannot be read."""
    try:
        return readmodel.read(resident_ids, watcher)
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

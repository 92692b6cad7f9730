"""Reviewer login and sandbox resets (no Flask): the use cases of review mode."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.accountview import forget
from miniapp_api.audit import service as audit
from miniapp_api.auth.schemas import LoginOut
from miniapp_api.errors import Unauthorized
from miniapp_api.overload.rejection import Rejected, Rejection
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.residents.accounts import REVIEW_PLATFORM, account_out, resident_out, self_link
from miniapp_api.residents.models import Account
from miniapp_api.review import sandbox
from miniapp_api.review.accounts import Reviewer, check_password
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.security.passwords import FailedLogins
from miniapp_api.sessions import SessionStore

REFUSED = "Reviewer name or password is not right."


def login(
    session: Session,
    name: str,
    password: str,
    *,
    reviewers: Mapping[str, Reviewer],
    failures: FailedLogins,
    address: str,
    crypto: PersonalDataCrypto,
    readmodel: ResultReadModel,
    client: redis.Redis,
    sessions: SessionStore,
    now: datetime,
    request_id: str,
) -> LoginOut:
    """Check the password, reset the reviewer's sandbox, open an ordinary session on it.

    Past too many wrong passwords for the name or from the caller's network, 429
    ``too_many_failures`` before any hash; a wrong name or password alike: 401.
    """
    wait = failures.refused(name, address)
    if wait:
        raise Rejected(Rejection(429, "too_many_failures", float(wait)))
    if not check_password(reviewers, name, password):
        failures.failed(name, address)
        raise Unauthorized(REFUSED, code="invalid_credentials")
    failures.succeeded(name, address)
    with session.begin():
        account = sandbox.reviewer_account(session, name)
        made = sandbox.reset(session, account, crypto=crypto, now=now)
        audit.record(
            session,
            actor_kind=audit.ActorKind.REVIEWER,
            actor=name,
            action="review.login",
            object=f"account:{account.public_id}",
            request_id=request_id,
            at=now,
        )
        link = self_link(session, account)
        me = resident_out(link.resident, link) if link else None
        out = account_out(account)
    publish(made, readmodel=readmodel, client=client)
    token = sessions.create(out.id, REVIEW_PLATFORM)
    return LoginOut(token=token, expires_in=sessions.ttl_seconds, account=out, self=me)


def reset_sandboxes(
    session: Session,
    names: list[str] | None,
    *,
    crypto: PersonalDataCrypto,
    readmodel: ResultReadModel,
    client: redis.Redis,
    now: datetime,
) -> list[str]:
    """Reset the sandboxes of ``names`` (every reviewer who has logged in, if ``None``); the
    names reset. Sessions stay valid: they simply see the fresh sandbox."""
    with session.begin():
        query = select(Account).where(Account.platform == REVIEW_PLATFORM)
        if names is not None:
            query = query.where(Account.subject.in_(names))
        accounts = list(session.scalars(query))
        resets = [sandbox.reset(session, account, crypto=crypto, now=now) for account in accounts]
        for account in accounts:
            audit.record(
                session,
                actor_kind=audit.ActorKind.SYSTEM,
                actor="miniapp review reset",
                action="review.reset",
                object=f"account:{account.public_id}",
                at=now,
            )
    for made in resets:
        publish(made, readmodel=readmodel, client=client)
    return [account.subject for account in accounts]


def publish(made: sandbox.Sandbox, *, readmodel: ResultReadModel, client: redis.Redis) -> None:
    """After the commit: the sandbox's results into the read model, the old ones out, and the
    account's kept screens and links copy dropped."""
    readmodel.clear(list(made.dropped))
    readmodel.record(made.results)
    forget(client, [made.account_id])

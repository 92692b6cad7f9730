"""Login: exchange the platform code on the server, keep the account, issue our session token."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels.base import LoginChannel, LoginIdentity
from miniapp_api.auth.schemas import LoginOut
from miniapp_api.db import utcnow
from miniapp_api.residents.accounts import account_out, resident_out, self_link
from miniapp_api.residents.models import Account
from miniapp_api.residents.records import SESSION_KEY_PURPOSE
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.sessions import SessionStore


def login(
    session: Session,
    code: str,
    *,
    channel: LoginChannel,
    crypto: PersonalDataCrypto,
    sessions: SessionStore,
) -> LoginOut:
    """Trade a login code for our session. Platform errors propagate as ``ChannelError``."""
    # The platform call comes first and outside any transaction: a slow platform must not hold
    # a database connection or a lock.
    identity = channel.exchange_code(code)
    with session.begin():
        account = _account_for(session, identity)
        account.unionid = identity.unionid or account.unionid
        if identity.session_key:
            account.session_key_enc = crypto.encrypt(SESSION_KEY_PURPOSE, identity.session_key)
        account.last_login_at = utcnow()
        link = self_link(session, account)
        me = resident_out(link.resident, link) if link else None
        out = account_out(account)
    token = sessions.create(out.id, out.platform)
    return LoginOut(token=token, expires_in=sessions.ttl_seconds, account=out, self=me)


def _account_for(session: Session, identity: LoginIdentity) -> Account:
    """The account of this platform identity, created on first login (race-safe)."""
    query = select(Account).where(
        Account.platform == identity.platform.value,
        Account.app_id == identity.app_id,
        Account.subject == identity.subject,
    )
    account = session.scalars(query).one_or_none()
    if account is not None:
        return account
    try:
        with session.begin_nested():
            account = Account(
                platform=identity.platform.value, app_id=identity.app_id, subject=identity.subject
            )
            session.add(account)
        return account
    except IntegrityError:
        # A concurrent first login of the same user created it a moment ago.
        return session.scalars(query).one()


def logout(sessions: SessionStore, token: str) -> None:
    sessions.revoke(token)

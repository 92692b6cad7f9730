"""Use cases of registration codes: show the live code (issuing it when needed), re-issue it.

The token is never stored. A code row keeps its random id, expiry and key id; the token is
signed again from those and the resident's masked data whenever it is shown. Ed25519 is
deterministic, so the same row gives the same token.

Writers of a resident's codes take a row lock on the resident (``FOR NO KEY UPDATE``: foreign
key checks of other tables are not blocked), so concurrent re-issues queue up and each voids
the one before. The partial unique index keeps one live code even where no lock is taken
(SQLite); a writer that still loses there gets an ``IntegrityError`` and starts over.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from miniapp_api.accountview import code_fields, forget
from miniapp_api.codes.models import RegistrationCode
from miniapp_api.codes.tokens import CodeClaims, short_masked_name, sign_code
from miniapp_api.db import as_utc
from miniapp_api.residents.accounts import load_account, resident_for_account
from miniapp_api.residents.holdings import holder_accounts
from miniapp_api.residents.models import Account, AccountResident, Resident
from miniapp_api.settings import CodeSettings, SigningKey

# 72 random bits in 12 characters: a version 10 symbol has no room for more (codes/tokens.py).
CODE_ID_BYTES = 9
ATTEMPTS = 3


@dataclass(frozen=True)
class IssuedCode:
    resident_id: str  # the resident's public id
    token: str
    # Nothing of the ID number beside it: the code screen is what residents screenshot and
    # share, and the number is the H5 lookup's second factor.
    claims: CodeClaims


def current_code(
    session: Session, account_id: str, *, resident_id: str, codes: CodeSettings, now: datetime
) -> IssuedCode:
    """The live code of a resident the account holds; issued on first request or after expiry.

    Showing an existing code writes nothing and reads once (:func:`_shown`); the transaction
    with its row lock is only for issuing.
    """
    shown = _shown(session, account_id, resident_id, codes, now)
    if shown is not None:
        return shown
    for attempt in range(ATTEMPTS):
        try:
            with session.begin():
                resident = _reachable(session, account_id, resident_id)
                live = _live(session, resident)
                if live is None or as_utc(live.expires_at) <= now:
                    _lock(session, resident)
                    # Look again: a concurrent request may have issued it while we waited.
                    live = _live(session, resident)
                    if live is None or as_utc(live.expires_at) <= now:
                        live = _replace_live(session, codes, resident, now)
                return _issued(codes, resident, live)
        except IntegrityError:
            # Another request issued this resident's code first (or a code id collided).
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def reissue(
    session: Session,
    account_id: str,
    *,
    resident_id: str,
    codes: CodeSettings,
    now: datetime,
    client: redis.Redis,
) -> IssuedCode:
    """Void the live code (if any) and issue a new one, in one transaction; then drop the code
    screens kept for every account holding the resident (``miniapp_api/accountview.py``)."""
    for attempt in range(ATTEMPTS):
        try:
            with session.begin():
                resident = _reachable(session, account_id, resident_id)
                _lock(session, resident)
                issued = _issued(codes, resident, _replace_live(session, codes, resident, now))
                holders = holder_accounts(session, [resident.public_id])
            forget(client, holders, code_fields(issued.resident_id))
            return issued
        except IntegrityError:
            # Unlocked (SQLite) and another writer came first, or a code id collided.
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _shown(
    session: Session, account_id: str, resident_id: str, codes: CodeSettings, now: datetime
) -> IssuedCode | None:
    """The live, unexpired code of a resident the account holds, in one read-only query;
    ``None`` when there is none to show (not issued, expired, or not the account's resident:
    the issuing path then answers, 404 included)."""
    row = session.execute(
        select(Resident, RegistrationCode)
        .join(AccountResident, AccountResident.resident_id == Resident.id)
        .join(Account, Account.id == AccountResident.account_id)
        .join(RegistrationCode, RegistrationCode.resident_id == Resident.id)
        .where(
            Account.public_id == account_id,
            Resident.public_id == resident_id,
            RegistrationCode.revoked_at.is_(None),
        )
    ).one_or_none()
    shown = None
    if row is not None and as_utc(row.RegistrationCode.expires_at) > now:
        shown = _issued(codes, row.Resident, row.RegistrationCode)
    session.rollback()  # read-only; hand the connection back (after reading the rows)
    return shown


def _reachable(session: Session, account_id: str, resident_id: str) -> Resident:
    """Self or own dependent; anything else is the same 404 (``resident_for_account``)."""
    return resident_for_account(session, load_account(session, account_id), resident_id).resident


def _lock(session: Session, resident: Resident) -> None:
    session.execute(
        select(Resident.id).where(Resident.id == resident.id).with_for_update(key_share=True)
    )


def _live(session: Session, resident: Resident) -> RegistrationCode | None:
    query = select(RegistrationCode).where(
        RegistrationCode.resident_id == resident.id, RegistrationCode.revoked_at.is_(None)
    )
    return session.scalars(query).one_or_none()


def _replace_live(
    session: Session, codes: CodeSettings, resident: Resident, now: datetime
) -> RegistrationCode:
    # Only what is still live: a code voided earlier keeps its revoked_at.
    session.execute(
        update(RegistrationCode)
        .where(RegistrationCode.resident_id == resident.id, RegistrationCode.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    # Whole seconds: the token's "exp" and the row's expires_at must be the same instant.
    expires = (now + timedelta(days=codes.ttl_days)).replace(microsecond=0)
    code = RegistrationCode(
        code_id=secrets.token_urlsafe(CODE_ID_BYTES),
        resident_id=resident.id,
        kid=codes.signing_key.kid,
        issued_at=now,
        expires_at=expires,
    )
    session.add(code)
    session.flush()  # the partial unique index speaks here, inside the retry loop
    return code


def _issued(codes: CodeSettings, resident: Resident, code: RegistrationCode) -> IssuedCode:
    key = _key_for(codes, code.kid)
    claims = CodeClaims(
        code_id=code.code_id,
        name_masked=short_masked_name(resident.name_masked),
        expires_at=as_utc(code.expires_at),
        kid=key.kid,
    )
    return IssuedCode(resident.public_id, sign_code(key, claims), claims)


def _key_for(codes: CodeSettings, kid: str) -> SigningKey:
    """The key that issued the code while its private half is configured, else today's.

    After a rotation the old key is verify-only: the code keeps its id and expiry and is
    signed with the new key, so both the screenshot and the new token stay valid.
    """
    return next((k for k in codes.keys if k.kid == kid and k.private_key), codes.signing_key)

"""Staff accounts: argon2 password hashes, login into a staff session, the caller's row."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from miniapp_api.errors import Unauthorized
from miniapp_api.overload.rejection import Rejected, Rejection
from miniapp_api.sampling.models import Site, Staff
from miniapp_api.sampling.schemas import SiteOut, StaffLoginOut
from miniapp_api.sampling.setup import SetupRefused, find_site
from miniapp_api.security.passwords import HASHER, FailedLogins, hash_secret, verify_known
from miniapp_api.sessions import SessionStore

STAFF_PLATFORM = "staff"  # the ``platform`` of a staff session
USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{3,64}")
MIN_PASSWORD_CHARS = 8
REFUSED = "Unknown username or wrong password."


def normalize_username(raw: str) -> str:
    """Usernames are typed on phones: case and surrounding spaces do not matter."""
    return raw.strip().lower()


def hash_password(password: str) -> str:
    return hash_secret(password)


def create_staff(session: Session, username: str, *, password: str, site_name: str) -> Staff:
    """Add a staff member at a site (console). Raises :class:`SetupRefused` with the reason."""
    name = normalize_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise SetupRefused("usernames are 3-64 characters: letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD_CHARS:
        raise SetupRefused(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    password_hash = hash_password(password)  # before the transaction: it takes a while
    with session.begin():
        site = find_site(session, site_name)
        if session.scalar(select(Staff.id).where(Staff.username == name)) is not None:
            raise SetupRefused(f"staff {name!r} exists already")
        staff = Staff(username=name, password_hash=password_hash, site_id=site.id, active=True)
        session.add(staff)
    return staff


def login(
    session: Session,
    username: str,
    *,
    password: str,
    sessions: SessionStore,
    failures: FailedLogins,
    address: str,
) -> StaffLoginOut:
    """Check the password and open a staff session; 401 alike for every kind of refusal.

    Past too many wrong passwords for the name or from the caller's network (``address``),
    429 ``too_many_failures`` before any hash is computed.
    """
    name = normalize_username(username)
    wait = failures.refused(name, address)
    if wait:
        raise Rejected(Rejection(429, "too_many_failures", float(wait)))
    with session.begin():
        row = session.execute(
            select(Staff, Site).join(Site, Staff.site_id == Site.id).where(Staff.username == name)
        ).one_or_none()
    # Argon2 runs outside the transaction: it is slow on purpose and must not hold a connection
    # busy. An unknown user costs the same hash as a known one, so timing tells nothing.
    if row is None:
        verify_known(None, password)
        failures.failed(name, address)
        raise Unauthorized(REFUSED, code="invalid_credentials")
    staff, site = row
    if not verify_known(staff.password_hash, password) or not staff.active:
        failures.failed(name, address)
        raise Unauthorized(REFUSED, code="invalid_credentials")
    failures.succeeded(name, address)
    if HASHER.check_needs_rehash(staff.password_hash):
        with session.begin():
            session.execute(
                update(Staff)
                .where(Staff.id == staff.id)
                .values(password_hash=hash_password(password))
            )
    token = sessions.create(str(staff.id), STAFF_PLATFORM, site=site.public_id)
    return StaffLoginOut(
        token=token,
        expires_in=sessions.ttl_seconds,
        site=SiteOut(id=site.public_id, name=site.name),
    )


def load_staff(session: Session, staff_id: int) -> tuple[Staff, Site]:
    """The caller and their site; a removed or deactivated staff member is logged out."""
    row = session.execute(
        select(Staff, Site).join(Site, Staff.site_id == Site.id).where(Staff.id == staff_id)
    ).one_or_none()
    if row is None or not row[0].active:
        raise Unauthorized("This staff account is no longer active; ask the site lead.")
    return row[0], row[1]

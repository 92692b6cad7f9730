"""Demo operators for the simulator: a round, a site, its lab and a staff member.

Only ``miniapp dev`` (:mod:`miniapp_api.devserver`) and the browser tests call
:func:`ensure_demo_operators`; ``create_app`` never does, so no other setup ever has these rows.

The staff password and the lab secret are written here and shown on the simulator page **on
purpose**: they are development-only credentials for the local SQLite file (or a throwaway test
database), so that a newcomer can walk the whole journey without the console. Never create them
in a database that holds real data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from miniapp_api.db import Database, utcnow
from miniapp_api.sampling.models import Lab, ScreeningRound, Site, Staff
from miniapp_api.sampling.setup import LAB_SECRET_PURPOSE, current_round
from miniapp_api.sampling.staff import hash_password, normalize_username
from miniapp_api.security.crypto import PersonalDataCrypto

# Where the simulator view finds them (set by whoever called ensure_demo_operators).
DEMO_EXTENSION_KEY = "simulator_demo"

ROUND_NAME = "演示轮次 Demo round"
SITE_NAME = "演示采样点 Demo site"
LAB_NAME = "演示检测机构 Demo lab"
LAB_ID = "lab_demo"
STAFF_USERNAME = "demo.staff"
# Development-only credentials, public by design (see the module docstring).
STAFF_PASSWORD = "demo-swab-2022"  # noqa: S105
LAB_SECRET = "demo-lab-secret-dev-only-0000"  # noqa: S105


@dataclass(frozen=True)
class DemoOperators:
    """What the simulator's staff and lab panels are pre-filled with."""

    staff_username: str
    staff_password: str = field(repr=False)
    lab_id: str
    lab_secret: str = field(repr=False)
    site: str
    round: str


def ensure_demo_operators(
    db: Database, crypto: PersonalDataCrypto, now: datetime | None = None
) -> DemoOperators:
    """Create the demo lab, site, staff member and an open round where missing; idempotent.

    Existing rows are left as they are: an open round (whatever its name) is the one scans go
    into, and an existing lab's secret is read back rather than replaced.
    """
    moment = now or utcnow()
    with db.session() as session:
        with session.begin():
            has_staff = _staff(session) is not None
        # Argon2 is slow on purpose: hashed outside the transaction, and only when needed.
        password_hash = None if has_staff else hash_password(STAFF_PASSWORD)
        with session.begin():
            lab = _lab(session, crypto)
            site = _site(session, lab)
            if password_hash is not None and _staff(session) is None:
                session.add(
                    Staff(
                        username=normalize_username(STAFF_USERNAME),
                        password_hash=password_hash,
                        site_id=site.id,
                        active=True,
                    )
                )
            screening_round = current_round(session) or _open_round(session, moment)
            return DemoOperators(
                staff_username=STAFF_USERNAME,
                staff_password=STAFF_PASSWORD,
                lab_id=lab.lab_id,
                lab_secret=crypto.decrypt(LAB_SECRET_PURPOSE, lab.secret_enc),
                site=site.name,
                round=screening_round.name,
            )


def _staff(session: Session) -> int | None:
    return session.scalar(
        select(Staff.id).where(Staff.username == normalize_username(STAFF_USERNAME))
    )


def _lab(session: Session, crypto: PersonalDataCrypto) -> Lab:
    lab = session.scalars(select(Lab).where(Lab.lab_id == LAB_ID)).one_or_none()
    if lab is None:
        lab = Lab(
            lab_id=LAB_ID,
            name=LAB_NAME,
            secret_enc=crypto.encrypt(LAB_SECRET_PURPOSE, LAB_SECRET),
        )
        session.add(lab)
        session.flush()
    return lab


def _site(session: Session, lab: Lab) -> Site:
    site = session.scalars(select(Site).where(Site.name == SITE_NAME)).one_or_none()
    if site is None:
        site = Site(name=SITE_NAME, lab_id=lab.id)
        session.add(site)
        session.flush()
    return site


def _open_round(session: Session, now: datetime) -> ScreeningRound:
    """Open the demo round; a closed one keeps its name, so the next gets a number."""
    taken = set(session.scalars(select(ScreeningRound.name)))
    name = ROUND_NAME
    number = 2
    while name in taken:
        name, number = f"{ROUND_NAME} {number}", number + 1
    opened = ScreeningRound(name=name, opened_at=now)
    session.add(opened)
    session.flush()
    return opened

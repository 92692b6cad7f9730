"""What operators set up from the console before a morning: the labs that test the tubes, the
sampling sites that send them there, and the screening round.

One round is open at a time and it is the round every scan goes into. Opening a round while
another is open is refused: the operator closes the previous one explicitly (``miniapp rounds
close``), so a mistyped ``open`` never ends a round in the middle of a morning.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from miniapp_api.dialects import lock_for_transaction
from miniapp_api.sampling.models import Lab, Sampling, ScreeningRound, Site, Tube
from miniapp_api.security.crypto import PersonalDataCrypto

# The purpose a lab's upload secret is encrypted under; verifying the lab's signatures
# decrypts it (lab/signing.py).
LAB_SECRET_PURPOSE = "lab.secret"  # noqa: S105  (a label bound into the ciphertext, not a secret)

# Serializes `rounds open` (two operators at once must not open two rounds).
_OPEN_ROUND_LOCK = 0x5C_2022_0316


class SetupRefused(Exception):
    """A console operation that cannot be done; the message says why, for the operator."""


def clean_name(kind: str, raw: str) -> str:
    """Site and round names are shown to residents and stored in the results read model."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not 1 <= len(name) <= 128:
        raise SetupRefused(f"a {kind} name has 1 to 128 characters")
    if "|" in name or any(unicodedata.category(c).startswith("C") for c in name):
        raise SetupRefused(f"a {kind} name cannot contain '|' or control characters")
    return name


# --- labs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewLab:
    """A lab just created: the only moment its secret is known in plaintext."""

    lab_id: str
    name: str
    secret: str


def create_lab(session: Session, name: str, *, crypto: PersonalDataCrypto) -> NewLab:
    lab_name = clean_name("lab", name)
    lab_id = "lab_" + secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with session.begin():
        if session.scalar(select(Lab.id).where(Lab.name == lab_name)) is not None:
            raise SetupRefused(f"lab {lab_name!r} exists already")
        session.add(
            Lab(
                lab_id=lab_id,
                name=lab_name,
                secret_enc=crypto.encrypt(LAB_SECRET_PURPOSE, secret),
            )
        )
    return NewLab(lab_id=lab_id, name=lab_name, secret=secret)


@dataclass(frozen=True)
class RotatedSecret:
    """A lab's new secret, the only moment it is known in plaintext, and until when the old
    one is still accepted (``None``: not at all)."""

    lab_id: str
    secret: str
    previous_until: datetime | None


def rotate_lab_secret(
    session: Session,
    lab_id: str,
    *,
    overlap: timedelta,
    crypto: PersonalDataCrypto,
    now: datetime,
) -> RotatedSecret:
    """Give the lab a new upload secret; its current one stays valid for ``overlap`` (zero:
    the old secret stops at once, for a leaked one). A secret still in its overlap from an
    earlier rotation is dropped: at most two are ever valid."""
    secret = secrets.token_urlsafe(32)
    with session.begin():
        lab = session.scalars(
            select(Lab).where(Lab.lab_id == lab_id).with_for_update()
        ).one_or_none()
        if lab is None:
            raise SetupRefused(f"no lab with id {lab_id!r}")
        until = now + overlap if overlap > timedelta(0) else None
        lab.previous_secret_enc = lab.secret_enc if until is not None else None
        lab.previous_secret_until = until
        lab.secret_enc = crypto.encrypt(LAB_SECRET_PURPOSE, secret)
    return RotatedSecret(lab_id=lab_id, secret=secret, previous_until=until)


# --- sites ----------------------------------------------------------------------------------


def find_site(session: Session, name: str) -> Site:
    site = session.scalars(select(Site).where(Site.name == clean_name("site", name))).one_or_none()
    if site is None:
        raise SetupRefused(f"no site named {name!r}")
    return site


def create_site(session: Session, name: str, *, lab_id: str | None = None) -> Site:
    """A sampling site; its tubes go to the lab ``lab_id`` (the lab's X-Lab-Id)."""
    site_name = clean_name("site", name)
    with session.begin():
        lab_pk: int | None = None
        if lab_id is not None:
            lab_pk = session.scalar(select(Lab.id).where(Lab.lab_id == lab_id))
            if lab_pk is None:
                raise SetupRefused(f"no lab with id {lab_id!r}")
        if session.scalar(select(Site.id).where(Site.name == site_name)) is not None:
            raise SetupRefused(f"site {site_name!r} exists already")
        site = Site(name=site_name, lab_id=lab_pk)
        session.add(site)
    return site


# --- rounds ---------------------------------------------------------------------------------


def current_round(session: Session) -> ScreeningRound | None:
    """The open round (the latest opened, should an old database hold several)."""
    return session.scalars(
        select(ScreeningRound)
        .where(ScreeningRound.closed_at.is_(None))
        .order_by(ScreeningRound.opened_at.desc(), ScreeningRound.id.desc())
        .limit(1)
    ).one_or_none()


def open_round(session: Session, name: str, *, now: datetime) -> ScreeningRound:
    """Open a round; refused while another is open or if the name was used before."""
    round_name = clean_name("round", name)
    with session.begin():
        lock_for_transaction(session, _OPEN_ROUND_LOCK)
        already = current_round(session)
        if already is not None:
            raise SetupRefused(
                f"round {already.name!r} is open; close it first (miniapp rounds close)"
            )
        if session.scalar(select(ScreeningRound.id).where(ScreeningRound.name == round_name)):
            raise SetupRefused(f"a round named {round_name!r} existed already")
        screening_round = ScreeningRound(name=round_name, opened_at=now)
        session.add(screening_round)
    return screening_round


def close_round(session: Session, now: datetime) -> tuple[ScreeningRound, int]:
    """Close the open round and its open tubes; returns the round and how many tubes closed."""
    with session.begin():
        screening_round = current_round(session)
        if screening_round is None:
            raise SetupRefused("no round is open")
        screening_round.closed_at = now
        closed = session.execute(
            update(Tube)
            .where(Tube.round_id == screening_round.id, Tube.closed_at.is_(None))
            .values(closed_at=now)
        )
    return screening_round, closed.rowcount  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RoundSummary:
    name: str
    public_id: str
    opened_at: datetime
    closed_at: datetime | None
    tubes: int
    samplings: int


def list_rounds(session: Session) -> list[RoundSummary]:
    """Every round, newest first, with its tube and sampling counts."""
    tubes = select(Tube.round_id, func.count().label("n")).group_by(Tube.round_id).subquery("tubes")
    samplings = (
        select(Sampling.round_id, func.count().label("n"))
        .group_by(Sampling.round_id)
        .subquery("samplings")
    )
    with session.begin():
        rows = session.execute(
            select(ScreeningRound, tubes.c.n, samplings.c.n)
            .outerjoin(tubes, tubes.c.round_id == ScreeningRound.id)
            .outerjoin(samplings, samplings.c.round_id == ScreeningRound.id)
            .order_by(ScreeningRound.opened_at.desc(), ScreeningRound.id.desc())
        ).all()
    return [
        RoundSummary(r.name, r.public_id, r.opened_at, r.closed_at, n_tubes or 0, n_samples or 0)
        for r, n_tubes, n_samples in rows
    ]

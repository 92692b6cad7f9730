"""Tubes: opened by their first scan, filled up to their capacity exactly, closed by staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from miniapp_api.db import as_utc
from miniapp_api.errors import NotFound
from miniapp_api.sampling.models import Tube
from miniapp_api.sampling.schemas import ScanStatus, TubeOut
from miniapp_api.sampling.staff import load_staff


def tube_out(tube: Tube) -> TubeOut:
    return TubeOut(
        tube_no=tube.tube_no,
        capacity=tube.capacity,
        bound_count=tube.bound_count,
        closed_at=as_utc(tube.closed_at) if tube.closed_at else None,
    )


def lock_tube(session: Session, tube_no: str) -> Tube | None:
    """The tube, locked for this transaction (PostgreSQL), with its current counts."""
    return session.scalars(
        select(Tube)
        .where(Tube.tube_no == tube_no)
        .with_for_update()
        # A tube already in this session (an earlier item of the batch) is re-read, not reused.
        .execution_options(populate_existing=True)
    ).one_or_none()


# Built once: the statement of (nearly) every scan.
_TAKE_PLACE = (
    update(Tube)
    .where(
        Tube.tube_no == bindparam("b_tube_no"),
        Tube.site_id == bindparam("b_site_id"),
        Tube.round_id == bindparam("b_round_id"),
        Tube.closed_at.is_(None),
        Tube.bound_count < Tube.capacity,
    )
    .values(bound_count=Tube.bound_count + 1)
    .returning(Tube)
    # A tube already in the session (an earlier item of the batch) gets the new counts.
    .execution_options(synchronize_session=False, populate_existing=True)
)


@dataclass(frozen=True)
class TubeSpot:
    """Where a scan happens: the tubes it may use are this site's, in this round."""

    round_id: int
    site_id: int
    lab_id: int | None


def take_place(
    session: Session, tube_no: str, *, spot: TubeSpot, capacity: int, now: datetime
) -> tuple[ScanStatus, Tube | None]:
    """Take one place in the tube, opening it with ``capacity`` if the number is new.

    ``BOUND`` with the tube, or why not: ``TUBE_FULL`` / ``TUBE_CLOSED`` with the tube, or
    ``TUBE_UNAVAILABLE`` (another site's or round's) without it. The usual case is one
    conditional UPDATE, exact under concurrency by itself; the row stays locked until commit.
    """
    tube = session.scalars(
        _TAKE_PLACE,
        {"b_tube_no": tube_no, "b_site_id": spot.site_id, "b_round_id": spot.round_id},
    ).one_or_none()
    if tube is not None:
        return ScanStatus.BOUND, tube
    tube = lock_tube(session, tube_no)
    if tube is None:
        return ScanStatus.BOUND, _open_tube(session, tube_no, spot, capacity, now)
    if tube.site_id != spot.site_id or tube.round_id != spot.round_id:
        return ScanStatus.TUBE_UNAVAILABLE, None
    if tube.closed_at is not None:
        return ScanStatus.TUBE_CLOSED, tube
    if _claim(session, tube):  # opened by a concurrent scan since the UPDATE above
        return ScanStatus.BOUND, tube
    return ScanStatus.TUBE_FULL, tube


def _open_tube(
    session: Session, tube_no: str, spot: TubeSpot, capacity: int, now: datetime
) -> Tube:
    """A new tube holding its first person; ``IntegrityError`` if someone opened it first."""
    tube = Tube(
        tube_no=tube_no,
        round_id=spot.round_id,
        site_id=spot.site_id,
        lab_id=spot.lab_id,
        capacity=capacity,
        bound_count=1,
        opened_at=now,
    )
    session.add(tube)
    session.flush()
    return tube


def _claim(session: Session, tube: Tube) -> bool:
    """One more place in a tube we looked at, if it has one (a conditional UPDATE)."""
    count = session.scalar(
        update(Tube)
        .where(Tube.id == tube.id, Tube.bound_count < Tube.capacity, Tube.closed_at.is_(None))
        .values(bound_count=Tube.bound_count + 1)
        .returning(Tube.bound_count)
        .execution_options(synchronize_session=False)
    )
    if count is None:
        return False
    set_committed_value(tube, "bound_count", count)
    return True


def close_tube(session: Session, staff_id: int, *, tube_no: str, now: datetime) -> TubeOut:
    """Close one of the caller's site's tubes; closing twice keeps the first time.

    A tube of another site is "not found", exactly like a number nobody used.
    """
    with session.begin():
        _, site = load_staff(session, staff_id)
        tube = lock_tube(session, tube_no)
        if tube is None or tube.site_id != site.id:
            raise NotFound("No such tube at your site.", code="tube_not_found")
        if tube.closed_at is None:
            tube.closed_at = now
        return tube_out(tube)

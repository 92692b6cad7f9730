"""Append to the audit trail, check its chain, list its events.

Every actor has a chain of its own (a staff member, an operator: ``actor_kind`` and
``actor``), so that appends of different actors never wait on each other (scans of a whole
city would otherwise commit one at a time). Each row's ``hash`` is the SHA-256 (hex) of a
canonical encoding of its fields and of ``prev_hash``, the hash of the actor's row before it
(an actor's first row's ``prev_hash`` is :data:`GENESIS`). The encoding is a compact JSON
array of strings, so no field can run into the next: ``[at, actor_kind, actor, action,
object, request_id, prev_hash]``, ``at`` in UTC with microseconds (both databases store
exactly that). An edited row no longer matches its hash; a removed row leaves the actor's next
one pointing at a hash that is not the row before it.
What the chains cannot show by themselves is a removed tail or a chain rewritten from some
row on: ``verify`` prints a digest of every chain's last hash, which an operator can keep
elsewhere and compare.

Retention (``audit/purge.py``) removes a chain's oldest rows and records the chain's *anchor*,
the hash of the last row removed: the chain's first remaining row carries it as ``prev_hash``,
and ``verify`` starts each chain there instead of at :data:`GENESIS`. A chain purged whole
continues from its anchor (:func:`record`), so the heads digest does not change with a purge.

An actor's appends are serialized, so no two writers chain to the same row: on PostgreSQL by
an advisory lock of that actor held to the end of the caller's transaction, taken just before
its last row is read (the caller's transaction must be READ COMMITTED, the default, so the read
sees the last commit); on SQLite by taking the database's write lock first. The lock is held
from the read to the commit: call :func:`record` last in a transaction, after any other lock
it takes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict, cast

from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.orm import Session

from miniapp_api.audit.models import AuditAnchor, AuditEvent
from miniapp_api.db import as_utc
from miniapp_api.dialects import is_postgresql, lock_for_transaction

GENESIS = "0" * 64  # the prev_hash of an actor's first row

# Built once: an append runs on hot paths (every scan that shows a person).
_LAST_HASH = (
    select(AuditEvent.hash)
    .where(AuditEvent.actor_kind == bindparam("kind"), AuditEvent.actor == bindparam("actor"))
    .order_by(AuditEvent.id.desc())
    .limit(1)
)
# A chain whose rows were all purged continues from its anchor.
_ANCHOR_HASH = select(AuditAnchor.hash).where(
    AuditAnchor.actor_kind == bindparam("kind"), AuditAnchor.actor == bindparam("actor")
)
_INSERT = insert(cast(Table, AuditEvent.__table__))
# SQLite has no advisory locks and starts a transaction only at its first write: this write of
# no row takes the database's write lock, so the read of the last hash below is the latest.
_SQLITE_WRITE_LOCK = text("UPDATE audit_events SET id = id WHERE 0")
_BATCH = (
    select(AuditEvent)
    .where(AuditEvent.id > bindparam("after"))
    .order_by(AuditEvent.id)
    .limit(bindparam("size"))
)


class _Fields(TypedDict):
    """What a row's hash covers (:func:`event_hash`), as it is inserted."""

    at: datetime
    actor_kind: str
    actor: str
    action: str
    object: str
    request_id: str
    prev_hash: str


class ActorKind(StrEnum):
    STAFF = "staff"  # actor: the staff member's id
    OPERATOR = "operator"  # actor: the operator's name (OPS.OPERATORS)
    REVIEWER = "reviewer"
    ACCOUNT = "account"  # actor: the account's public id
    SYSTEM = "system"  # actor: the command or worker


def record(
    session: Session,
    *,
    actor_kind: ActorKind,
    actor: str,
    action: str,
    object: str = "",  # noqa: A002  the column's name, read at every call site
    request_id: str = "",
    at: datetime,
) -> str:
    """Append one event in the caller's transaction (which commits it); its hash.

    Pseudonymous ids only: never a name, an ID number or a phone number in any field.
    """
    kind = ActorKind(actor_kind).value
    if is_postgresql(session):
        lock_for_transaction(session, _append_lock(kind, actor))
    else:
        session.execute(_SQLITE_WRITE_LOCK)
    chain = {"kind": kind, "actor": actor}
    prev_hash = session.scalar(_LAST_HASH, chain) or session.scalar(_ANCHOR_HASH, chain) or GENESIS
    fields: _Fields = {
        "at": as_utc(at),
        "actor_kind": kind,
        "actor": actor,
        "action": action,
        "object": object,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }
    digest = event_hash(**fields)
    session.execute(_INSERT, {**fields, "hash": digest})
    return digest


def _append_lock(kind: str, actor: str) -> int:
    """The advisory lock key of an actor's chain: 64 bits of a hash of its name."""
    digest = hashlib.sha256(f"audit:{kind}:{actor}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def event_hash(
    *,
    at: datetime,
    actor_kind: str,
    actor: str,
    action: str,
    object: str,  # noqa: A002
    request_id: str,
    prev_hash: str,
) -> str:
    """The SHA-256 (hex) of the canonical encoding of a row (module docstring)."""
    moment = as_utc(at).isoformat(timespec="microseconds")
    fields = [moment, actor_kind, actor, action, object, request_id, prev_hash]
    encoded = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True)
class BrokenLink:
    id: int  # the first row that does not check out
    reason: str


@dataclass(frozen=True)
class ChainReport:
    count: int  # rows checked (up to and including a broken one)
    head: str  # heads_digest of the actors' last good rows (GENESIS for none)
    broken: BrokenLink | None
    anchored: int = 0  # chains that start at a purge's anchor rather than at GENESIS
    # Chains ("kind:actor") whose anchor let rows younger than the retention period go: a
    # purge run with a shorter period then, or an anchor written by something else.
    early: tuple[str, ...] = ()


def heads_digest(heads: Mapping[tuple[str, str], str]) -> str:
    """One hash for the last hash of every actor's chain (GENESIS for none): what an operator
    keeps outside the database to notice a removed tail later."""
    if not heads:
        return GENESIS
    lines = "".join(f"{kind}:{actor}={head}\n" for (kind, actor), head in sorted(heads.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def verify(
    session: Session, *, batch_size: int = 5000, retention: timedelta | None = None
) -> ChainReport:
    """Walk every chain in id order, ``batch_size`` rows per read; the first broken link.

    A chain starts at its purge anchor if it has one. ``retention``: the audit period; the
    anchors that let rows younger than it go (``purged_before`` later than ``purged_at`` minus
    the period) are listed in ``early``.
    """
    anchors = {(a.actor_kind, a.actor): a for a in session.scalars(select(AuditAnchor))}
    early = tuple(
        sorted(
            f"{kind}:{actor}"
            for (kind, actor), a in anchors.items()
            if retention is not None and as_utc(a.purged_before) > as_utc(a.purged_at) - retention
        )
    )
    heads = {chain: anchor.hash for chain, anchor in anchors.items()}
    walked: set[tuple[str, str]] = set()  # chains whose first remaining row was checked
    after, count = 0, 0
    while True:
        rows = session.scalars(_BATCH, {"after": after, "size": batch_size}).all()
        if not rows:
            return ChainReport(count, heads_digest(heads), None, len(anchors), early)
        for row in rows:
            count += 1
            chain = (row.actor_kind, row.actor)
            expected = heads.get(chain, GENESIS)
            if row.prev_hash != expected and chain not in walked:
                # The chain's first row here: a purge may have moved its anchor since we read
                # the anchors (it removed rows we had not reached yet). Read it again.
                kind, actor = chain
                expected = session.scalar(_ANCHOR_HASH, {"kind": kind, "actor": actor}) or GENESIS
            walked.add(chain)
            if row.prev_hash != expected:
                why = (
                    "its prev_hash is not the hash of its actor's row before: a row was removed "
                    "or edited"
                )
                return ChainReport(count, heads_digest(heads), BrokenLink(row.id, why), early=early)
            if _hash_of(row) != row.hash:
                why = "its fields no longer match its hash: the row was edited"
                return ChainReport(count, heads_digest(heads), BrokenLink(row.id, why), early=early)
            heads[chain] = row.hash
            after = row.id


def _hash_of(row: AuditEvent) -> str:
    return event_hash(
        at=row.at,
        actor_kind=row.actor_kind,
        actor=row.actor,
        action=row.action,
        object=row.object,
        request_id=row.request_id,
        prev_hash=row.prev_hash,
    )


_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, *, now: datetime) -> datetime:
    """``1h``, ``30m``, ``2d``, ``45s`` before ``now``, or an ISO time (local time if no zone)."""
    relative = _RELATIVE.fullmatch(value.strip())
    if relative:
        amount, unit = relative.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {value!r} (give e.g. 1h, 30m, 2d or 2026-12-01T08:00)"
        ) from None
    return moment.astimezone() if moment.tzinfo is None else moment


def events_since(session: Session, since: datetime, *, limit: int) -> Sequence[AuditEvent]:
    """The first ``limit`` events at or after ``since``, oldest first."""
    query = select(AuditEvent).where(AuditEvent.at >= since).order_by(AuditEvent.id).limit(limit)
    return session.scalars(query).all()


def describe(event: AuditEvent) -> str:
    """One line: id, time (local), actor, action, object, request id."""
    at = as_utc(event.at).astimezone().isoformat(timespec="seconds")
    return (
        f"{event.id} {at} {event.actor_kind}:{event.actor} {event.action} "
        f"{event.object or '-'} request={event.request_id or '-'}"
    )

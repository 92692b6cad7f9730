"""Re-encrypting and re-indexing stored personal data under the current keys, in batches.

What a rotation touches (every column :mod:`miniapp_api.security.crypto` wrote):

=============  ==================================================================
accounts       ``session_key_enc``; ``phone_enc`` and its ``phone_index``
residents      ``id_enc`` and its ``id_index``; ``name_enc``; ``phone_enc`` and
               its ``phone_index``
labs           ``secret_enc``, ``previous_secret_enc``
=============  ==================================================================

Each batch is one short transaction that locks its rows (``FOR UPDATE`` on PostgreSQL), so a
request writing the same row waits for it instead of being overwritten with an older value.
A ciphertext already under the current data key is left as it is; an index is recomputed from
the decrypted value and written only when it differs. Rows added while it runs are not visited
(they are written under the current keys); ``miniapp keys status`` reads everything, to
confirm before an old key is removed. The rotation is idempotent:
interrupted, it is run again and resumes from the checkpoint it keeps in Redis (per table:
the key ids it rotates to and the last row done); with other key ids it starts over.

A row whose new ID index another row already holds is the same person registered twice (two
nodes on different index keys, the same moment, during a rollout): it is left on its old index
and reported, for an operator to merge.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import Engine, Table, bindparam, func, select, update
from sqlalchemy.engine import Connection, Row

from miniapp_api.residents import records
from miniapp_api.residents.accounts import REVIEW_PLATFORM
from miniapp_api.residents.models import Account, AccountResident, Resident
from miniapp_api.sampling.models import Lab
from miniapp_api.sampling.setup import LAB_SECRET_PURPOSE
from miniapp_api.security.crypto import PersonalDataCrypto

CHECKPOINT_KEY = "keyrotation"


@dataclass(frozen=True)
class Sealed:
    """An encrypted column, and the blind index kept beside it (if any)."""

    column: str
    purpose: str
    index: str | None = None


@dataclass(frozen=True)
class Target:
    """A table and its encrypted columns."""

    table: Table
    columns: Sequence[Sealed]
    # Columns a batch must write back unchanged (an ``onupdate`` would bump them).
    keep: Sequence[str] = ()


TARGETS = (
    Target(
        Account.__table__,  # type: ignore[arg-type]
        (
            Sealed("session_key_enc", records.SESSION_KEY_PURPOSE),
            Sealed("phone_enc", records.PHONE_PURPOSE, index="phone_index"),
        ),
    ),
    Target(
        Resident.__table__,  # type: ignore[arg-type]
        (
            Sealed("id_enc", records.ID_PURPOSE, index="id_index"),
            Sealed("name_enc", records.NAME_PURPOSE),
            Sealed("phone_enc", records.PHONE_PURPOSE, index="phone_index"),
        ),
        keep=("updated_at",),
    ),
    Target(
        Lab.__table__,  # type: ignore[arg-type]
        (
            Sealed("secret_enc", LAB_SECRET_PURPOSE),
            Sealed("previous_secret_enc", LAB_SECRET_PURPOSE),
        ),
    ),
)


@dataclass
class TableReport:
    """What a rotation did (or, dry, would do) to one table."""

    table: str
    rows: int = 0  # rows read
    changed: int = 0  # rows written (or to write)
    reencrypted: int = 0  # ciphertexts
    reindexed: int = 0  # blind indexes
    duplicates: list[str] = field(default_factory=list)  # residents' public ids, in pairs
    unindexed: list[str] = field(default_factory=list)  # rows whose index could not be made
    resumed_after: int = 0
    dry_run: bool = False
    seconds: float = 0.0

    def line(self) -> str:
        verb = "to rewrite" if self.dry_run else "rewritten"
        resumed = f" (resumed after id {self.resumed_after})" if self.resumed_after else ""
        return (
            f"{self.table}: {self.rows} rows read{resumed}, {self.changed} {verb}: "
            f"{self.reencrypted} ciphertexts re-encrypted, {self.reindexed} indexes recomputed "
            f"({self.seconds:.1f} s)"
        )

    @property
    def done(self) -> bool:
        """Nothing left to rotate, and nothing left behind."""
        return self.changed == 0 and not self.duplicates and not self.unindexed


class Rotation:
    """Brings each stored value to the current keys of ``crypto`` (:mod:`module docs`)."""

    def __init__(
        self,
        engine: Engine,
        crypto: PersonalDataCrypto,
        client: redis.Redis | None,
        *,
        batch_size: int = 500,
        pause_seconds: float = 0.0,
    ) -> None:
        self._engine = engine
        self._crypto = crypto
        self._redis = client
        self._batch_size = batch_size
        self._pause = pause_seconds
        keys = crypto.data_keys.current, crypto.index_keys.current
        self._target_ids = f"d{keys[0]}.i{keys[1]}"

    def run(self, *, dry_run: bool = False, restart: bool = False) -> list[TableReport]:
        """Every table, in batches; ``dry_run`` counts what would change and writes nothing
        (from the first row, ignoring the checkpoint)."""
        reports = []
        for target in TARGETS:
            after = 0 if dry_run or restart else self._checkpoint(target)
            report = TableReport(target.table.name, resumed_after=after, dry_run=dry_run)
            started = time.perf_counter()
            for last_id in self._batches(target, report, after, dry_run):
                if not dry_run:
                    self._save_checkpoint(target, last_id)
            report.seconds = time.perf_counter() - started
            reports.append(report)
        return reports

    def _batches(
        self, target: Target, report: TableReport, after: int, dry_run: bool
    ) -> Iterator[int]:
        table = target.table
        names = [c.column for c in target.columns] + [c.index for c in target.columns if c.index]
        extra = ["public_id", "id_type", "synthetic"] if table.name == "residents" else []
        selected = [table.c.id, *(table.c[n] for n in names + extra + list(target.keep))]
        with self._engine.connect() as connection:
            # Rows added after this are written under the current keys (every node writes
            # with them before a rotation starts): the rotation does not chase them.
            last = connection.execute(select(func.max(table.c.id))).scalar_one() or 0
        while after < last:
            with self._engine.begin() as connection:  # one short transaction per batch
                query = select(*selected).where(table.c.id > after, table.c.id <= last)
                query = query.order_by(table.c.id)
                query = query.limit(self._batch_size)
                rows = connection.execute(query if dry_run else query.with_for_update()).all()
                if not rows:
                    return
                changes = [
                    c for row in rows if (c := self._rotated(connection, target, row, report))
                ]
                if table.name == "residents":
                    _keep_duplicates_apart(connection, rows, changes, report)
                report.rows += len(rows)
                report.changed += len(changes)
                if changes and not dry_run:
                    self._write(connection, target, changes)
                after = rows[-1].id
            yield after
            if self._pause:
                time.sleep(self._pause)

    def _rotated(
        self, connection: Connection, target: Target, row: Row[Any], report: TableReport
    ) -> dict[str, Any] | None:
        """The row's new values (every rotated column, changed or not), or ``None``."""
        crypto = self._crypto
        values: dict[str, Any] = {"row_id": row.id}
        changed = False
        for sealed in target.columns:
            blob = getattr(row, sealed.column)
            values[sealed.column] = blob
            if sealed.index:
                values[sealed.index] = getattr(row, sealed.index)
            if blob is None:
                continue
            current = crypto.is_current(blob)
            if current and sealed.index is None:
                continue
            plaintext = crypto.decrypt(sealed.purpose, blob)
            if not current:
                values[sealed.column] = crypto.encrypt(sealed.purpose, plaintext)
                report.reencrypted += 1
                changed = True
            if sealed.index:
                new = self._index(connection, target, row, sealed, plaintext, report)
                if new is not None and new != getattr(row, sealed.index):
                    values[sealed.index] = new
                    report.reindexed += 1
                    changed = True
        if not changed:
            return None
        values.update({name: getattr(row, name) for name in target.keep})
        return values

    def _index(
        self,
        connection: Connection,
        target: Target,
        row: Row[Any],
        sealed: Sealed,
        plaintext: str,
        report: TableReport,
    ) -> str | None:
        subject = plaintext
        if sealed.index == "id_index":
            sandbox = _sandbox_of(connection, row.id) if row.synthetic else None
            if row.synthetic and sandbox is None:
                report.unindexed.append(f"{target.table.name} id {row.id}")
                return None
            subject = records.id_subject(row.id_type, plaintext, sandbox)
        return self._crypto.blind_index(sealed.purpose, subject)

    def _write(self, connection: Connection, target: Target, changes: list[dict[str, Any]]) -> None:
        table = target.table
        columns = [n for n in changes[0] if n != "row_id"]
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({n: bindparam(n) for n in columns})
        )
        connection.execute(statement, changes)

    def _checkpoint(self, target: Target) -> int:
        if self._redis is None:
            return 0
        saved = self._redis.hget(CHECKPOINT_KEY, target.table.name)
        if not isinstance(saved, bytes):
            return 0
        ids, _, last = saved.decode().rpartition(":")
        return int(last) if ids == self._target_ids and last.isdigit() else 0

    def _save_checkpoint(self, target: Target, last_id: int) -> None:
        if self._redis is not None:
            self._redis.hset(CHECKPOINT_KEY, target.table.name, f"{self._target_ids}:{last_id}")


def _keep_duplicates_apart(
    connection: Connection,
    rows: Sequence[Row[Any]],
    changes: list[dict[str, Any]],
    report: TableReport,
) -> None:
    """A resident whose new ID index another resident already holds keeps its old one (the
    unique index would refuse the batch) and is reported: the same person, twice. One query
    per batch."""
    old = {row.id: row for row in rows}
    moving = {c["id_index"]: c for c in changes if c["id_index"] != old[c["row_id"]].id_index}
    if not moving:
        return
    held = connection.execute(
        select(Resident.id, Resident.public_id, Resident.id_index).where(
            Resident.id_index.in_(list(moving))
        )
    ).all()
    for holder in held:
        change = moving[holder.id_index]
        if holder.id == change["row_id"]:
            continue
        mine = old[change["row_id"]]
        change["id_index"] = mine.id_index
        report.reindexed -= 1
        report.duplicates += [mine.public_id, holder.public_id]


def _sandbox_of(connection: Connection, resident_id: int) -> str | None:
    """The review sandbox a synthetic resident belongs to: its reviewer account's."""
    return connection.execute(
        select(Account.public_id)
        .join(AccountResident, AccountResident.account_id == Account.id)
        .where(AccountResident.resident_id == resident_id, Account.platform == REVIEW_PLATFORM)
        .limit(1)
    ).scalar_one_or_none()

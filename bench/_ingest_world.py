"""The screening world of ``bench/ingest.py``, loaded with ``COPY``: residents, accounts, tubes.

What sampling would have left behind on a busy morning: one round, sites sending to one lab,
a staff member per site, closed tubes of ``capacity`` people and one sampling per person.
Every resident is the ``self`` of one account (WeChat or Alipay), and a share of them is also
held as a dependent by another resident's account, so that fan-out writes an outbox row per
(person result, account). Residents are synthetic: their encrypted fields are a few fixed
ciphertexts (made with the bench's data key, so they decrypt), their ids and codes random.

Rows are written with ``COPY ... FROM STDIN`` in text format, ids chosen here (and the
sequences moved past them), then ``ANALYZE`` and a ``CHECKPOINT``, so that the timed phases
neither plan on empty statistics nor pay for the set-up's WAL.
"""

from __future__ import annotations

import base64
import os
import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from miniapp_api.residents.records import ID_PURPOSE, NAME_PURPOSE
from miniapp_api.sampling.setup import LAB_SECRET_PURPOSE
from miniapp_api.security.crypto import PersonalDataCrypto

CHUNK_ROWS = 50_000  # rows per ``copy.write``: a few MB of text
SITE_PEOPLE = 5_000  # people sampled per site (500 tubes of 10)
SURNAMES = "张王李赵陈刘杨黄周吴"
COMMUNITIES = ("联洋", "花木", "金杨", "洋泾", "塘桥", "潍坊", "陆家嘴", "周家渡", "上钢", "东明")
# Names of the round and the sites go into every read-model entry and every push payload.
NAME_STYLES = {
    # As the city would name them (UTF-8: 3 bytes a character).
    "zh": ("2022-03-16 浦东新区", lambda i: f"{COMMUNITIES[i % 10]}社区 {i // 10 + 1}号点"),
    # As the tests name them.
    "ascii": ("2022-03-16 Pudong", lambda i: f"Pudong Site {i + 1:03d}"),
}


@dataclass(frozen=True)
class WorldSpec:
    tubes: int  # tubes the in-process phase ingests: ids 1 .. tubes
    http_tubes: int  # tubes of the HTTP sample: the ids after those
    capacity: int
    dependent_share: float  # share of residents also held by another resident's account
    names: str  # a key of NAME_STYLES

    @property
    def all_tubes(self) -> int:
        return self.tubes + self.http_tubes

    @property
    def residents(self) -> int:
        return self.all_tubes * self.capacity

    @property
    def dependents(self) -> int:
        """Residents 1, 1 + step, ... are dependents of the next resident's account."""
        step = self.dependent_step
        return 0 if step == 0 else len(range(1, self.residents, step))

    @property
    def dependent_step(self) -> int:
        return 0 if self.dependent_share <= 0 else max(1, round(1 / self.dependent_share))

    @property
    def sites(self) -> int:
        return max(1, self.residents // SITE_PEOPLE)


@dataclass(frozen=True)
class World:
    spec: WorldSpec
    lab_pk: int
    lab_id: str
    lab_secret: str
    round_name: str
    tested_at: datetime  # what the lab reports (before now, after every sampling)


def tube_no(tube_id: int) -> str:
    return f"T{tube_id:09d}"


def build(
    conninfo: str, crypto: PersonalDataCrypto, spec: WorldSpec, say: Callable[[str], None]
) -> World:
    now = datetime.now(UTC).replace(microsecond=0)
    round_name, site_name = NAME_STYLES[spec.names]
    lab_id, lab_secret = "lab_" + secrets.token_hex(6), secrets.token_urlsafe(32)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            lab_pk = _small_rows(conn, crypto, spec, now, lab_id, lab_secret, round_name, site_name)
        blobs = _dummy_blobs(crypto)
        loads = (
            ("residents", _residents(spec, now, blobs)),
            ("accounts", _accounts(spec, now)),
            ("account_residents", _holdings(spec, now)),
            ("tubes", _tubes(spec, now, lab_pk)),
            ("samplings", _samplings(spec, now)),
        )
        _skip_foreign_key_checks(conn, say)
        conn.execute("SET maintenance_work_mem = '256MB'")
        with _secondary_indexes_dropped(conn, [t for t, _ in loads], say):
            for table, (columns, chunks) in loads:
                started = time.monotonic()
                with conn.transaction(), conn.cursor() as cur:
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for chunk in chunks:
                            copy.write(chunk)
                    rows = cur.rowcount
                say(f"    {table:<18} {rows:>10,} rows  {time.monotonic() - started:5.1f}s")
        conn.execute("RESET session_replication_role")
        started = time.monotonic()
        for table in ("labs", "screening_rounds", "sites", "staff", *(t for t, _ in loads)):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        conn.execute("ANALYZE")
        conn.execute("CHECKPOINT")
        say(f"    ANALYZE, CHECKPOINT          {time.monotonic() - started:5.1f}s")
    # After every sampling (scanned up to an hour ago), not in the future.
    return World(spec, lab_pk, lab_id, lab_secret, round_name, now - timedelta(minutes=10))


def _skip_foreign_key_checks(conn: psycopg.Connection, say: Callable[[str], None]) -> None:
    """The rows are consistent by construction: load them without a foreign-key lookup per
    row (``session_replication_role = replica`` turns the FK triggers off; superuser only)."""
    try:
        conn.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        say("    (not a superuser: foreign keys are checked row by row, set-up is slower)")


@contextmanager
def _secondary_indexes_dropped(
    conn: psycopg.Connection, tables: list[str], say: Callable[[str], None]
) -> Iterator[None]:
    """Drop the unique constraints and indexes of ``tables`` other than the primary keys (and
    than those a foreign key depends on), and build them again afterwards: one sort per index
    instead of a million random B-tree inserts. Read from the catalog, so indexes the app adds
    later are handled the same way."""
    constraints = conn.execute(
        "SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c WHERE c.contype = 'u' AND c.conrelid = ANY(%s::regclass[])"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint f"
        "  WHERE f.contype = 'f' AND f.conindid = c.conindid)",
        (tables,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (tables,),
    ).fetchall()
    for name, table, _ in constraints:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    yield
    started = time.monotonic()
    for name, table, definition in constraints:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        conn.execute(definition)
    count = len(constraints) + len(indexes)
    say(f"    {count} unique constraints and indexes built {time.monotonic() - started:5.1f}s")


def _small_rows(
    conn: psycopg.Connection,
    crypto: PersonalDataCrypto,
    spec: WorldSpec,
    now: datetime,
    lab_id: str,
    lab_secret: str,
    round_name: str,
    site_name: Callable[[int], str],
) -> int:
    """The lab (its secret encrypted as ``miniapp labs create`` does), round, sites, staff."""
    lab_pk = conn.execute(
        "INSERT INTO labs (id, lab_id, name, secret_enc, created_at)"
        " VALUES (1, %s, 'Bench Lab', %s, %s) RETURNING id",
        (lab_id, crypto.encrypt(LAB_SECRET_PURPOSE, lab_secret), now),
    ).fetchone()
    assert lab_pk is not None
    conn.execute(
        "INSERT INTO screening_rounds (id, public_id, name, opened_at) VALUES (1, %s, %s, %s)",
        ("rd_" + secrets.token_urlsafe(12), round_name, now - timedelta(hours=8)),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sites (id, public_id, name, lab_id) VALUES (%s, %s, %s, %s)",
            [
                (i + 1, "st_" + secrets.token_urlsafe(12), site_name(i), lab_pk[0])
                for i in range(spec.sites)
            ],
        )
        cur.executemany(
            "INSERT INTO staff (id, username, password_hash, site_id, active, created_at)"
            " VALUES (%s, %s, 'x', %s, true, %s)",
            [(i + 1, f"bench.staff{i + 1}", i + 1, now) for i in range(spec.sites)],
        )
    return int(lab_pk[0])


def _dummy_blobs(crypto: PersonalDataCrypto) -> dict[str, list[str]]:
    """A few real ciphertexts per field, as COPY text (``\\x`` hex, backslash escaped)."""

    def as_copy(blob: bytes) -> str:
        return "\\\\x" + blob.hex()

    return {
        "id": [as_copy(crypto.encrypt(ID_PURPOSE, f"31011519800101{i:03d}X")) for i in range(4)],
        "name": [as_copy(crypto.encrypt(NAME_PURPOSE, f"{s}三")) for s in SURNAMES[:4]],
    }


def _random_ids(count: int, prefix: str) -> list[str]:
    """``count`` ids of the app's shape (``r_`` + 16 URL-safe characters), from one urandom."""
    raw = base64.urlsafe_b64encode(os.urandom(12 * count)).decode()
    return [prefix + raw[i : i + 16] for i in range(0, 16 * count, 16)]


def _chunked(lines: Iterator[str]) -> Iterator[bytes]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == CHUNK_ROWS:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


Load = tuple[tuple[str, ...], Iterator[bytes]]


def _residents(spec: WorldSpec, now: datetime, blobs: dict[str, list[str]]) -> Load:
    columns = (
        "id",
        "public_id",
        "id_type",
        "id_index",
        "id_enc",
        "id_masked",
        "name_enc",
        "name_masked",
        "created_at",
        "updated_at",
    )
    public_ids, stamp = _random_ids(spec.residents, "r_"), now.isoformat()

    def lines() -> Iterator[str]:
        for i, public_id in enumerate(public_ids, start=1):
            yield (
                f"{i}\t{public_id}\tcn_id\t{i:064x}\t{blobs['id'][i % 4]}\t"
                f"310***********{i % 10_000:04d}\t{blobs['name'][i % 4]}\t{SURNAMES[i % 10]}*\t"
                f"{stamp}\t{stamp}\n"
            )

    return columns, _chunked(lines())


def _accounts(spec: WorldSpec, now: datetime) -> Load:
    """One account per resident (its self): 7 in 10 WeChat, the others Alipay."""
    columns = ("id", "public_id", "platform", "app_id", "subject", "created_at", "last_login_at")
    public_ids, subjects = _random_ids(spec.residents, "a_"), _random_ids(spec.residents, "")
    stamp = now.isoformat()

    def lines() -> Iterator[str]:
        for i, public_id in enumerate(public_ids, start=1):
            if i % 10 < 7:  # an openid: 28 characters starting with "o"
                platform, app_id, subject = (
                    "wechat",
                    "wxbench00000001",
                    f"o{subjects[i - 1]}{i:011d}",
                )
            else:  # an Alipay user id: "2088" + 12 digits
                platform, app_id, subject = "alipay", "2021000000000001", f"2088{i:012d}"
            yield f"{i}\t{public_id}\t{platform}\t{app_id}\t{subject}\t{stamp}\t{stamp}\n"

    return columns, _chunked(lines())


def _holdings(spec: WorldSpec, now: datetime) -> Load:
    """Account i holds resident i as self; every ``dependent_step``-th resident is also held
    by the next resident's account as a dependent (a child or an elderly relative)."""
    columns = (
        "id",
        "public_id",
        "account_id",
        "resident_id",
        "relation",
        "proxy_reason",
        "created_at",
    )
    stamp, step = now.isoformat(), spec.dependent_step
    public_ids = iter(_random_ids(spec.residents + spec.dependents, "h_"))

    def lines() -> Iterator[str]:
        for i in range(1, spec.residents + 1):
            yield f"{i}\t{next(public_ids)}\t{i}\t{i}\tself\t\\N\t{stamp}\n"
        if step:
            for n, i in enumerate(range(1, spec.residents, step), start=spec.residents + 1):
                yield f"{n}\t{next(public_ids)}\t{i + 1}\t{i}\tdependent\telderly\t{stamp}\n"

    return columns, _chunked(lines())


def _scanned_at(spec: WorldSpec, now: datetime, tube_id: int) -> datetime:
    """Tubes filled one after the other over the morning (7 hours, ending an hour ago)."""
    start = now - timedelta(hours=8)
    return start + timedelta(seconds=7 * 3600 * (tube_id - 1) / spec.all_tubes)


def _tubes(spec: WorldSpec, now: datetime, lab_pk: int) -> Load:
    columns = (
        "id",
        "tube_no",
        "round_id",
        "site_id",
        "lab_id",
        "capacity",
        "bound_count",
        "opened_at",
        "closed_at",
    )

    def lines() -> Iterator[str]:
        for t in range(1, spec.all_tubes + 1):
            opened = _scanned_at(spec, now, t)
            closed = opened + timedelta(minutes=5)
            site = (t - 1) % spec.sites + 1
            yield (
                f"{t}\t{tube_no(t)}\t1\t{site}\t{lab_pk}\t{spec.capacity}\t{spec.capacity}\t"
                f"{opened.isoformat()}\t{closed.isoformat()}\n"
            )

    return columns, _chunked(lines())


def _samplings(spec: WorldSpec, now: datetime) -> Load:
    """``capacity`` people per tube, the people of a tube drawn at random (no family order)."""
    columns = (
        "id",
        "round_id",
        "resident_id",
        "tube_id",
        "site_id",
        "staff_id",
        "code_id",
        "scanned_at",
        "created_at",
    )
    people = list(range(1, spec.residents + 1))
    random.Random(16).shuffle(people)
    codes = _random_ids(spec.residents, "")

    def lines() -> Iterator[str]:
        s = 0
        for t in range(1, spec.all_tubes + 1):
            scanned = _scanned_at(spec, now, t).isoformat()
            site = (t - 1) % spec.sites + 1
            for _ in range(spec.capacity):
                yield (
                    f"{s + 1}\t1\t{people[s]}\t{t}\t{site}\t{site}\t{codes[s][:12]}\t"
                    f"{scanned}\t{scanned}\n"
                )
                s += 1

    return columns, _chunked(lines())

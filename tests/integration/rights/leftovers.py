"""Look for values everywhere: every column of every table, every Redis key (names and values).

The database side asks information_schema for every column of every table and sends one
query per column and value: ``strpos`` on the column as text (any type: text, JSON, dates...)
for text values, and ``position`` in ``bytea`` columns for byte values (ciphertexts) and for
the UTF-8 of text values. A byte value is also looked for in text columns as hex and base64,
in case a ciphertext was written there as text. The Redis side SCANs every key of the database
and reads each whole, whatever its type.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from sqlalchemy import Engine, text


@dataclass
class Needle:
    label: str  # what the value is, e.g. "self id_enc"; never the value itself
    value: str | bytes


@dataclass
class Found:
    where: str  # "table.column" or "redis:<key>"
    label: str


@dataclass
class Report:
    tables: int = 0
    columns: int = 0
    rows: int = 0
    redis_keys: int = 0
    matches: list[Found] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"scanned {self.tables} tables ({self.columns} columns, {self.rows} rows) and "
            f"{self.redis_keys} Redis keys for the values: {len(self.matches)} matches"
        )


def scan_database(engine: Engine, needles: Iterable[Needle], report: Report) -> None:
    wanted = list(needles)
    with engine.connect() as connection:
        columns = connection.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name IN (SELECT table_name FROM "
                "information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE') ORDER BY table_name, ordinal_position"
            )
        ).all()
        tables = sorted({table for table, _, _ in columns})
        report.tables += len(tables)
        report.columns += len(columns)
        for table in tables:
            count = connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()  # noqa: S608
            report.rows += int(count)
        for table, column, data_type in columns:
            for needle in wanted:
                for probe in _probes(needle, binary=data_type == "bytea"):
                    if connection.execute(text(probe.sql(table, column)), probe.params).scalar():
                        report.matches.append(Found(f"{table}.{column}", needle.label))
                        break


@dataclass
class _Probe:
    condition: str
    params: dict[str, object]

    def sql(self, table: str, column: str) -> str:
        where = self.condition.format(column=f'"{column}"')
        return f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE {where})'  # noqa: S608


def _probes(needle: Needle, *, binary: bool) -> list[_Probe]:
    value = needle.value
    if binary:
        raw = value if isinstance(value, bytes) else value.encode()
        return [_Probe("position(CAST(:v AS bytea) IN {column}) > 0", {"v": raw})]
    if isinstance(value, bytes):
        forms = [value.hex(), base64.b64encode(value).decode(), base64.urlsafe_b64encode(value)]
        texts = [f if isinstance(f, str) else f.decode() for f in forms]
        texts += [t.rstrip("=") for t in texts]
    else:
        texts = [value]
    return [_Probe("strpos(CAST({column} AS text), :v) > 0", {"v": t}) for t in texts]


def scan_redis(client: redis.Redis, needles: Iterable[Needle], report: Report) -> None:
    wanted = [
        (n.label, n.value if isinstance(n.value, bytes) else n.value.encode()) for n in needles
    ]
    for key in client.scan_iter(count=1000):
        report.redis_keys += 1
        blobs = [key, *_values(client, key)]
        for label, value in wanted:
            if any(value in blob for blob in blobs):
                report.matches.append(Found(f"redis:{key!r}", label))


def _values(client: redis.Redis, key: bytes) -> list[bytes]:
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        return [client.get(key) or b""]
    if kind == "hash":
        return [part for k, v in client.hgetall(key).items() for part in (k, v)]
    if kind == "set":
        return list(client.smembers(key))
    if kind == "list":
        return list(client.lrange(key, 0, -1))
    if kind == "zset":
        return [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
    if kind == "stream":
        return [
            part for _, fields in client.xrange(key) for k, v in fields.items() for part in (k, v)
        ]
    return []  # expired between SCAN and TYPE

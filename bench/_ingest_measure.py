"""What ``bench/ingest.py`` measures besides the service: the COPY baseline, the read model's
Redis memory, and what ingest left in the database (checked against what it should be)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import redis

CHUNK_ROWS = 50_000
BEIJING = timezone(timedelta(hours=8))


# --- the COPY baseline ------------------------------------------------------------------------
def copy_rows(conninfo: str, rows: int, residents: int, *, indexed: bool) -> float:
    """Seconds to COPY ``rows`` rows of ``person_results``' shape into a new table, without
    indexes or with ``person_results``' indexes. The text is made before the clock starts, so
    the time is the server's (and the socket's); the commit is timed, the table dropped."""
    table = "bench_copy_indexed" if indexed else "bench_copy_bare"
    like = "LIKE person_results INCLUDING INDEXES" if indexed else "LIKE person_results"
    tested = datetime.now(BEIJING).replace(microsecond=0).isoformat()
    chunks = [
        "".join(
            f"{s}\t{s}\t{s * 7919 % residents + 1}\t{(s - 1) // 10 + 1}\tnegative\t"
            f"{tested}\t{tested}\n"
            for s in range(start, min(rows + 1, start + CHUNK_ROWS))
        ).encode()
        for start in range(1, rows + 1, CHUNK_ROWS)
    ]
    sql = (
        f"COPY {table} (id, sampling_id, resident_id, tube_id, state, tested_at, updated_at)"
        " FROM STDIN"
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} ({like})")
        try:
            started = time.monotonic()
            with conn.transaction(), conn.cursor() as cur, cur.copy(sql) as copy:
                for chunk in chunks:
                    copy.write(chunk)
            return time.monotonic() - started
        finally:
            conn.execute(f"DROP TABLE {table}")
            # Neither phase pays for the other's WAL.
            conn.execute("CHECKPOINT")


# --- Redis ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    keys: int  # resident hashes (results:*)
    memory_usage: float  # mean MEMORY USAGE of the sampled keys
    encodings: Counter[str]
    value_bytes: tuple[int, int]  # shortest and longest field value sampled


class RedisDb:
    """The bench's Redis database (flushed before and after the run)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=30)

    def flush(self) -> None:
        client = self._client()
        try:
            client.flushdb(asynchronous=True)  # ASYNC: 1M keys must not block others
        finally:
            client.close()

    def used_memory(self) -> int:
        """``used_memory`` of INFO memory: the whole server's, other databases included."""
        client = self._client()
        try:
            return int(client.info("memory")["used_memory"])
        finally:
            client.close()

    def sample(self, count: int = 1000) -> Sample:
        """How many resident hashes, and a look at ``count`` random keys: a per-key figure
        that other databases' traffic cannot disturb."""
        client = self._client()
        try:
            # Resident hashes only: the read model also keeps one names map (round/site ids).
            keys = sum(1 for _ in client.scan_iter(match="results:*", count=10_000))
            pipe = client.pipeline(transaction=False)
            for _ in range(count):
                pipe.randomkey()
            # Result hashes only, not the names map.
            names = [k for k in pipe.execute() if k is not None and k.startswith(b"results:")]
            for name in names:
                pipe.memory_usage(name, samples=0)
                pipe.object("encoding", name)
                pipe.hvals(name)
            answers = pipe.execute()
        finally:
            client.close()
        usages = [int(u or 0) for u in answers[0::3]]
        encodings = Counter(e.decode() if isinstance(e, bytes) else str(e) for e in answers[1::3])
        lengths = [len(v) for values in answers[2::3] for v in values] or [0]
        mean = sum(usages) / len(usages) if usages else 0.0
        return Sample(keys, mean, encodings, (min(lengths), max(lengths)))


# --- the database after ingest ----------------------------------------------------------------
def database_counts(conninfo: str, tubes: int) -> dict[str, Any]:
    """What ingest left for tubes ``1 .. tubes``, and the outbox rows it should have written
    (one per person and account holding them)."""
    with psycopg.connect(conninfo) as conn:

        def one(sql: str, *params: Any) -> int:
            row = conn.execute(sql, params).fetchone()
            return int(row[0]) if row else 0

        states = dict(
            conn.execute(
                "SELECT state, count(*) FROM person_results WHERE tube_id <= %s GROUP BY state",
                (tubes,),
            ).fetchall()
        )
        return {
            "tube_results": one("SELECT count(*) FROM tube_results WHERE tube_id <= %s", tubes),
            "person_results": sum(states.values()),
            "states": states,
            "outbox": one(
                "SELECT count(*) FROM outbox o JOIN person_results p ON p.id = o.person_result_id"
                " WHERE p.tube_id <= %s",
                tubes,
            ),
            "outbox_expected": one(
                "SELECT count(*) FROM samplings s JOIN account_residents ar"
                " ON ar.resident_id = s.resident_id WHERE s.tube_id <= %s",
                tubes,
            ),
            "requests_done": one("SELECT count(*) FROM lab_requests WHERE status = 'done'"),
        }

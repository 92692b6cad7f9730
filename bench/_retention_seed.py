"""The expired half of ``bench/retention.py``'s world: results tested long ago, with their tubes
and samplings, written by SQL set operations (``INSERT ... SELECT generate_series``) in a few
statements, on top of the morning ``bench/_ingest_world.py`` loaded.

``rows`` person results in closed tubes of ``capacity``, each tube with its (negative) tube
result, each person's sampling in one of a few old rounds (a resident is sampled once per
round, so a round holds at most every resident once), all tested ``age_days`` ago, spread
over a morning. Ids continue after the world's; sequences are moved past them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Expired:
    people: int  # person results (and samplings)
    tubes: int  # tubes and tube results
    rounds: int

    @property
    def rows(self) -> int:
        """Every row the purge deletes for them."""
        return 2 * self.people + self.tubes


def seed(
    conninfo: str,
    *,
    rows: int,
    capacity: int,
    residents: int,
    sites: int,
    lab_pk: int,
    age_days: int,
    say: Callable[[str], None],
) -> Expired:
    tubes = -(-rows // capacity)
    people = tubes * capacity
    # Whole tubes per round: a round holds at most every resident once.
    per_round = (residents // capacity) * capacity
    rounds = -(-people // per_round)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        base = {
            table: conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # type: ignore[index]  # noqa: S608
            for table in (
                "screening_rounds",
                "tubes",
                "samplings",
                "tube_results",
                "person_results",
            )
        }
        params = {
            "cap": capacity,
            "residents": residents,
            "per_round": per_round,
            "sites": sites,
            "lab": lab_pk,
            "age": f"{age_days} days",
            "r0": base["screening_rounds"],
            "t0": base["tubes"],
            "s0": base["samplings"],
            "tr0": base["tube_results"],
            "p0": base["person_results"],
            "tubes": tubes,
            "people": people,
            "rounds": rounds,
        }
        # The set-up's own writes need no foreign-key lookup per row (superuser only).
        conn.execute("SET session_replication_role = replica")
        steps = (
            (
                "screening_rounds",
                "INSERT INTO screening_rounds (id, public_id, name, opened_at, closed_at)"
                " SELECT %(r0)s + g, 'rd_old' || g, 'expired round ' || g,"
                "  now() - %(age)s::interval - interval '8 hours',"
                "  now() - %(age)s::interval FROM generate_series(1, %(rounds)s) g",
            ),
            (
                "tubes",
                "INSERT INTO tubes (id, tube_no, round_id, site_id, lab_id, capacity, bound_count,"
                " opened_at, closed_at)"
                " SELECT %(t0)s + g, 'X' || lpad(g::text, 9, '0'),"
                "  %(r0)s + 1 + ((g - 1) * %(cap)s) / %(per_round)s, 1 + g %% %(sites)s, %(lab)s,"
                "  %(cap)s, %(cap)s, now() - %(age)s::interval - interval '8 hours',"
                "  now() - %(age)s::interval - interval '7 hours'"
                " FROM generate_series(1, %(tubes)s) g",
            ),
            (
                "samplings",
                "INSERT INTO samplings (id, round_id, resident_id, tube_id, site_id, staff_id,"
                " code_id, scanned_at, created_at)"
                " SELECT %(s0)s + g, %(r0)s + 1 + (g - 1) / %(per_round)s,"
                "  1 + (g - 1) %% %(per_round)s, %(t0)s + 1 + (g - 1) / %(cap)s,"
                "  1 + (1 + (g - 1) / %(cap)s) %% %(sites)s,"
                "  1 + (1 + (g - 1) / %(cap)s) %% %(sites)s,"
                "  left(md5(g::text), 12), t.at, t.at"
                " FROM generate_series(1, %(people)s) g,"
                "  LATERAL (SELECT now() - %(age)s::interval - interval '7 hours'"
                "   + (g * interval '6 hours') / %(people)s AS at) t",
            ),
            (
                "tube_results",
                "INSERT INTO tube_results (id, tube_id, lab_id, result, tested_at, received_at)"
                " SELECT %(tr0)s + g, %(t0)s + g, %(lab)s, 'negative', t.at, t.at"
                " FROM generate_series(1, %(tubes)s) g,"
                "  LATERAL (SELECT now() - %(age)s::interval"
                "   + (g * interval '6 hours') / %(tubes)s AS at) t",
            ),
            (
                "person_results",
                "INSERT INTO person_results (id, sampling_id, resident_id, tube_id, state,"
                " tested_at, updated_at)"
                " SELECT %(p0)s + (s.id - %(s0)s), s.id, s.resident_id, s.tube_id, 'negative',"
                "  r.tested_at, r.tested_at"
                " FROM samplings s JOIN tube_results r ON r.tube_id = s.tube_id"
                " WHERE s.id > %(s0)s",
            ),
        )
        for table, statement in steps:
            started = time.monotonic()
            count = conn.execute(statement, params).rowcount
            say(f"    expired {table:<16} {count:>10,} rows  {time.monotonic() - started:5.1f}s")
        conn.execute("RESET session_replication_role")
        started = time.monotonic()
        for table in base:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        conn.execute("ANALYZE")
        conn.execute("CHECKPOINT")
        say(f"    ANALYZE, CHECKPOINT          {time.monotonic() - started:5.1f}s")
    return Expired(people, tubes, rounds)

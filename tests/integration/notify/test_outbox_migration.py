"""Migration 0005 (id-only outbox rows) keeps queued messages, on PostgreSQL and on SQLite.

The rows are written with SQL at revision 0004, the schema they had then: the models describe
the newest schema, not that one. ``database_url`` (tests/integration/conftest.py) is a scratch
database of each kind.
"""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from miniapp_api.migrate import downgrade, upgrade
from tests.support.sql import rows

WORLD = [
    "INSERT INTO accounts (id, public_id, platform, app_id, subject, created_at, last_login_at)"
    " VALUES (7, 'a_7', 'wechat', 'wx-app', 'o-seven', :now, :now)",
    "INSERT INTO residents (id, public_id, id_type, id_index, id_enc, id_masked, name_enc,"
    " name_masked, created_at, updated_at) VALUES (3, 'r_3', 'cn_id', 'i3', :blob,"
    " '310***********1234', :blob, '张*', :now, :now)",
    "INSERT INTO screening_rounds (id, public_id, name, opened_at, closed_at)"
    " VALUES (1, 'rd_1', '2022-03-16 浦东', :now, :now)",
    "INSERT INTO sites (id, public_id, name) VALUES (1, 'st_1', '浦东 1 号点')",
    "INSERT INTO staff (id, username, password_hash, site_id, active, created_at)"
    " VALUES (1, 'staff-1', '-', 1, true, :now)",
    "INSERT INTO tubes (id, tube_no, round_id, site_id, capacity, bound_count, opened_at)"
    " VALUES (5, 'T0005', 1, 1, 1, 1, :now)",
    "INSERT INTO samplings (id, round_id, resident_id, tube_id, site_id, staff_id, code_id,"
    " scanned_at, created_at) VALUES (1, 1, 3, 5, 1, 1, 'c1', :now, :now)",
    "INSERT INTO person_results (id, sampling_id, resident_id, tube_id, state, tested_at,"
    " updated_at) VALUES (11, 1, 3, 5, 'negative', '2022-03-16 07:01:00+00:00', :now)",
    "INSERT INTO outbox (id, dedupe_key, person_result_id, account_id, status, payload,"
    " attempts, next_attempt_at, created_at)"
    " VALUES (1, 'result:11:7:2', 11, 7, 'pending', '{}', 0, :now, :now)",
]


def test_queued_messages_keep_their_version_both_ways(database_url: str) -> None:
    upgrade(database_url, "0004")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for statement in WORLD:
            connection.execute(text(statement), {"now": "2022-03-16 08:00:00+00:00", "blob": b"-"})
    engine.dispose()

    upgrade(database_url)
    assert rows(database_url, "SELECT person_result_id, account_id, version FROM outbox") == [
        (11, 7, 2)
    ]

    downgrade(database_url, "0004")
    [(key, payload)] = rows(database_url, "SELECT dedupe_key, payload FROM outbox")
    assert key == "result:11:7:2"
    assert (json.loads(payload) if isinstance(payload, str) else payload) == {
        "kind": "result",
        "platform": "wechat",
        "recipient": "o-seven",
        "resident_id": "r_3",
        "resident_name_masked": "张*",
        "state": "negative",
        "tested_at": "2022-03-16T07:01:00+00:00",
        "tube_no": "T0005",
        "round": "2022-03-16 浦东",
        "site": "浦东 1 号点",
        "version": 2,
    }
    upgrade(database_url)

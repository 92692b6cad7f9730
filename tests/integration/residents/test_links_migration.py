"""Migration 0006 (identity trust) keeps every existing link, on PostgreSQL and on SQLite.

Links written at revision 0005 get a public id each, stay unverified claims, and existing
dependents are recorded as held for ``unable`` (the old endpoint asked no reason). The rows are
written with SQL in the schema of 0005; ``database_url`` is a scratch database of each kind.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text

from miniapp_api.migrate import downgrade, upgrade
from tests.support.sql import rows

WORLD = [
    "INSERT INTO accounts (id, public_id, platform, app_id, subject, created_at, last_login_at)"
    " VALUES (7, 'a_7', 'wechat', 'wx-app', 'o-seven', :now, :now)",
    "INSERT INTO residents (id, public_id, id_type, id_index, id_enc, id_masked, name_enc,"
    " name_masked, created_at, updated_at) VALUES (3, 'r_3', 'cn_id', 'i3', :blob,"
    " '310***********1234', :blob, '张*', :now, :now)",
    "INSERT INTO residents (id, public_id, id_type, id_index, id_enc, id_masked, name_enc,"
    " name_masked, created_at, updated_at) VALUES (4, 'r_4', 'cn_id', 'i4', :blob,"
    " '310***********5678', :blob, '李*英', :now, :now)",
    "INSERT INTO account_residents (id, account_id, resident_id, relation, created_at)"
    " VALUES (1, 7, 3, 'self', :now), (2, 7, 4, 'dependent', :now)",
]


def test_existing_links_get_ids_and_stay_unverified_both_ways(database_url: str) -> None:
    upgrade(database_url, "0005")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for statement in WORLD:
            connection.execute(text(statement), {"now": "2022-03-16 08:00:00+00:00", "blob": b"-"})
    engine.dispose()

    upgrade(database_url)
    links = rows(
        database_url,
        "SELECT id, public_id, relation, verified_at, proxy_reason FROM account_residents"
        " ORDER BY id",
    )
    assert [(r[0], r[2], r[3], r[4]) for r in links] == [
        (1, "self", None, None),
        (2, "dependent", None, "unable"),
    ]
    public_ids = [r[1] for r in links]
    assert all(p.startswith("h_") for p in public_ids)
    assert len(set(public_ids)) == 2

    downgrade(database_url, "0005")
    assert rows(database_url, "SELECT id, relation FROM account_residents ORDER BY id") == [
        (1, "self"),
        (2, "dependent"),
    ]

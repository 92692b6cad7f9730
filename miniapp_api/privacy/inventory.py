"""Every column of every table, classified: personal (what for, on which legal basis, how long,
who receives it, how it is protected) or not personal (and why not).

``tests/unit/test_data_inventory.py`` compares this with the models' metadata, both ways, so a
new column fails the tests until it is classified here and a dropped one until it is removed.
Nothing here imports the models: the legal pages read this without the database.

A column is personal when its value says something about an identifiable person (PIPL Art. 4),
pseudonymous ids included. Surrogate keys and foreign keys are not: they never leave the
database, and what they reach is classified in its own table. Every personal column of a table
about residents is marked sensitive as a child's (``Sensitive.MINOR``): dependants of any age
are residents, and a child under 14's personal information is sensitive (PIPL Art. 28).
"""

from __future__ import annotations

from miniapp_api.privacy.columns import Column, Table
from miniapp_api.privacy.logs import LOG_FIELDS, LogField
from miniapp_api.privacy.people import (
    ACCOUNT_RESIDENTS,
    ACCOUNTS,
    CONSENTS_TABLE,
    LINK_REQUESTS,
    NOTICES,
    REGISTRATION_CODES,
    RESIDENTS,
    SUBSCRIPTIONS,
)
from miniapp_api.privacy.redis_keys import REDIS_FAMILIES, RedisFamily
from miniapp_api.privacy.screening import (
    AUDIT_ANCHORS,
    AUDIT_EVENTS,
    LAB_REQUESTS,
    LABS,
    OUTBOX,
    PERSON_RESULTS,
    RETENTION_PROGRESS,
    SAMPLINGS,
    SCAN_RECEIPTS,
    SCREENING_ROUNDS,
    SITES,
    STAFF_TABLE,
    TUBE_RESULT_AMENDMENTS,
    TUBE_RESULTS,
    TUBES,
)
from miniapp_api.privacy.terms import Personal

TABLES: tuple[Table, ...] = (
    ACCOUNTS,
    RESIDENTS,
    ACCOUNT_RESIDENTS,
    CONSENTS_TABLE,
    LINK_REQUESTS,
    NOTICES,
    REGISTRATION_CODES,
    SUBSCRIPTIONS,
    SAMPLINGS,
    PERSON_RESULTS,
    TUBE_RESULTS,
    TUBE_RESULT_AMENDMENTS,
    OUTBOX,
    STAFF_TABLE,
    SCAN_RECEIPTS,
    LABS,
    LAB_REQUESTS,
    SCREENING_ROUNDS,
    SITES,
    TUBES,
    AUDIT_EVENTS,
    AUDIT_ANCHORS,
    RETENTION_PROGRESS,
)


def personal_columns() -> list[tuple[str, Column, Personal]]:
    """(table, column, its classification) of every personal column."""
    return [
        (table.name, column, column.use)
        for table in TABLES
        for column in table.columns
        if isinstance(column.use, Personal)
    ]


__all__ = ["LOG_FIELDS", "REDIS_FAMILIES", "TABLES", "LogField", "RedisFamily", "personal_columns"]

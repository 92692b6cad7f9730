"""Whether the database's schema is the one this code was written for (``/readyz``).

The rule (README, "Migrations and deploys"): expand, deploy, contract. An additive migration
runs before the code that needs it is deployed, so a node may find the database *ahead* of its
own newest migration (ready: the old code still works on the expanded schema), but never
*behind* it (not ready: the code would query columns that are not there yet).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

# The Alembic scripts (``miniapp_api/migrate.py`` runs them). Found by path: the migrations
# layer sits above ops, and only the scripts' revision ids are read here, never their code.
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


@dataclass(frozen=True)
class CodeRevisions:
    """What this code knows: its newest revision and every revision of its history."""

    head: str
    known: frozenset[str]


@dataclass(frozen=True)
class SchemaStatus:
    """The comparison of the database's revision with the code's, for a readiness check."""

    ready: bool
    summary: str  # "ok", "behind (db 0010, code 0011)", "ahead (db 0012, code 0011)"


@functools.cache
def code_revisions() -> CodeRevisions:
    """The code's revisions, read once per process from the scripts (they cannot change
    under a running process: a deploy restarts it)."""
    scripts = ScriptDirectory(str(MIGRATIONS))
    heads = scripts.get_heads()
    if len(heads) != 1:  # a merge migration is missing: a bug of the code, not of the database
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return CodeRevisions(heads[0], frozenset(r.revision for r in scripts.walk_revisions()))


def database_revisions(connection: Connection) -> frozenset[str]:
    """The revisions recorded in the database's ``alembic_version`` (one query). Raises the
    driver's error when the table is missing (a database never migrated)."""
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return frozenset(str(row[0]) for row in rows)


def compare(database: frozenset[str], code: CodeRevisions) -> SchemaStatus:
    """Ready when the database is at the code's head or at a revision the code does not know
    (a newer deploy's expand step ran first); not ready when it is behind, or empty."""
    shown = ",".join(sorted(database)) or "none"
    if database == {code.head}:
        return SchemaStatus(True, "ok")
    if database and not database <= code.known:
        return SchemaStatus(True, f"ahead (db {shown}, code {code.head})")
    return SchemaStatus(False, f"behind (db {shown}, code {code.head})")

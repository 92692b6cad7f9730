"""Apply or create Alembic migrations for a database URL (used by the CLI, `make run` and tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# Where the scripts are is said once, beside the readiness check that compares revisions.
from miniapp_api.ops.schema_revision import MIGRATIONS


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    _ensure_sqlite_folder(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def _ensure_sqlite_folder(database_url: str) -> None:
    prefix = "sqlite:///"
    if database_url.startswith(prefix) and database_url != prefix + ":memory:":
        Path(database_url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)

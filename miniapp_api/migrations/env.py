"""Alembic environment: the URL comes from `miniapp db`, the metadata from our models."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from miniapp_api.models import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "run migrations through `miniapp db upgrade`, which sets the database URL"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, hide_parameters=True)  # data migrations bind row values too
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()

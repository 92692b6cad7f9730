"""Alembic migrations; run through `miniapp db upgrade` (see miniapp_api/cli.py)."""

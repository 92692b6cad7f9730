"""Retention: the indexes the purge's predicates need, and audit rows that only the purge deletes.

``miniapp retention purge`` (``miniapp_api/retention``) deletes in batches, each choosing its
rows by an indexed predicate; without these indexes every batch would scan the table:

* ``tube_results (tested_at)``: results past their period (a tube's people are then found by
  ``samplings.tube_id`` and ``person_results.sampling_id``, both indexed already);
* ``samplings (scanned_at, id)``: samplings that never got a result, walked in that order;
* ``registration_codes (expires_at)`` and ``(revoked_at)``: codes ended long ago;
* ``outbox (created_at) WHERE status IN (finished)``: a partial index, so ingest, which writes
  pending rows only, never updates it; the worker adds a row when it finishes one;
* ``notices (created_at)``.

``retention_progress`` keeps where the walk over samplings stopped (``retention/models.py``).

The audit trail (0007) refused every UPDATE and DELETE. DELETE is now allowed for a row only
while its chain's anchor in the new ``audit_anchors`` covers it (``id <= last_id`` and
``at < purged_before``): only ``miniapp_api/audit/purge.py`` writes anchors, recording the last
removed row's hash, which ``miniapp audit verify`` then accepts as the chain's start. Anchors
are never deleted and never move back. UPDATE stays refused. On PostgreSQL the DELETE check is
a row trigger; on SQLite the 0007 DELETE trigger gains a ``WHEN`` clause.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = "status IN ('sent', 'refused', 'no_subscription', 'failed')"  # as in the model

_POSTGRESQL_UP = (
    # UPDATE stays refused for every statement (0007's function).
    "DROP TRIGGER audit_events_append_only ON audit_events",
    """
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
""",
    """
CREATE FUNCTION audit_events_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM audit_anchors a
        WHERE a.actor_kind = OLD.actor_kind AND a.actor = OLD.actor
          AND OLD.id <= a.last_id AND OLD.at < a.purged_before
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: DELETE of row % refused (no purge anchor)',
        OLD.id USING ERRCODE = 'insufficient_privilege';
END
$$
""",
    """
CREATE TRIGGER audit_events_purge_only BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_purge_only()
""",
    """
CREATE FUNCTION audit_anchors_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN  -- nested: a statement trigger (DELETE) has no NEW to read
        IF NEW.actor_kind = OLD.actor_kind AND NEW.actor = OLD.actor
           AND NEW.last_id >= OLD.last_id THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_anchors only move forward: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
""",
    """
CREATE TRIGGER audit_anchors_forward_only BEFORE UPDATE ON audit_anchors
FOR EACH ROW EXECUTE FUNCTION audit_anchors_forward_only()
""",
    """
CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
FOR EACH STATEMENT EXECUTE FUNCTION audit_anchors_forward_only()
""",
)
_POSTGRESQL_DOWN = (
    "DROP TRIGGER audit_events_purge_only ON audit_events",
    "DROP FUNCTION audit_events_purge_only()",
    "DROP TRIGGER audit_events_no_update ON audit_events",
    """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
""",
)
_SQLITE_UP = (
    "DROP TRIGGER audit_events_no_delete",
    """
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (
    SELECT 1 FROM audit_anchors a
    WHERE a.actor_kind = OLD.actor_kind AND a.actor = OLD.actor
      AND OLD.id <= a.last_id AND OLD.at < a.purged_before
)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused (no purge anchor'); END
""",
    """
CREATE TRIGGER audit_anchors_forward_only BEFORE UPDATE ON audit_anchors
WHEN NEW.actor_kind != OLD.actor_kind OR NEW.actor != OLD.actor OR NEW.last_id < OLD.last_id
BEGIN SELECT RAISE(ABORT, 'audit_anchors only move forward: UPDATE refused'); END
""",
    """
CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
BEGIN SELECT RAISE(ABORT, 'audit_anchors only move forward: DELETE refused'); END
""",
)
_SQLITE_DOWN = (
    "DROP TRIGGER audit_events_no_delete",
    """
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END
""",
)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "audit_anchors",
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("last_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("purged_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor_kind", "actor", name=op.f("pk_audit_anchors")),
    )
    # Where a purge's walk stopped (the samplings'), committed with the batch it ended.
    op.create_table(
        "retention_progress",
        sa.Column("walk", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("walk", name=op.f("pk_retention_progress")),
    )
    op.create_index("ix_tube_results_tested_at", "tube_results", ["tested_at"])
    op.create_index("ix_samplings_scanned_at", "samplings", ["scanned_at", "id"])
    op.create_index("ix_registration_codes_expires_at", "registration_codes", ["expires_at"])
    op.create_index("ix_registration_codes_revoked_at", "registration_codes", ["revoked_at"])
    op.create_index(
        "ix_outbox_finished",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text(FINISHED),
        sqlite_where=sa.text(FINISHED),
    )
    op.create_index("ix_notices_created_at", "notices", ["created_at"])
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRESQL_UP if postgresql else _SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRESQL_DOWN if postgresql else _SQLITE_DOWN:
        op.execute(statement)
    op.drop_index("ix_notices_created_at", table_name="notices")
    op.drop_index("ix_outbox_finished", table_name="outbox")
    op.drop_index("ix_registration_codes_revoked_at", table_name="registration_codes")
    op.drop_index("ix_registration_codes_expires_at", table_name="registration_codes")
    op.drop_index("ix_samplings_scanned_at", table_name="samplings")
    op.drop_index("ix_tube_results_tested_at", table_name="tube_results")
    op.drop_table("retention_progress")
    # Dropping the table drops its triggers; the function goes on its own.
    op.drop_table("audit_anchors")
    if postgresql:
        op.execute("DROP FUNCTION audit_anchors_forward_only()")

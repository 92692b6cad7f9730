"""Cheaper ingest: outbox rows hold ids only, (person result, account, version) unique, with
no dedupe key, payload or foreign keys; person_results without its foreign key and its two
unused indexes (resident, tube). Row-by-row checks and randomly placed index entries were
most of what bulk ingest paid per person result beyond the rows themselves.

The worker builds each message when it sends it (``miniapp_api/notify/payloads.py``). Existing
rows keep their version, read from the end of their dedupe key ``result:<pr>:<account>:<v>``.
The downgrade writes the dedupe keys and payloads back from the rows they name.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from miniapp_api.migrations.sqlite_batch import quiet_sqlite_reflection

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNIQUE = "uq_outbox_person_result_id_account_id_version"


def upgrade() -> None:
    """Upgrade schema."""
    with quiet_sqlite_reflection():
        _upgrade()


def downgrade() -> None:
    """Downgrade schema."""
    with quiet_sqlite_reflection():
        _downgrade()


def _upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        version = "CAST(split_part(dedupe_key, ':', 4) AS integer)"
    else:  # the text after the last ':' (rtrim strips the trailing characters that are no ':')
        version = (
            "CAST(substr(dedupe_key, length(rtrim(dedupe_key, "
            "replace(dedupe_key, ':', ''))) + 1) AS integer)"
        )
    # Constant SQL fragments, no input:
    update = f"UPDATE outbox SET version = {version} WHERE dedupe_key LIKE 'result:%:%:%'"  # noqa: S608
    op.execute(update)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("version", server_default=None)
        batch_op.drop_constraint(batch_op.f("uq_outbox_dedupe_key"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_outbox_person_result_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_person_result_id_person_results"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_outbox_account_id_accounts"), type_="foreignkey")
        batch_op.drop_column("dedupe_key")
        batch_op.drop_column("payload")
        batch_op.create_unique_constraint(UNIQUE, ["person_result_id", "account_id", "version"])

    with op.batch_alter_table("person_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_results_tube_id"))
        batch_op.drop_index(batch_op.f("ix_person_results_resident_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_person_results_sampling_id_samplings"), type_="foreignkey"
        )


def _downgrade() -> None:
    with op.batch_alter_table("person_results", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_person_results_sampling_id_samplings"),
            "samplings",
            ["sampling_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_person_results_resident_id"), ["resident_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_person_results_tube_id"), ["tube_id"], unique=False)
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE outbox SET dedupe_key = 'result:' || CAST(person_result_id AS TEXT) || ':' "
        "|| CAST(account_id AS TEXT) || ':' || CAST(version AS TEXT)"
    )
    # A row whose result is gone gets an empty payload (the worker then sends the defaults).
    empty = "'{}'::json" if postgres else "'{}'"
    op.execute(f"UPDATE outbox SET payload = COALESCE(({_payload_sql(postgres)}), {empty})")  # noqa: S608  (as below)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(UNIQUE, type_="unique")
        batch_op.alter_column("dedupe_key", existing_type=sa.String(length=128), nullable=False)
        batch_op.alter_column("payload", existing_type=sa.JSON(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_outbox_dedupe_key"), ["dedupe_key"])
        batch_op.create_index(
            batch_op.f("ix_outbox_person_result_id"), ["person_result_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_account_id_accounts"),
            "accounts",
            ["account_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_person_result_id_person_results"),
            "person_results",
            ["person_result_id"],
            ["id"],
        )
        batch_op.drop_column("version")


def _payload_sql(postgres: bool) -> str:
    """The payload 0004's ingest wrote, from the current rows (a correlated subquery)."""
    build = "json_build_object" if postgres else "json_object"
    tested = (
        "to_char(timezone('UTC', p.tested_at), 'YYYY-MM-DD\"T\"HH24\\:MI\\:SS\"+00:00\"')"
        if postgres
        else "strftime('%Y-%m-%dT%H:%M:%S+00:00', p.tested_at)"
    )
    return (  # constant SQL fragments, no input
        f"SELECT {build}('kind', 'result', 'platform', a.platform, 'recipient', a.subject, "  # noqa: S608
        "'resident_id', r.public_id, 'resident_name_masked', r.name_masked, "
        f"'state', p.state, 'tested_at', {tested}, 'tube_no', t.tube_no, "
        "'round', sr.name, 'site', st.name, 'version', outbox.version) "
        "FROM person_results p JOIN accounts a ON a.id = outbox.account_id "
        "JOIN samplings s ON s.id = p.sampling_id JOIN residents r ON r.id = s.resident_id "
        "JOIN tubes t ON t.id = s.tube_id JOIN screening_rounds sr ON sr.id = s.round_id "
        "JOIN sites st ON st.id = s.site_id WHERE p.id = outbox.person_result_id"
    )

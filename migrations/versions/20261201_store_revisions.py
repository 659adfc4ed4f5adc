"""store revisions: a revision on every editable resource, and the store_revisions counters;
connection secrets unbounded (an encrypted 10 kB secret overflowed 8,000 characters)

Revision ID: 6b1f0c2a9e41
Revises: d4387666244d
Create Date: 2026-12-01 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6b1f0c2a9e41"
down_revision: str | Sequence[str] | None = "d4387666244d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EDITABLE = ("concept_schemes", "mapping_rules", "connections")
COUNTERS = ("catalog", "api_keys")


def upgrade() -> None:
    for table in EDITABLE:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("revision", sa.Integer(), server_default="1", nullable=False)
            )
    # A rule that already went through edits has counted them in its version.
    op.execute(
        "UPDATE mapping_rules SET revision = "
        "CASE WHEN archived_at IS NULL THEN version ELSE version + 1 END"
    )
    revisions = op.create_table(
        "store_revisions",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_revisions")),
    )
    op.bulk_insert(revisions, [{"name": name, "revision": 1} for name in COUNTERS])
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.alter_column(
            "secrets", existing_type=sa.String(length=8000), type_=sa.Text(), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.alter_column(
            "secrets", existing_type=sa.Text(), type_=sa.String(length=8000), nullable=False
        )
    op.drop_table("store_revisions")
    for table in reversed(EDITABLE):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("revision")

"""classifications with provenance, and their history

Revision ID: 8e2f6b4d0c31
Revises: 7d1e5a3c9b20
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8e2f6b4d0c31"
down_revision: str | Sequence[str] | None = "7d1e5a3c9b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "classifications",
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("concept_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("rule_version", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("field_path", sa.String(length=500), nullable=True),
        sa.Column("value", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("source IN ('rule', 'manual')", name=op.f("ck_classifications_source")),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_classifications_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["concept_id"],
            ["concepts.id"],
            name=op.f("fk_classifications_concept_id_concepts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifications")),
        sa.UniqueConstraint(
            "asset_id",
            "concept_id",
            "source",
            name=op.f("uq_classifications_asset_id_concept_id_source"),
        ),
    )
    op.create_index(
        op.f("ix_classifications_concept_id"), "classifications", ["concept_id"], unique=False
    )
    op.create_index(
        op.f("ix_classifications_rule_id"), "classifications", ["rule_id"], unique=False
    )
    op.create_index(
        op.f("ix_classifications_record_id"), "classifications", ["record_id"], unique=False
    )
    op.create_table(
        "classification_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("concept_id", sa.Uuid(), nullable=False),
        sa.Column("concept_key", sa.String(length=200), nullable=False),
        sa.Column("change", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("rule_version", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "change IN ('added', 'changed', 'removed')",
            name=op.f("ck_classification_changes_change"),
        ),
        sa.CheckConstraint(
            "source IN ('rule', 'manual')", name=op.f("ck_classification_changes_source")
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_classification_changes_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classification_changes")),
    )
    op.create_index(
        "ix_classification_changes_asset",
        "classification_changes",
        ["asset_id", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_classification_changes_asset", table_name="classification_changes")
    op.drop_table("classification_changes")
    op.drop_index(op.f("ix_classifications_record_id"), table_name="classifications")
    op.drop_index(op.f("ix_classifications_rule_id"), table_name="classifications")
    op.drop_index(op.f("ix_classifications_concept_id"), table_name="classifications")
    op.drop_table("classifications")

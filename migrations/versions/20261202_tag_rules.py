"""tag rules (versioned): how performance tags are computed and where they land

Revision ID: c3e5a7b9d1f2
Revises: b2d4f6a8c0e1
Create Date: 2026-12-02 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c3e5a7b9d1f2"
down_revision: str | Sequence[str] | None = "b2d4f6a8c0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _rule_columns() -> list[sa.Column[object]]:
    """The content columns a tag rule and each of its versions share."""
    return [
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("cohort_by", _json(), nullable=False),
        sa.Column("kpi", _json(), nullable=False),
        sa.Column("smoothing", _json(), nullable=True),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("tiers", _json(), nullable=False),
        sa.Column("insufficient_concept", sa.String(length=200), nullable=False),
        sa.Column("targets", _json(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "tag_rules",
        *_rule_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("default_key", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("window_days >= 1", name=op.f("ck_tag_rules_window_days")),
        sa.CheckConstraint("min_sample >= 1", name=op.f("ck_tag_rules_min_sample")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_rules")),
        sa.UniqueConstraint("default_key", name=op.f("uq_tag_rules_default_key")),
    )
    op.create_table(
        "tag_rule_versions",
        *_rule_columns(),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["tag_rules.id"],
            name=op.f("fk_tag_rule_versions_rule_id_tag_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_rule_versions")),
        sa.UniqueConstraint(
            "rule_id", "version", name=op.f("uq_tag_rule_versions_rule_id_version")
        ),
    )
    op.create_index(
        op.f("ix_tag_rule_versions_rule_id"), "tag_rule_versions", ["rule_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tag_rule_versions_rule_id"), table_name="tag_rule_versions")
    op.drop_table("tag_rule_versions")
    op.drop_table("tag_rules")

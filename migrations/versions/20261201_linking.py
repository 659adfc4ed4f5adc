"""link rules (versioned) and links with evidence

Revision ID: 9f3a7c5e1d42
Revises: 8e2f6b4d0c31
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9f3a7c5e1d42"
down_revision: str | Sequence[str] | None = "8e2f6b4d0c31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_rules",
        *_rule_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("default_key", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "asset_key IN ('id', 'file_name', 'cdn_path', 'record')",
            name=op.f("ck_link_rules_asset_key"),
        ),
        sa.CheckConstraint(
            "match IN ('equals', 'contains', 'path_segment', 'url_path', 'query_parameter')",
            name=op.f("ck_link_rules_match"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_rules")),
        sa.UniqueConstraint("default_key", name=op.f("uq_link_rules_default_key")),
    )
    op.create_table(
        "link_rule_versions",
        *_rule_columns(),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["link_rules.id"],
            name=op.f("fk_link_rule_versions_rule_id_link_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_rule_versions")),
        sa.UniqueConstraint(
            "rule_id", "version", name=op.f("uq_link_rule_versions_rule_id_version")
        ),
    )
    op.create_index(
        op.f("ix_link_rule_versions_rule_id"), "link_rule_versions", ["rule_id"], unique=False
    )
    op.create_table(
        "links",
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("rule_version", sa.Integer(), nullable=True),
        sa.Column("field_path", sa.String(length=500), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_links_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_links_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["link_rules.id"],
            name=op.f("fk_links_rule_id_link_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint(
            "asset_id", "record_id", "rule_id", name=op.f("uq_links_asset_id_record_id_rule_id")
        ),
    )
    op.create_index("ix_links_record_id", "links", ["record_id"], unique=False)
    op.create_index("ix_links_rule_id", "links", ["rule_id"], unique=False)


def _rule_columns() -> list[sa.Column[object]]:
    """The content columns a link rule and each of its versions share."""
    return [
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("connector_key", sa.String(length=100), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("stream", sa.String(length=100), nullable=True),
        sa.Column("field_path", sa.String(length=500), nullable=False),
        sa.Column("match", sa.String(length=20), nullable=False),
        sa.Column("parameter", sa.String(length=200), nullable=True),
        sa.Column("asset_key", sa.String(length=20), nullable=False),
        sa.Column("via_stream", sa.String(length=100), nullable=True),
        sa.Column("asset_connector_key", sa.String(length=100), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
    ]


def downgrade() -> None:
    op.drop_index("ix_links_rule_id", table_name="links")
    op.drop_index("ix_links_record_id", table_name="links")
    op.drop_table("links")
    op.drop_index(op.f("ix_link_rule_versions_rule_id"), table_name="link_rule_versions")
    op.drop_table("link_rule_versions")
    op.drop_table("link_rules")

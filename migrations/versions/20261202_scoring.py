"""scoring: desired performance tags with their inputs, scoring runs' per-rule counts, and
runs of kind ``score``

``desired_tags`` holds one row per (asset, tag rule); ``score_run_rules`` what a scoring run
did per rule. ``runs.kind`` now also takes ``score``: on PostgreSQL the check constraint is
replaced; on SQLite it is widened in the stored schema (SQLite's documented procedure for
loosening a CHECK constraint), because rebuilding ``runs`` with foreign keys on would
cascade-delete every run's streams and rejections.

Revision ID: d4f6b8c0e2a3
Revises: c3e5a7b9d1f2
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d4f6b8c0e2a3"
down_revision: str | Sequence[str] | None = "c3e5a7b9d1f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SYNC_ONLY = "kind IN ('sync')"
SYNC_OR_SCORE = "kind IN ('sync', 'score')"


def _set_run_kinds(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_runs_kind"), "runs", type_="check")
        op.create_check_constraint(op.f("ck_runs_kind"), "runs", new)
        return
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.execute(
        sa.text(
            "UPDATE sqlite_master SET sql = replace(sql, :old, :new) "
            "WHERE type = 'table' AND name = 'runs'"
        ),
        {"old": old, "new": new},
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    _set_run_kinds(SYNC_ONLY, SYNC_OR_SCORE)
    op.create_table(
        "desired_tags",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("concept", sa.String(length=200), nullable=False),
        sa.Column("cohort", sa.String(length=1000), nullable=False),
        sa.Column("cohort_size", sa.Integer(), nullable=False),
        sa.Column("sample", sa.Float(), nullable=False),
        sa.Column("kpi", sa.Float(), nullable=True),
        sa.Column("smoothed", sa.Float(), nullable=True),
        sa.Column("percentile", sa.Float(), nullable=True),
        sa.Column("window_start", sa.String(length=10), nullable=False),
        sa.Column("window_end", sa.String(length=10), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_desired_tags_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["tag_rules.id"],
            name=op.f("fk_desired_tags_rule_id_tag_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desired_tags")),
        sa.UniqueConstraint("asset_id", "rule_id", name=op.f("uq_desired_tags_asset_id_rule_id")),
    )
    with op.batch_alter_table("desired_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desired_tags_rule_id"), ["rule_id"], unique=False)

    op.create_table(
        "score_run_rules",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.String(length=10), nullable=False),
        sa.Column("window_end", sa.String(length=10), nullable=False),
        sa.Column("assets", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column(
            "tiers", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_score_run_rules_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_run_rules")),
        sa.UniqueConstraint("run_id", "rule_id", name=op.f("uq_score_run_rules_run_id_rule_id")),
    )


def downgrade() -> None:
    op.execute("DELETE FROM runs WHERE kind = 'score'")
    _set_run_kinds(SYNC_OR_SCORE, SYNC_ONLY)
    op.drop_table("score_run_rules")
    with op.batch_alter_table("desired_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desired_tags_rule_id"))

    op.drop_table("desired_tags")

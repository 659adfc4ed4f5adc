"""write-back: the outbox of owned-tag changes, its ledger, and what was last confirmed

``writebacks`` holds one row per (asset, desired-tag version, target connection), planned
by a scoring run; ``writeback_attempts`` is the ledger, one row per attempt;
``writeback_states`` keeps, per (asset, DAM connection), the owned tags and metadata
syncbridge last confirmed there and the last version planned; ``writeback_senders`` the
recent vendor calls of each connection's last sender (its rate budget).

Revision ID: e5a7c9d1f3b4
Revises: d4f6b8c0e2a3
Create Date: 2026-12-03 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e5a7c9d1f3b4"
down_revision: str | Sequence[str] | None = "d4f6b8c0e2a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LIVE = "status IN ('pending', 'sending')"


def _asset_and_connection(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f(f"fk_{table}_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f(f"fk_{table}_connection_id_connections"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "writeback_states",
        *_asset_and_connection("writeback_states"),
        sa.Column("confirmed_tags", _JSON, nullable=False),
        sa.Column("confirmed_metadata", _JSON, nullable=False),
        sa.Column("confirmed_key", sa.String(length=64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("planned_version", sa.Integer(), nullable=False),
        sa.Column("planned_tags", _JSON, nullable=False),
        sa.Column("planned_metadata", _JSON, nullable=False),
        sa.Column("planned_key", sa.String(length=64), nullable=False),
        sa.Column("planned_dry_run", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", "connection_id", name=op.f("pk_writeback_states")),
    )
    op.create_table(
        "writebacks",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_asset_and_connection("writebacks"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_token", sa.Uuid(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("desired_tags", _JSON, nullable=False),
        sa.Column("desired_metadata", _JSON, nullable=False),
        sa.Column("planned_add", _JSON, nullable=False),
        sa.Column("planned_remove", _JSON, nullable=False),
        sa.Column("planned_metadata", _JSON, nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("vendor_status", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'done', 'dead', 'superseded')",
            name=op.f("ck_writebacks_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_writebacks_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_writebacks")),
        sa.UniqueConstraint(
            "asset_id",
            "connection_id",
            "version",
            name=op.f("uq_writebacks_asset_id_connection_id_version"),
        ),
    )
    op.create_index("ix_writebacks_asset_id", "writebacks", ["asset_id"])
    op.create_index("ix_writebacks_status", "writebacks", ["status"])
    op.create_index(
        "ix_writebacks_ready",
        "writebacks",
        ["connection_id", "run_after"],
        postgresql_where=sa.text(_LIVE),
        sqlite_where=sa.text(_LIVE),
    )
    op.create_table(
        "writeback_attempts",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("writeback_id", sa.Uuid(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added", _JSON, nullable=False),
        sa.Column("removed", _JSON, nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("vendor_status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["writeback_id"],
            ["writebacks.id"],
            name=op.f("fk_writeback_attempts_writeback_id_writebacks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_writeback_attempts")),
    )
    op.create_index("ix_writeback_attempts_asset_id", "writeback_attempts", ["asset_id"])
    op.create_index("ix_writeback_attempts_writeback_id", "writeback_attempts", ["writeback_id"])

    op.create_table(
        "writeback_senders",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.Column("calls", _JSON, nullable=False),
        sa.Column("paused_until", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_writeback_senders_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_writeback_senders")),
    )


def downgrade() -> None:
    op.drop_table("writeback_senders")
    op.drop_index("ix_writeback_attempts_writeback_id", table_name="writeback_attempts")
    op.drop_index("ix_writeback_attempts_asset_id", table_name="writeback_attempts")
    op.drop_table("writeback_attempts")
    op.drop_index("ix_writebacks_ready", table_name="writebacks")
    op.drop_index("ix_writebacks_status", table_name="writebacks")
    op.drop_index("ix_writebacks_asset_id", table_name="writebacks")
    op.drop_table("writebacks")
    op.drop_table("writeback_states")

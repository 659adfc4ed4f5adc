"""metric facts: daily values per asset, metric and source connection, and their records

``metric_facts`` holds one value per (asset, day, metric, source connection), recomputed
from the asset's live linked records; ``metric_fact_records`` names the records behind an
asset's facts of one day and connection (looked up by record when a run changes one).

Revision ID: b2d4f6a8c0e1
Revises: a1c3e5f7b9d0
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2d4f6a8c0e1"
down_revision: str | Sequence[str] | None = "a1c3e5f7b9d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_METRICS = (
    "'views', 'sessions', 'key_events', 'events', 'revenue', 'influenced_deals', "
    "'influenced_revenue'"
)


def _asset_and_connection(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "metric_facts",
        *_asset_and_connection("metric_facts"),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("attribution", sa.String(length=10), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "attribution IS NULL OR attribution IN ('even', 'full')",
            name=op.f("ck_metric_facts_attribution"),
        ),
        sa.CheckConstraint(f"metric IN ({_METRICS})", name=op.f("ck_metric_facts_metric")),
        sa.UniqueConstraint(
            "asset_id",
            "day",
            "metric",
            "connection_id",
            name=op.f("uq_metric_facts_asset_id_day_metric_connection_id"),
        ),
    )
    op.create_table(
        "metric_fact_records",
        *_asset_and_connection("metric_fact_records"),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_metric_fact_records_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "asset_id",
            "day",
            "connection_id",
            "record_id",
            name=op.f("uq_metric_fact_records_asset_id_day_connection_id_record_id"),
        ),
    )
    op.create_index(
        "ix_metric_fact_records_record_id", "metric_fact_records", ["record_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_metric_fact_records_record_id", table_name="metric_fact_records")
    op.drop_table("metric_fact_records")
    op.drop_table("metric_facts")

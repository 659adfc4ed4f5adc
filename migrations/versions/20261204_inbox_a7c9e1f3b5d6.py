"""the durable inbox (``inbox_events``), run kinds ``events`` and ``reconcile`` with a run
``report``, the scheduler's ``job_runs``, the ``worker_heartbeats`` and the ``connections``
store revision counter

Each verified webhook event is one row, unique per (connection, delivery key), written in the
transaction that answers the vendor. Runs of kind ``events`` apply them; ``reconcile`` runs
repair what webhooks missed.

Revision ID: a7c9e1f3b5d6
Revises: f6b8d0e2a4c5
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a7c9e1f3b5d6"
down_revision: str | Sequence[str] | None = "f6b8d0e2a4c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_PENDING = "status = 'pending'"
SYNC_OR_SCORE = "kind IN ('sync', 'score')"
ALL_KINDS = "kind IN ('sync', 'score', 'events', 'reconcile')"


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
    _set_run_kinds(SYNC_OR_SCORE, ALL_KINDS)
    # The counter of connection changes (the webhook receiver caches per revision).
    op.execute("INSERT INTO store_revisions (name, revision) VALUES ('connections', 1)")
    op.add_column("runs", sa.Column("report", _JSON, nullable=True))
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'skipped')",
            name=op.f("ck_job_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("name", "slot", name=op.f("uq_job_runs_name_slot")),
    )
    op.create_index("ix_job_runs_name_started_at", "job_runs", ["name", "started_at"])
    op.create_table(
        "worker_heartbeats",
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_worker_heartbeats")),
    )
    op.create_index(op.f("ix_worker_heartbeats_seen_at"), "worker_heartbeats", ["seen_at"])
    op.create_table(
        "inbox_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_key", sa.String(length=300), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=500), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=100), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'handled', 'dead')", name=op.f("ck_inbox_events_status")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_inbox_events_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_inbox_events_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_events")),
        sa.UniqueConstraint(
            "connection_id",
            "delivery_key",
            name=op.f("uq_inbox_events_connection_id_delivery_key"),
        ),
    )
    op.create_index(
        "ix_inbox_events_pending",
        "inbox_events",
        ["connection_id", "received_at"],
        postgresql_where=sa.text(_PENDING),
        sqlite_where=sa.text(_PENDING),
    )
    op.create_index("ix_inbox_events_received_at", "inbox_events", ["received_at"])
    op.create_index("ix_inbox_events_status_handled_at", "inbox_events", ["status", "handled_at"])


def downgrade() -> None:
    op.execute("DELETE FROM store_revisions WHERE name = 'connections'")
    op.drop_table("worker_heartbeats")
    op.drop_table("job_runs")
    op.drop_table("inbox_events")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("report")
    op.execute("DELETE FROM runs WHERE kind IN ('events', 'reconcile')")
    _set_run_kinds(ALL_KINDS, SYNC_OR_SCORE)

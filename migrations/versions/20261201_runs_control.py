"""runs control: cancellation, a stream's expected total, and jobs held one writer per connection

Adds ``runs.cancel_requested_at`` / ``runs.cancelled_by`` (a cancel asked of a running run is
honoured at the next page boundary) and ``jobs.concurrency_key`` with a partial index over
running jobs (a claim skips a job whose key another running job holds).

Revision ID: 7d1e5a3c9b20
Revises: 3a91c7e2d5f0
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d1e5a3c9b20"
down_revision: str | Sequence[str] | None = "3a91c7e2d5f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = "status = 'running'"


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("cancelled_by", sa.String(length=200), nullable=True))
    with op.batch_alter_table("run_streams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expected", sa.Integer(), nullable=True))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("concurrency_key", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_jobs_concurrency_key",
            ["concurrency_key"],
            unique=False,
            sqlite_where=sa.text(RUNNING),
            postgresql_where=sa.text(RUNNING),
        )


def downgrade() -> None:
    with op.batch_alter_table("run_streams", schema=None) as batch_op:
        batch_op.drop_column("expected")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_concurrency_key")
        batch_op.drop_column("concurrency_key")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("cancelled_by")
        batch_op.drop_column("cancel_requested_at")

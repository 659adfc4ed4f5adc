"""run streams linked in their pages: ``run_streams.linked_since``

A record stream read after every asset stream of its run has finished is linked page by page,
in each page's transaction; the column says since when (the assets as they stood then), so
the settle pass after the run leaves its records out (see ``syncbridge.linking.pages``).

Revision ID: f6b8d0e2a4c5
Revises: e5a7c9d1f3b4
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f6b8d0e2a4c5"
down_revision: str | Sequence[str] | None = "e5a7c9d1f3b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "run_streams", sa.Column("linked_since", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("run_streams") as batch:
        batch.drop_column("linked_since")

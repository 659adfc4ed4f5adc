"""runs control: cancellation, and jobs held one writer per connection

Revision ID: 7d1e5a3c9b20
Revises: 3a91c7e2d5f0
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

revision: str = "7d1e5a3c9b20"
down_revision: str | Sequence[str] | None = "3a91c7e2d5f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""links keyed by record first

A full sync writes about two links per analytics row. The unique index on links was led by
the asset, so each new link landed on some page anywhere in an index far larger than
PostgreSQL's shared buffers; index inserts were about a third of PostgreSQL's time in B2. Led
by the record (time-ordered UUIDv7 ids, ``syncbridge.store.ids``), a sync's new links land
together at the index's right edge. That index also serves a batch's lookups by record, so
``ix_links_record_id`` goes, and a narrow ``ix_links_asset_id`` serves lookups by asset.

On a large PostgreSQL store the two index builds block writes to ``links`` while they run
(minutes at tens of millions of links): upgrade with no sync running.

Revision ID: d5f7a9b1c3e8
Revises: a7c9e1f3b5d6
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d5f7a9b1c3e8"
down_revision: str | Sequence[str] | None = "a7c9e1f3b5d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_UNIQUE = ("uq_links_asset_id_record_id_rule_id", ["asset_id", "record_id", "rule_id"])
_NEW_UNIQUE = ("uq_links_record_id_asset_id_rule_id", ["record_id", "asset_id", "rule_id"])


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_constraint(_OLD_UNIQUE[0], type_="unique")
        batch_op.drop_index("ix_links_record_id")
        batch_op.create_unique_constraint(*_NEW_UNIQUE)
        batch_op.create_index("ix_links_asset_id", ["asset_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index("ix_links_asset_id")
        batch_op.drop_constraint(_NEW_UNIQUE[0], type_="unique")
        batch_op.create_unique_constraint(*_OLD_UNIQUE)
        batch_op.create_index("ix_links_record_id", ["record_id"], unique=False)

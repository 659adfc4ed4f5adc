"""links without per-row foreign-key checks; assets and records found by the run that changed them

A link is written for every (asset, record, rule) a rule finds: about two per analytics row,
so millions. PostgreSQL checks a foreign key with a row lock on the referenced asset, record
and rule for every link inserted, which cost more than the insert itself (about 21 µs of
30 µs a link). Links now keep their three ids without foreign keys; the one place that
hard-deletes assets and records (deleting a connection) deletes their links in the same
transaction, and rules are archived, never deleted. The index on ``links.rule_id`` goes too:
only a re-link reads links by rule, and it reads the whole table anyway.

Linking and classifying after a run read what the run changed (``last_run_id``); indexes on
``assets.last_run_id`` and ``records.last_run_id`` make that a lookup instead of a scan of
the store, so an incremental run that changed ten records reads ten.

Revision ID: a1c3e5f7b9d0
Revises: 9f3a7c5e1d42
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f7b9d0"
down_revision: str | Sequence[str] | None = "9f3a7c5e1d42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOREIGN_KEYS = (
    ("fk_links_asset_id_assets", "asset_id", "assets"),
    ("fk_links_record_id_records", "record_id", "records"),
    ("fk_links_rule_id_link_rules", "rule_id", "link_rules"),
)


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        for name, _column, _table in _FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
        batch_op.drop_index("ix_links_rule_id")
    for table in ("assets", "records"):
        op.create_index(f"ix_{table}_last_run_id", table, ["last_run_id"], unique=False)


def downgrade() -> None:
    for table in ("records", "assets"):
        op.drop_index(f"ix_{table}_last_run_id", table_name=table)
    # Links whose asset, record or rule is gone would break the restored constraints.
    for _name, column, table in _FOREIGN_KEYS:
        op.execute(
            f"DELETE FROM links WHERE {column} IS NOT NULL "
            f"AND {column} NOT IN (SELECT id FROM {table})"
        )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index("ix_links_rule_id", ["rule_id"], unique=False)
        for name, column, table in _FOREIGN_KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete="CASCADE")

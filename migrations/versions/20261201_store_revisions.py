"""store revisions: a revision on every editable resource, and the store_revisions counters;
connection secrets unbounded (an encrypted 10 kB secret overflowed 8,000 characters); label
norms re-computed in the NFKC case-folded form

Revision ID: 6b1f0c2a9e41
Revises: d4387666244d
Create Date: 2026-12-01 05:20:00
"""

import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6b1f0c2a9e41"
down_revision: str | Sequence[str] | None = "d4387666244d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EDITABLE = ("concept_schemes", "mapping_rules", "connections")
COUNTERS = ("catalog", "api_keys")


def upgrade() -> None:
    for table in EDITABLE:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("revision", sa.Integer(), server_default="1", nullable=False)
            )
    # A rule that already went through edits has counted them in its version.
    op.execute(
        "UPDATE mapping_rules SET revision = "
        "CASE WHEN archived_at IS NULL THEN version ELSE version + 1 END"
    )
    revisions = op.create_table(
        "store_revisions",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_revisions")),
    )
    op.bulk_insert(revisions, [{"name": name, "revision": 1} for name in COUNTERS])
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.alter_column(
            "secrets", existing_type=sa.String(length=8000), type_=sa.Text(), nullable=False
        )
    _renormalise(_nfkc_fold)


def _nfkc_fold(text: str) -> str:
    # The comparison form of labels from this revision on (kept here: migrations never import
    # application code).
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


def _plain_fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _renormalise(fold: Callable[[str], str]) -> None:
    bind = op.get_bind()
    labels = sa.table("concept_labels", sa.column("id"), sa.column("text"), sa.column("norm"))
    rows = bind.execute(sa.select(labels.c.id, labels.c.text, labels.c.norm)).all()
    for label_id, text, norm in rows:
        if fold(text) != norm:
            bind.execute(labels.update().where(labels.c.id == label_id).values(norm=fold(text)))


def downgrade() -> None:
    _renormalise(_plain_fold)
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.alter_column(
            "secrets", existing_type=sa.Text(), type_=sa.String(length=8000), nullable=False
        )
    op.drop_table("store_revisions")
    for table in reversed(EDITABLE):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("revision")

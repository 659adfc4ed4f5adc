"""Links: an asset joined to a record (campaign, deal, analytics row), with the evidence;
and the link rules (a current row and immutable versions) that find them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, TimestampMixin, utcnow

#: How a rule reads the record's field value (see ``syncbridge.linking.matching``).
LINK_MATCHES = ("equals", "contains", "path_segment", "url_path", "query_parameter")
#: What of the asset the value must name; ``record``: another record, whose links pass on.
LINK_ASSET_KEYS = ("id", "file_name", "cdn_path", "record")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class LinkRuleFields:
    """Columns shared by a link rule and each of its versions."""

    name: Mapped[str] = mapped_column(String(200))
    #: Which records the rule reads: a connector, optionally one connection and one stream.
    connector_key: Mapped[str] = mapped_column(String(100))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    stream: Mapped[str | None] = mapped_column(String(100), default=None)
    field_path: Mapped[str] = mapped_column(String(500))
    match: Mapped[str] = mapped_column(String(20))
    #: The query parameter a ``query_parameter`` rule reads (``utm_content``).
    parameter: Mapped[str | None] = mapped_column(String(200), default=None)
    asset_key: Mapped[str] = mapped_column(String(20))
    #: The stream (same connection) an ``asset_key='record'`` rule's value names a record of.
    via_stream: Mapped[str | None] = mapped_column(String(100), default=None)
    #: Only assets of this DAM connector (None: every DAM).
    asset_connector_key: Mapped[str | None] = mapped_column(String(100), default=None)
    enabled: Mapped[bool] = mapped_column(default=True)


class LinkRule(LinkRuleFields, IdMixin, TimestampMixin, Base):
    """The current version of a link rule."""

    __tablename__ = "link_rules"
    __table_args__ = (
        CheckConstraint(f"match IN ({_in(LINK_MATCHES)})", name="match"),
        CheckConstraint(f"asset_key IN ({_in(LINK_ASSET_KEYS)})", name="asset_key"),
    )

    version: Mapped[int] = mapped_column(default=1)
    #: Counts every committed change (content versions and archiving); the rule's ``ETag``.
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Set for the rules bootstrap loaded from ``taxonomy/link_rules.yaml`` (their file key).
    default_key: Mapped[str | None] = mapped_column(String(100), default=None, unique=True)


class LinkRuleVersion(LinkRuleFields, IdMixin, Base):
    """One immutable version of a link rule; editing a rule appends one."""

    __tablename__ = "link_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("link_rules.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class Link(IdMixin, Base):
    """One asset to one record, found by a link rule (its version), on a field and value."""

    __tablename__ = "links"
    # One link per (asset, record, rule): a rule that finds the asset twice in a record keeps
    # the first evidence. The record leads the unique index, which serves a batch's lookups by
    # record: record ids are time-ordered (UUIDv7), so a sync's new links land at the index's
    # right edge instead of on pages all over it (about a third of PostgreSQL's time in a
    # full sync went to index inserts led by the asset). Lookups by asset (trace, scoring)
    # have a narrow index of their own.
    #
    # No foreign keys: links are written by the million (about two per analytics row), and
    # PostgreSQL's check of each key (a row lock on the asset, the record and the rule) cost
    # more than the insert. Assets and records are hard-deleted only with their connection,
    # whose delete removes their links (``syncbridge.linking.links.drop_links_of_connection``);
    # rules are archived, never deleted.
    __table_args__ = (
        UniqueConstraint("record_id", "asset_id", "rule_id"),
        Index("ix_links_asset_id", "asset_id"),
    )

    asset_id: Mapped[uuid.UUID] = mapped_column()
    record_id: Mapped[uuid.UUID] = mapped_column()
    rule_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    rule_version: Mapped[int | None] = mapped_column(default=None)
    #: The record field holding the evidence, and the value found there.
    field_path: Mapped[str] = mapped_column(String(500))
    value: Mapped[str] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

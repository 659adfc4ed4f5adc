"""Linking a record stream's pages as they land, inside each page's transaction.

A settle pass after the run re-reads every record the run changed, decodes its JSON and
matches it: with analytics streams of a million rows that cost more than the sync. A page's
records are already in memory when it is written, so a stream in the scope of a direct link
rule is matched page by page instead, against an index of the assets built once when the
stream starts, and each page's links are written in the page's own transaction, with its
rows and cursor (DESIGN.md, data flow: "store, in one transaction: upserts ... links").

That index is right only if the assets do not change while the stream runs, so a stream is
linked in its pages only when every asset stream of its run has finished before it starts
(a run reads its asset streams first), and the stream notes when it started doing so
(``run_streams.linked_since``). The settle pass then leaves the stream's records out of its
matching of changed records, unless some asset changed since (shortly before) that time in
another run: then it matches them all again, as it always did (see
:func:`syncbridge.linking.run.link_run`). A stream that cannot be linked in its pages (an
asset stream of its run still running, a resume of a stream that was not) is settled as
before.

Matching runs before the page's transaction (it needs no row id: a record is known by its
position until the upsert says which rows it wrote); inside it, the links of the rows the
upsert wrote are made equal to what was found, as a settle pass would. On PostgreSQL the
links of the rows the upsert inserts are inserted by the upsert's own statement
(:data:`PG_NEW_ROW_LINKS`): a new row has no links to read or diff, and its id never has to
travel to this process and back; only the rows it rewrote come back to be diffed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.linking import links
from syncbridge.linking.links import LinkDiff
from syncbridge.linking.matching import AssetIndex, Found, Matcher, RuleView, Scope
from syncbridge.linking.repository import active_rules, connector_keys
from syncbridge.linking.run import build_index
from syncbridge.store.ids import id_base, pg_batch_id
from syncbridge.store.unit_of_work import in_unit_of_work

__all__ = [
    "PG_NEW_ROW_LINKS",
    "Matched",
    "PageLinker",
    "SharedIndex",
    "load_rules",
    "page_linker_rules",
]

Sessionmaker = async_sessionmaker[AsyncSession]


#: The links of the rows a page's upsert inserted, inserted by the same statement
#: (PostgreSQL): a data-modifying ``WITH`` query that the upsert's statement runs after the
#: one it names ``written`` (the rows it wrote: ``external_id``, ``id``, ``new``) and
#: beside ``page`` (the page's external ids, ``n`` numbering them from 1). Links travel as
#: columns (:meth:`Matched.pg_params`): the record's number in the page, the asset, the
#: rule's number among the linker's rules (:meth:`PageLinker.pg_rules`), the value.
PG_NEW_ROW_LINKS = (
    "INSERT INTO links (id, asset_id, record_id, rule_id, rule_version, field_path, value, "
    "run_id, created_at) "
    f"SELECT {pg_batch_id('link_id_high', 'link_id_low', 'l.n')}, l.asset, w.id, k.id, "
    "k.version, k.path, l.value, CAST(:run_id AS uuid), CAST(:now AS timestamptz) "
    "FROM unnest(CAST(CAST(:link_records AS text) AS integer[]), "
    "CAST(CAST(:link_assets AS text) AS uuid[]), CAST(CAST(:link_rules AS text) AS integer[]), "
    "CAST(CAST(:link_values AS text) AS text[])) "
    "WITH ORDINALITY AS l(record, asset, rule, value, n) "
    "JOIN page AS p ON p.n = l.record "
    "JOIN written AS w ON w.external_id = p.external_id AND w.new "
    "JOIN unnest(CAST(CAST(:rule_ids AS text) AS uuid[]), "
    "CAST(CAST(:rule_versions AS text) AS integer[]), CAST(CAST(:rule_paths AS text) AS text[])) "
    "WITH ORDINALITY AS k(id, version, path, n) ON k.n = l.rule"
)


@dataclass(frozen=True)
class Matched:
    """A page's matches as columns, one entry per link found: the record that made it (its
    position in ``order``, the page's external ids), the asset (row id as
    ``uuid.UUID.int``), the rule (its position in ``rules``) and the value found.

    Columns, not a ``Found`` per link: the links of a million analytics rows are two million,
    and on PostgreSQL those of new rows go straight into the upsert's statement."""

    order: Sequence[str]
    rules: Sequence[RuleView]
    records: list[int]
    assets: list[int]
    rule_positions: list[int]
    values: list[str]
    #: The parameters of :data:`PG_NEW_ROW_LINKS`, made with the matches by a linker for
    #: PostgreSQL (off the event loop, before the page's transaction).
    pg: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def found(self, row_ids: Mapping[str, int]) -> list[Found]:
        """The links of the records ``row_ids`` names (external id -> row id)."""
        order, rules = self.order, self.rules
        out: list[Found] = []
        for record, asset, rule, value in zip(
            self.records, self.assets, self.rule_positions, self.values, strict=True
        ):
            row_id = row_ids.get(order[record])
            if row_id is not None:
                out.append(Found(asset, row_id, rules[rule], value))
        return out

    def pg_params(self) -> dict[str, Any]:
        """The link columns as :data:`PG_NEW_ROW_LINKS` reads them (without the rules'):
        PostgreSQL array literals, numbers from 1, and a fresh id base for the links."""
        high, low = id_base()
        return {
            "link_records": links.array_literal(str(record + 1) for record in self.records),
            "link_assets": links.ids_literal(self.assets),
            "link_rules": links.array_literal(str(rule + 1) for rule in self.rule_positions),
            "link_values": links.array_literal(map(links.quoted, self.values)),
            "link_id_high": high,
            "link_id_low": low,
        }


async def page_linker_rules(
    session: AsyncSession, connection_id: uuid.UUID, stream: str
) -> tuple[list[RuleView], dict[uuid.UUID, str]] | None:
    """The direct rules that read this stream of this connection, and every connection's
    connector key; None when no rule reads it (or a via rule does: its links need the
    store, so the settle pass makes them)."""
    connections = await connector_keys(session)
    key = connections.get(connection_id)
    if key is None:
        return None
    scope = Scope(key, connection_id, stream)
    rules = [rule for rule in await active_rules(session) if scope.admits(rule)]
    if not rules or any(rule.via for rule in rules):
        return None
    return rules, connections


@dataclass
class SharedIndex:
    """The index of one run's streams linked in their pages, built by the first of them.

    Every asset stream of the run had finished before it was built, so the run changes no
    asset after it; another run's change is caught when the run settles, as for one stream
    (the earliest ``linked_since`` of the run is what that check goes by)."""

    index: AssetIndex | None = None


class PageLinker:
    """Matches a stream's pages against one index of the live assets and writes their links."""

    def __init__(
        self, scope: Scope, rules: Sequence[RuleView], index: AssetIndex, *, pg: bool = False
    ) -> None:
        self.scope = scope
        self.pg = pg
        self.index = index
        self._matcher = Matcher(rules, index)
        self.rules = self._matcher.rules
        self._pg_rules = {
            "rule_ids": links.ids_literal(uuid.UUID(rule.id).int for rule in self.rules),
            "rule_versions": links.array_literal(
                "NULL" if rule.version is None else str(rule.version) for rule in self.rules
            ),
            "rule_paths": links.array_literal(links.quoted(rule.field_path) for rule in self.rules),
        }

    @classmethod
    async def build(
        cls,
        sessionmaker: Sessionmaker,
        scope: Scope,
        rules: Sequence[RuleView],
        connections: dict[uuid.UUID, str],
        shared: SharedIndex | None = None,
    ) -> PageLinker:
        """Index every live asset (a streamed read; no transaction is left open), or take
        the index ``shared`` holds."""
        index = shared.index if shared is not None else None
        if index is None:
            index = await build_index(sessionmaker, connections, None)
            if shared is not None:
                shared.index = index
        return cls(scope, rules, index, pg=sessionmaker.kw["bind"].dialect.name == "postgresql")

    def match(self, data: Mapping[str, Mapping[str, Any]]) -> Matched:
        """Match the records given as their data by external id (pure: run it off the event
        loop). The data is read as the store will hold it (see
        :func:`~syncbridge.linking.matching.field_values`), so a record matches exactly as a
        settle pass that reads it back would match it."""
        order = list(data)
        records, assets, rules, values = self._matcher.columns(data.values(), self.scope)
        matched = Matched(order, self.rules, records, assets, rules, values)
        if self.pg:
            return replace(matched, pg=self.pg_params(matched))
        return matched

    def pg_params(self, matched: Matched) -> dict[str, Any]:
        """The parameters of :data:`PG_NEW_ROW_LINKS` for a page's matches (those made
        with them, if any)."""
        if matched.pg is not None:
            return matched.pg
        return {**matched.pg_params(), **self._pg_rules}

    async def write(
        self,
        session: AsyncSession,
        matched: Matched,
        written: Sequence[tuple[str, int, bool | None]],
        run_id: uuid.UUID,
    ) -> LinkDiff:
        """Make the links of rows the page wrote (external id, row id as ``uuid.UUID.int``,
        whether the row is new or None when unknown) equal to what ``matched`` found.

        Rows the upsert left alone (unchanged) keep their links, and so do the rows it
        inserted with their links (PostgreSQL: :data:`PG_NEW_ROW_LINKS`), which are not
        given. A new row has no links yet, so only the other rows' links are read; the links
        lock is held from that read on (see :func:`~syncbridge.linking.links.lock_links`).
        Every rule-made link of those rows is replaced, as a settle pass would (no via rule
        reads this stream: see :func:`page_linker_rules`)."""
        row_ids = {external_id: row_id for external_id, row_id, _new in written}
        found = matched.found(row_ids)
        rewritten = [row_id for _external_id, row_id, new in written if not new]
        if not found and not rewritten:
            return LinkDiff()
        await links.lock_links(session)
        existing: list[links.StoredLink] = []
        if rewritten:
            await links.prepare_rewrite(session)
            existing = links.decode_links(await links.links_of_records(session, rewritten))
        return await links.replace_links(session, existing, found, run_id)


async def load_rules(
    sessionmaker: Sessionmaker, connection_id: uuid.UUID, stream: str
) -> tuple[list[RuleView], dict[uuid.UUID, str]] | None:
    """:func:`page_linker_rules` in a read unit of work of its own."""
    return await in_unit_of_work(
        sessionmaker, lambda s: page_linker_rules(s, connection_id, stream), write=False
    )

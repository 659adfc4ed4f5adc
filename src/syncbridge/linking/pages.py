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
upsert wrote are made equal to what was found, as a settle pass would.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.linking import links
from syncbridge.linking.links import LinkDiff
from syncbridge.linking.matching import AssetIndex, Found, Matcher, RecordView, RuleView, Scope
from syncbridge.linking.repository import active_rules, connector_keys
from syncbridge.linking.run import build_index
from syncbridge.store.unit_of_work import in_unit_of_work

__all__ = [
    "Matched",
    "PageLinker",
    "SharedIndex",
    "load_rules",
    "page_linker_rules",
]

Sessionmaker = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Matched:
    """A page's matches, by the external id of the record that made them (each ``Found``
    carries the record's position in the page in place of its row id)."""

    by_external_id: Mapping[str, list[Found]]


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

    def __init__(self, scope: Scope, rules: Sequence[RuleView], index: AssetIndex) -> None:
        self.scope = scope
        self.rules = list(rules)
        self.index = index
        self._matcher = Matcher(self.rules, index)

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
        return cls(scope, rules, index)

    def match(self, data: Mapping[str, Mapping[str, Any]]) -> Matched:
        """Match the records given as their data by external id (pure: run it off the event
        loop). The data is read as the store will hold it (see
        :func:`~syncbridge.linking.matching.field_values`), so a record matches exactly as a
        settle pass that reads it back would match it."""
        order = list(data)
        views = [
            RecordView(position, self.scope, data[external_id])
            for position, external_id in enumerate(order)
        ]
        out: dict[str, list[Found]] = {}
        for found in self._matcher.find(views):
            out.setdefault(order[found.record_id], []).append(found)
        return Matched(out)

    async def write(
        self,
        session: AsyncSession,
        matched: Matched,
        written: Sequence[tuple[str, int, bool | None]],
        run_id: uuid.UUID,
    ) -> LinkDiff:
        """Make the links of the rows the page wrote (external id, row id as
        ``uuid.UUID.int``, whether the row is new or None when unknown) equal to what
        ``matched`` found.

        Rows the upsert left alone (unchanged) keep their links. A new row has none yet, so
        only rewritten rows' links are read; the links lock is held from that read on (see
        :func:`~syncbridge.linking.links.lock_links`). Every rule-made link of those rows is
        replaced, as a settle pass would (no via rule reads this stream: see
        :func:`page_linker_rules`)."""
        found: list[Found] = []
        rewritten: list[int] = []
        for external_id, row_id, new in written:
            for item in matched.by_external_id.get(external_id, ()):
                found.append(Found(item.asset_id, row_id, item.rule, item.value))
            if not new:
                rewritten.append(row_id)
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

"""The compiled catalog: the taxonomy view and the rule sets evaluation runs on, built once
per catalog revision and shared by every preview (and, in the engine, by classification).

Each use reads the catalog revision (one small query); when it moved on, everything is
rebuilt from the store. A value built while another process committed a change is used for
that one call and not kept, so the cache never holds data older than its revision says.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.logs import get_logger
from syncbridge.mapping import repository
from syncbridge.mapping.evaluate import RuleSet, Scope
from syncbridge.mapping.views import RuleView, TaxonomyView
from syncbridge.store import revisions

__all__ = ["CompiledCatalog"]

log = get_logger(__name__)

#: How many compiled rule sets (one per connector, stream and connection) are kept.
MAX_RULE_SETS = 256

ScopeKey = tuple[str, str | None, uuid.UUID | None]


class CompiledCatalog:
    """Per-process cache of the compiled taxonomy view and rule sets, by catalog revision."""

    def __init__(self) -> None:
        self._revision: int | None = None
        self._taxonomy: TaxonomyView | None = None
        self._rules: dict[str, list[RuleView]] = {}
        self._rule_sets: OrderedDict[ScopeKey, RuleSet] = OrderedDict()
        self.builds = 0

    async def _current(self, session: AsyncSession) -> int:
        revision = (await revisions.current(session)).get(revisions.CATALOG, 0)
        if revision != self._revision:
            self._revision, self._taxonomy = revision, None
            self._rules, self._rule_sets = {}, OrderedDict()
        return revision

    async def _still(self, session: AsyncSession, revision: int) -> bool:
        # Another process may have committed between our reads; keep only what is current.
        counters = await revisions.current(session, fresh=True)
        return counters.get(revisions.CATALOG, 0) == revision

    async def taxonomy(self, session: AsyncSession) -> TaxonomyView:
        """Every concept as evaluation sees it, at the current catalog revision."""
        revision = await self._current(session)
        if self._taxonomy is not None:
            return self._taxonomy
        view = await repository.load_taxonomy_view(session)
        self.builds += 1
        if await self._still(session, revision) and self._revision == revision:
            self._taxonomy = view
        return view

    async def rules(self, session: AsyncSession, connector_key: str) -> list[RuleView]:
        """The enabled, live rules of one connector, at the current catalog revision."""
        revision = await self._current(session)
        cached = self._rules.get(connector_key)
        if cached is not None:
            return cached
        views = await repository.load_rule_views(session, connector_key)
        if await self._still(session, revision) and self._revision == revision:
            self._rules[connector_key] = views
        return views

    async def rule_set(self, session: AsyncSession, scope: Scope) -> RuleSet:
        """The saved rules that apply to ``scope``, compiled against the taxonomy."""
        key: ScopeKey = (scope.connector_key, scope.stream, scope.connection_id)
        revision = await self._current(session)
        cached = self._rule_sets.get(key)
        if cached is not None:
            self._rule_sets.move_to_end(key)
            return cached
        taxonomy = await self.taxonomy(session)
        rule_set = RuleSet.compile(await self.rules(session, scope.connector_key), taxonomy, scope)
        if rule_set.skipped:
            log.warning("mapping.regex_rules_skipped", rule_ids=list(rule_set.skipped))
        if self._revision == revision:
            self._rule_sets[key] = rule_set
            while len(self._rule_sets) > MAX_RULE_SETS:
                self._rule_sets.popitem(last=False)
        return rule_set

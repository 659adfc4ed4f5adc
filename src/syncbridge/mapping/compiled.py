"""The compiled catalog: the taxonomy view and the rule sets evaluation runs on, built once
per catalog revision and shared by every preview (and, in the engine, by classification).

Each use reads the catalog revision (one small query); when it moved on, everything is
rebuilt from the store. A value built while another process committed a change is used for
that one call and not kept, so the cache never holds data older than its revision says.
"""

from __future__ import annotations

import uuid

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
        self._taxonomy: revisions.PerRevision[None, TaxonomyView] = revisions.PerRevision(
            revisions.CATALOG
        )
        self._rules: revisions.PerRevision[str, list[RuleView]] = revisions.PerRevision(
            revisions.CATALOG
        )
        self._rule_sets: revisions.PerRevision[ScopeKey, RuleSet] = revisions.PerRevision(
            revisions.CATALOG, MAX_RULE_SETS
        )

    async def taxonomy(self, session: AsyncSession) -> TaxonomyView:
        """Every concept as evaluation sees it, at the current catalog revision."""
        return await self._taxonomy.get(
            session, None, lambda: repository.load_taxonomy_view(session)
        )

    async def rules(self, session: AsyncSession, connector_key: str) -> list[RuleView]:
        """The enabled, live rules of one connector, at the current catalog revision."""
        return await self._rules.get(
            session, connector_key, lambda: repository.load_rule_views(session, connector_key)
        )

    async def rule_set(self, session: AsyncSession, scope: Scope) -> RuleSet:
        """The saved rules that apply to ``scope``, compiled against the taxonomy."""

        async def build() -> RuleSet:
            rules = await self.rules(session, scope.connector_key)
            rule_set = RuleSet.compile(rules, await self.taxonomy(session), scope)
            if rule_set.skipped:
                log.warning("mapping.regex_rules_skipped", rule_ids=list(rule_set.skipped))
            return rule_set

        key: ScopeKey = (scope.connector_key, scope.stream, scope.connection_id)
        return await self._rule_sets.get(session, key, build)

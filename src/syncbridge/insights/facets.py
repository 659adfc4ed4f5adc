"""The taxonomy as insights group by it: per concept, the concepts of each scheme it rolls up
into (itself and every broader concept, at any depth), built once per catalog revision on top
of the compiled taxonomy view (:class:`~syncbridge.mapping.compiled.CompiledCatalog`).

A concept rolls up through its broader links whatever their scheme: a narrower concept of
another scheme whose broader concept is in the grouped scheme counts in that concept's group.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.mapping.compiled import CompiledCatalog
from syncbridge.mapping.views import TaxonomyView
from syncbridge.store import revisions
from syncbridge.taxonomy import repository as taxonomy_repository

__all__ = ["FacetCache", "FacetConcept", "FacetIndex"]

_NONE: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class FacetConcept:
    """What a group shows of its concept."""

    id: uuid.UUID
    key: str
    scheme: str
    pref_label: str | None


class FacetIndex:
    """Scheme keys, concepts, and each concept's roll-up (see the module docstring)."""

    def __init__(
        self,
        schemes: Iterable[str],
        concepts: Iterable[FacetConcept],
        broader: Iterable[tuple[uuid.UUID, uuid.UUID]],
    ) -> None:
        self.schemes = frozenset(schemes)
        self.concepts: dict[uuid.UUID, FacetConcept] = {c.id: c for c in concepts}
        up: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for concept_id, broader_id in broader:
            up[concept_id].append(broader_id)
        self._rollup = {cid: self._ancestors(cid, up) for cid in self.concepts}
        # Per concept and scheme, the groups it counts in: looked up once per asset.
        self._groups: dict[uuid.UUID, dict[str, frozenset[uuid.UUID]]] = {}
        for cid, ancestors in self._rollup.items():
            by_scheme: dict[str, set[uuid.UUID]] = defaultdict(set)
            for ancestor in ancestors:
                by_scheme[self.concepts[ancestor].scheme].add(ancestor)
            self._groups[cid] = {scheme: frozenset(ids) for scheme, ids in by_scheme.items()}

    @classmethod
    def of(
        cls,
        schemes: Iterable[str],
        view: TaxonomyView,
        broader: Iterable[tuple[uuid.UUID, uuid.UUID]],
    ) -> FacetIndex:
        """An index over the compiled taxonomy ``view`` and its ``broader`` edges."""
        concepts = [
            FacetConcept(c.id, c.key, c.scheme_key or "", c.pref_label)
            for c in view.concepts.values()
        ]
        return cls(schemes, concepts, broader)

    def _ancestors(
        self, concept_id: uuid.UUID, up: Mapping[uuid.UUID, list[uuid.UUID]]
    ) -> frozenset[uuid.UUID]:
        # The store refuses cycles; the seen set ends the walk should one slip in anyway.
        seen = {concept_id}
        todo = [concept_id]
        while todo:
            for broader_id in up.get(todo.pop(), ()):
                if broader_id not in seen and broader_id in self.concepts:
                    seen.add(broader_id)
                    todo.append(broader_id)
        return frozenset(seen)

    def groups_of(self, concept_id: uuid.UUID, scheme: str) -> frozenset[uuid.UUID]:
        """The concepts of ``scheme`` an asset on ``concept_id`` counts in: the concept
        itself (if of the scheme) and its broader concepts of the scheme, at any depth."""
        return self._groups.get(concept_id, {}).get(scheme, _NONE)

    def rolling_into(self, schemes: Iterable[str]) -> list[uuid.UUID]:
        """Every concept that counts in some group of ``schemes`` (their classifications
        are the ones to read)."""
        wanted = set(schemes)
        return sorted(
            (cid for cid, groups in self._groups.items() if not wanted.isdisjoint(groups)),
            key=str,
        )


class FacetCache:
    """Per-process :class:`FacetIndex`, by catalog revision."""

    def __init__(self, catalog: CompiledCatalog) -> None:
        self._catalog = catalog
        self._index: revisions.PerRevision[None, FacetIndex] = revisions.PerRevision(
            revisions.CATALOG
        )

    async def index(self, session: AsyncSession) -> FacetIndex:
        """The index at the current catalog revision."""

        async def build() -> FacetIndex:
            view = await self._catalog.taxonomy(session)
            schemes = (await taxonomy_repository.scheme_keys_by_id(session)).values()
            edges = await taxonomy_repository.all_broader_edges(session)
            return FacetIndex.of(schemes, view, edges)

        return await self._index.get(session, None, build)

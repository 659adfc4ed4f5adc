"""The concept read model: every concept as the API shows it, built once per catalog
revision from lean column queries, with rendered pages kept for repeated reads.

Each read checks the catalog revision (one small query); a change committed by any process
moves it on and the next read rebuilds. A model built while another writer committed is used
for that read only and not kept.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.store import revisions
from syncbridge.store.paging import Page, PageParams
from syncbridge.taxonomy import repository
from syncbridge.taxonomy.schemas import ConceptOut
from syncbridge.taxonomy.validation import normalise_label

__all__ = ["ConceptFilter", "ConceptReadModel"]

#: How many rendered pages are kept (per revision).
MAX_PAGES = 512

_PAGE = TypeAdapter(Page[ConceptOut])


@dataclass(frozen=True)
class ConceptFilter:
    """Which concepts a list shows: of one scheme, of one status, matching a search."""

    scheme: str | None = None
    status: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class _Entry:
    view: ConceptOut
    norms: tuple[str, ...]


class _Snapshot:
    """Every concept at one revision, in key order, with what a search compares."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.pages: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()

    def select(self, flt: ConceptFilter) -> list[ConceptOut]:
        needle = normalise_label(flt.q) if flt.q else None
        key_needle = flt.q.strip().lower() if flt.q else None
        return [
            e.view
            for e in self.entries
            if (flt.scheme is None or e.view.scheme == flt.scheme)
            and (flt.status is None or e.view.status == flt.status)
            and (
                needle is None
                or any(needle in norm for norm in e.norms)
                or (key_needle is not None and key_needle in e.view.key)
            )
        ]


class ConceptReadModel:
    """Per-process concept views, by catalog revision (see the module docstring)."""

    def __init__(self) -> None:
        self._snapshot: revisions.PerRevision[None, _Snapshot] = revisions.PerRevision(
            revisions.CATALOG
        )

    async def _current(self, session: AsyncSession) -> _Snapshot:
        async def build() -> _Snapshot:
            return _Snapshot(await _build(session))

        return await self._snapshot.get(session, None, build)

    async def page_json(
        self, session: AsyncSession, flt: ConceptFilter, paging: PageParams
    ) -> bytes:
        """One page of the concepts ``flt`` selects, rendered as the API's JSON body."""
        snapshot = await self._current(session)
        key = (flt, paging.limit, paging.offset)
        rendered = snapshot.pages.get(key)
        if rendered is not None:
            snapshot.pages.move_to_end(key)
            return rendered
        selected = snapshot.select(flt)
        end = paging.offset + paging.limit
        page = Page[ConceptOut].of(selected[paging.offset : end], len(selected), paging)
        rendered = _PAGE.dump_json(page)
        snapshot.pages[key] = rendered
        while len(snapshot.pages) > MAX_PAGES:
            snapshot.pages.popitem(last=False)
        return rendered


async def _build(session: AsyncSession) -> list[_Entry]:
    concepts = await repository.concept_rows(session)
    keys = {row.id: row.key for row in concepts}
    schemes = await repository.scheme_keys_by_id(session)
    pref: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    alt: dict[uuid.UUID, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    norms: dict[uuid.UUID, list[str]] = defaultdict(list)
    for label in await repository.label_rows(session):
        if label.kind == "pref":
            pref[label.concept_id][label.lang] = label.text
        else:
            alt[label.concept_id][label.lang].append(label.text)
        norms[label.concept_id].append(label.norm)
    # Linked keys in the store's key order (its collation), as the rows came.
    rank = {row.key: i for i, row in enumerate(concepts)}
    broader: dict[uuid.UUID, list[str]] = defaultdict(list)
    narrower: dict[uuid.UUID, list[str]] = defaultdict(list)
    for concept_id, broader_id in await repository.all_broader_edges(session):
        broader[concept_id].append(keys[broader_id])
        narrower[broader_id].append(keys[concept_id])
    for linked in (*broader.values(), *narrower.values()):
        linked.sort(key=rank.__getitem__)
    return [
        _Entry(
            view=ConceptOut(
                key=row.key,
                scheme=schemes[row.scheme_id],
                pref_label=dict(sorted(pref[row.id].items())),
                alt_labels=dict(sorted(alt[row.id].items())),
                definition=row.definition,
                broader=broader[row.id],
                narrower=narrower[row.id],
                status=row.status,
                replaced_by=keys.get(row.replaced_by_id) if row.replaced_by_id else None,
                revision=row.revision,
                created_at=row.created_at,
                updated_at=row.updated_at,
            ),
            norms=tuple(norms[row.id]),
        )
        for row in concepts
    ]

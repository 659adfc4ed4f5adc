"""The pure core of an import: validate incoming values against the store and diff them.

``plan_import(incoming, store)`` decides what to create, update and leave alone; applying
the plan to the database is :func:`syncbridge.taxonomy.transfer.import_taxonomy`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from syncbridge.taxonomy.document import Taxonomy
from syncbridge.taxonomy.validation import TaxonomyImportError, check_taxonomy


@dataclass
class ImportPlan:
    """What an import changes, by key. Unchanged items are left completely untouched."""

    incoming: Taxonomy
    schemes_created: list[str] = field(default_factory=list)
    schemes_updated: list[str] = field(default_factory=list)
    schemes_unchanged: list[str] = field(default_factory=list)
    concepts_created: list[str] = field(default_factory=list)
    concepts_updated: list[str] = field(default_factory=list)
    concepts_unchanged: list[str] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(
            self.schemes_created
            or self.schemes_updated
            or self.concepts_created
            or self.concepts_updated
        )


def plan_import(incoming: Taxonomy, store: Taxonomy) -> ImportPlan:
    """Diff ``incoming`` (upserted by key) against ``store``.

    Raises :class:`TaxonomyImportError` with every problem when the result would break a
    taxonomy rule (see :func:`check_taxonomy`).
    """
    problems = check_taxonomy(incoming, store)
    if problems:
        raise TaxonomyImportError(problems)
    schemes = _diff(incoming.schemes, store.schemes)
    concepts = _diff(incoming.concepts, store.concepts)
    return ImportPlan(
        incoming=incoming,
        schemes_created=schemes[0],
        schemes_updated=schemes[1],
        schemes_unchanged=schemes[2],
        concepts_created=concepts[0],
        concepts_updated=concepts[1],
        concepts_unchanged=concepts[2],
    )


def _diff(
    incoming: Mapping[str, object], store: Mapping[str, object]
) -> tuple[list[str], list[str], list[str]]:
    """The keys of ``incoming`` that are new, changed and unchanged against ``store``."""
    created, updated, unchanged = [], [], []
    for key, item in sorted(incoming.items()):
        if key not in store:
            created.append(key)
        elif store[key] != item:
            updated.append(key)
        else:
            unchanged.append(key)
    return created, updated, unchanged

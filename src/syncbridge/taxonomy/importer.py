"""The pure core of an import: validate incoming values against the store and diff them.

``plan_import(incoming, store)`` decides what to create, update and leave alone; applying
the plan to the database is :func:`syncbridge.taxonomy.service.import_taxonomy`'s job.
"""

from __future__ import annotations

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
    plan = ImportPlan(incoming=incoming)
    for key, scheme in sorted(incoming.schemes.items()):
        current = store.schemes.get(key)
        if current is None:
            plan.schemes_created.append(key)
        elif current != scheme:
            plan.schemes_updated.append(key)
        else:
            plan.schemes_unchanged.append(key)
    for key, concept in sorted(incoming.concepts.items()):
        existing = store.concepts.get(key)
        if existing is None:
            plan.concepts_created.append(key)
        elif existing != concept:
            plan.concepts_updated.append(key)
        else:
            plan.concepts_unchanged.append(key)
    return plan

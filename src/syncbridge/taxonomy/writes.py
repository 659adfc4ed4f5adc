"""Writing the store: the steps the API's taxonomy service and the importer share.

Each step flushes and records its audit entry (full snapshots by key, never ids) in the
caller's transaction; none commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.errors import Conflict
from syncbridge.models import Concept, ConceptBroader, ConceptLabel, ConceptScheme
from syncbridge.taxonomy import repository
from syncbridge.taxonomy.document import ConceptData, SchemeData
from syncbridge.taxonomy.validation import normalise_label

CONCEPT = "concept"
SCHEME = "concept_scheme"


async def flush_or_conflict(session: AsyncSession, what: str) -> None:
    """Flush; a constraint the checks could not see coming becomes a 409.

    That is a race (two writers taking one label or key) or rows elsewhere still referring
    to what is being removed.
    """
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"{what} conflicts with a concurrent change or with data that refers to it; "
            "reload and retry"
        ) from exc


def concept_snapshot(data: ConceptData, revision: int) -> dict[str, Any]:
    """A concept's audit form: its content by key, and the revision it had."""
    return {**data.snapshot(), "revision": revision}


async def audit_concept(
    session: AsyncSession,
    concept: Concept,
    *,
    action: str,
    actor: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record a change of ``concept`` with :func:`concept_snapshot` snapshots."""
    await record(
        session,
        actor=actor,
        action=action,
        entity_type=CONCEPT,
        entity_id=concept.id,
        before=before,
        after=after,
    )


def scheme_snapshot(data: SchemeData, revision: int) -> dict[str, Any]:
    """A scheme's audit form: its content, and the revision it had."""
    return {**data.snapshot(), "revision": revision}


def scheme_data(scheme: ConceptScheme) -> SchemeData:
    """A stored scheme as a plain value."""
    return SchemeData(key=scheme.key, title=scheme.title, description=scheme.description)


async def add_scheme(session: AsyncSession, data: SchemeData, actor: str) -> ConceptScheme:
    """Insert a scheme whose key is free, audited."""
    scheme = ConceptScheme(key=data.key, title=data.title, description=data.description, revision=1)
    session.add(scheme)
    await flush_or_conflict(session, f"Scheme '{data.key}'")
    await record(
        session,
        actor=actor,
        action="scheme.create",
        entity_type=SCHEME,
        entity_id=scheme.id,
        after=scheme_snapshot(data, 1),
    )
    return scheme


async def rewrite_scheme(
    session: AsyncSession, scheme: ConceptScheme, data: SchemeData, actor: str
) -> None:
    """Give a scheme the title and description of ``data``; audited if anything changed."""
    before = scheme_data(scheme)
    if data == before:
        return
    before_revision = scheme.revision
    scheme.title, scheme.description = data.title, data.description
    scheme.revision = before_revision + 1
    await flush_or_conflict(session, f"Scheme '{scheme.key}'")
    await record(
        session,
        actor=actor,
        action="scheme.update",
        entity_type=SCHEME,
        entity_id=scheme.id,
        before=scheme_snapshot(before, before_revision),
        after=scheme_snapshot(data, scheme.revision),
    )


async def clear_state(session: AsyncSession, concept_ids: list[uuid.UUID]) -> None:
    """Remove the labels and broader links of concepts about to be rewritten.

    Done for all rewritten concepts before any is written back, so that labels moving
    between concepts never trip the unique index half-way.
    """
    if concept_ids:
        await repository.delete_labels_and_broader(session, concept_ids)
        await session.flush()


def write_state(
    session: AsyncSession,
    concept: Concept,
    data: ConceptData,
    *,
    ids: dict[str, uuid.UUID],
    scheme_ids: dict[str, uuid.UUID],
) -> None:
    """Set a concept's columns, labels and broader links from ``data`` (after clear_state)."""
    scheme_id = scheme_ids[data.scheme]
    concept.scheme_id = scheme_id
    concept.status = data.status
    concept.definition = data.definition
    concept.replaced_by_id = ids[data.replaced_by] if data.replaced_by else None
    labels = [("pref", lang, text) for lang, text in data.pref_label.items()] + [
        ("alt", lang, text) for lang, texts in data.alt_labels.items() for text in texts
    ]
    session.add_all(
        ConceptLabel(
            concept_id=concept.id,
            scheme_id=scheme_id,
            kind=kind,
            lang=lang,
            text=text,
            norm=normalise_label(text),
        )
        for kind, lang, text in labels
    )
    session.add_all(ConceptBroader(concept_id=concept.id, broader_id=ids[b]) for b in data.broader)

"""Taxonomy changes through the API: schemes and concepts, deprecation and deletion.

Every change first takes the catalog's write lock (:func:`revisions.lock_for_write`), so
concurrent writers queue up and each checks its change against what the one before it
committed; then it is checked against the whole taxonomy with the same rules an import uses
(:func:`check_taxonomy`), bumps the revision of what it changes and is audited, through the
steps of :mod:`syncbridge.taxonomy.writes`. A write made against a stale revision
(``If-Match``) is refused with 412. Services only flush.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.classification import triggers
from syncbridge.errors import Conflict, InvalidInput, NotFound
from syncbridge.mapping.service import retarget_rules, rules_referencing, rules_using_concept
from syncbridge.models import Concept, ConceptScheme, MappingRule
from syncbridge.store import revisions
from syncbridge.store.preconditions import UNCONDITIONAL, Precondition
from syncbridge.tagging.repository import live_rules_emitting
from syncbridge.taxonomy import repository
from syncbridge.taxonomy.document import ConceptData, SchemeData, Taxonomy
from syncbridge.taxonomy.schemas import ConceptIn, ConceptPatch, SchemeIn, SchemePatch
from syncbridge.taxonomy.validation import Problem, check_taxonomy
from syncbridge.taxonomy.writes import (
    SCHEME,
    add_scheme,
    audit_concept,
    clear_state,
    concept_snapshot,
    flush_or_conflict,
    rewrite_scheme,
    scheme_data,
    scheme_snapshot,
    write_state,
)


def refuse(problems: list[Problem]) -> NoReturn:
    """Raise 409 when a problem is a clash with other concepts, else 422."""
    errors = [{"field": p.attribute or p.field, "reason": p.reason} for p in problems]
    clashes = [p for p in problems if p.conflict]
    if clashes:
        raise Conflict(clashes[0].reason, errors=errors)
    raise InvalidInput(problems[0].reason, errors=errors)


def rule_refs(rules: list[MappingRule]) -> list[dict[str, str]]:
    """Rules as ``{"id", "name"}`` for error bodies and reports."""
    return [{"id": str(rule.id), "name": rule.name} for rule in rules]


async def refuse_if_tagging(session: AsyncSession, key: str, doing: str) -> None:
    """409 naming the enabled tag rules that give ``key`` as a tier or as their insufficient
    concept: deprecating or deleting it would leave them tagging with a retired concept (a
    replacement does not move them; a tier is the rule author's choice)."""
    rules = await live_rules_emitting(session, key)
    if not rules:
        return
    names = ", ".join(f"'{rule.name}' ({rule.id})" for rule in rules)
    raise Conflict(
        f"Enabled tag rule(s) give '{key}': {names}; change or disable them before you {doing} it.",
        errors=[{"field": "key", "reason": f"given by the enabled tag rule(s) {names}"}],
        extra={
            "tag_rules": [
                {"id": str(rule.id), "name": rule.name, "version": rule.version} for rule in rules
            ]
        },
    )


# --- schemes ---------------------------------------------------------------------------


async def get_scheme(session: AsyncSession, key: str) -> ConceptScheme:
    """The scheme with ``key``; raises NotFound."""
    scheme = await repository.scheme_by_key(session, key)
    if scheme is None:
        raise NotFound(f"No concept scheme '{key}'.")
    return scheme


async def create_scheme(session: AsyncSession, data: SchemeIn, actor: str) -> ConceptScheme:
    """Create a scheme; 409 when the key is taken."""
    await revisions.lock_for_write(session, revisions.CATALOG)
    if await repository.scheme_by_key(session, data.key) is not None:
        raise Conflict(
            f"A concept scheme '{data.key}' already exists.",
            errors=[{"field": "key", "reason": "already exists"}],
        )
    new = SchemeData(key=data.key, title=data.title, description=data.description)
    return await add_scheme(session, new, actor)


async def update_scheme(
    session: AsyncSession,
    key: str,
    patch: SchemePatch,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> ConceptScheme:
    """Change a scheme's title or description (audited when something changed)."""
    await revisions.lock_for_write(session, revisions.CATALOG)
    scheme = await get_scheme(session, key)
    changes = patch.model_dump(exclude_unset=True)
    if "title" in changes and changes["title"] is None:
        raise InvalidInput("title cannot be null", errors=[{"field": "title", "reason": "null"}])
    expect.check(scheme.revision, f"Scheme '{key}'")
    await rewrite_scheme(session, scheme, replace(scheme_data(scheme), **changes), actor)
    return scheme


async def delete_scheme(
    session: AsyncSession, key: str, actor: str, expect: Precondition = UNCONDITIONAL
) -> None:
    """Delete an empty scheme; 409 while it has concepts."""
    await revisions.lock_for_write(session, revisions.CATALOG)
    scheme = await get_scheme(session, key)
    expect.check(scheme.revision, f"Scheme '{key}'")
    count = (await repository.concept_counts(session, [scheme.id])).get(scheme.id, 0)
    if count:
        raise Conflict(
            f"Scheme '{key}' still has {count} concepts; delete or move them first.",
            extra={"concept_count": count},
        )
    before = scheme_snapshot(scheme_data(scheme), scheme.revision)
    await session.delete(scheme)
    await flush_or_conflict(session, f"Deleting scheme '{key}'")
    await record(
        session,
        actor=actor,
        action="scheme.delete",
        entity_type=SCHEME,
        entity_id=scheme.id,
        before=before,
    )


async def _store_change(
    session: AsyncSession,
    concept: Concept,
    before: ConceptData,
    after: ConceptData,
    *,
    action: str,
    actor: str,
) -> None:
    """Rewrite an existing concept to ``after``, bump its revision and audit the change."""
    before_revision = concept.revision
    await clear_state(session, [concept.id])
    write_state(
        session,
        concept,
        after,
        ids=await repository.ids_by_key(session),
        scheme_ids=await repository.scheme_ids_by_key(session),
    )
    concept.revision = before_revision + 1
    await flush_or_conflict(session, f"Concept '{concept.key}'")
    await audit_concept(
        session,
        concept,
        action=action,
        actor=actor,
        before=concept_snapshot(before, before_revision),
        after=concept_snapshot(after, concept.revision),
    )


def _check_one(data: ConceptData, store: Taxonomy) -> None:
    problems = check_taxonomy(Taxonomy(concepts={data.key: data}), store)
    if problems:
        refuse(problems)


# --- concepts --------------------------------------------------------------------------


async def get_concept(session: AsyncSession, key: str) -> Concept:
    """The concept with ``key``; raises NotFound."""
    concept = await repository.concept_by_key(session, key)
    if concept is None:
        raise NotFound(f"No concept '{key}'.")
    return concept


async def create_concept(session: AsyncSession, data: ConceptIn, actor: str) -> Concept:
    """Create a concept; 422 for unknown scheme or broader keys, 409 for clashes."""
    await revisions.lock_for_write(session, revisions.CATALOG)
    if await repository.scheme_by_key(session, data.scheme) is None:
        raise InvalidInput(
            f"No concept scheme '{data.scheme}'.",
            errors=[{"field": "scheme", "reason": "unknown scheme"}],
        )
    if await repository.concept_by_key(session, data.key) is not None:
        raise Conflict(
            f"A concept '{data.key}' already exists.",
            errors=[{"field": "key", "reason": "already exists"}],
        )
    new = ConceptData.build(
        key=data.key,
        scheme=data.scheme,
        pref_label=data.pref_label,
        alt_labels=data.alt_labels,
        definition=data.definition,
        broader=data.broader,
        status=data.status,
    )
    _check_one(new, await repository.load_taxonomy(session))
    scheme_ids = await repository.scheme_ids_by_key(session)
    concept = Concept(key=data.key, scheme_id=scheme_ids[data.scheme], status=data.status)
    concept.revision = 1
    session.add(concept)
    await flush_or_conflict(session, f"Concept '{data.key}'")
    ids = await repository.ids_by_key(session)
    write_state(session, concept, new, ids=ids, scheme_ids=scheme_ids)
    await flush_or_conflict(session, f"Concept '{data.key}'")
    after = concept_snapshot(new, 1)
    await audit_concept(session, concept, action="concept.create", actor=actor, after=after)
    return concept


def _patched(before: ConceptData, patch: ConceptPatch) -> ConceptData:
    changes = patch.model_dump(exclude_unset=True)
    for name in ("pref_label", "broader", "status"):
        if name in changes and changes[name] is None:
            raise InvalidInput(
                f"{name} cannot be null", errors=[{"field": name, "reason": "cannot be null"}]
            )
    status = changes.get("status", before.status)
    merged = {
        "pref_label": changes.get("pref_label", before.pref_label),
        "alt_labels": changes.get("alt_labels", before.alt_labels) or {},
        "definition": changes.get("definition", before.definition),
        "broader": changes.get("broader", before.broader),
        "status": status,
        # Leaving deprecation (back to draft or approved) drops the replacement.
        "replaced_by": before.replaced_by if status == "deprecated" else None,
    }
    return ConceptData.build(key=before.key, scheme=before.scheme, **merged)


async def update_concept(
    session: AsyncSession,
    key: str,
    patch: ConceptPatch,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> Concept:
    """Apply ``patch``; no-op patches leave the revision and the audit log alone."""
    await revisions.lock_for_write(session, revisions.CATALOG)
    concept = await get_concept(session, key)
    store = await repository.load_taxonomy(session)
    before = store.concepts[key]
    after = _patched(before, patch)
    expect.check(concept.revision, f"Concept '{key}'")
    if after == before:
        return concept
    _check_one(after, store)
    await _store_change(session, concept, before, after, action="concept.update", actor=actor)
    return concept


async def deprecate_concept(
    session: AsyncSession,
    key: str,
    replacement: str | None,
    actor: str,
    expect: Precondition = UNCONDITIONAL,
) -> tuple[Concept, list[MappingRule]]:
    """Deprecate a concept, moving its mapping rules to ``replacement``.

    Without a replacement, a concept that live mapping rules still target is refused
    (409 listing them in ``mappings``). Returns the concept and the rules moved.
    """
    await revisions.lock_for_write(session, revisions.CATALOG)
    concept = await get_concept(session, key)
    expect.check(concept.revision, f"Concept '{key}'")
    store = await repository.load_taxonomy(session)
    before = store.concepts[key]
    if replacement is not None and replacement not in store.concepts:
        raise InvalidInput(
            f"No concept '{replacement}' to replace '{key}' with.",
            errors=[{"field": "replacement", "reason": "unknown concept"}],
        )
    after = replace(before, status="deprecated", replaced_by=replacement)
    _check_one(after, store)
    if before.status != "deprecated":
        await refuse_if_tagging(session, key, "deprecate")
    rules = await rules_using_concept(session, concept.id)
    if rules and replacement is None:
        raise Conflict(
            f"{len(rules)} mapping rule(s) still map to '{key}'; deprecate it with a "
            "replacement to move them, or change the rules first.",
            extra={"mappings": rule_refs(rules)},
        )
    moved: list[MappingRule] = []
    if rules and replacement is not None:
        ids = await repository.ids_by_key(session)
        moved = await retarget_rules(
            session, from_concept_id=concept.id, to_concept_id=ids[replacement], actor=actor
        )
    if after != before:
        await _store_change(
            session, concept, before, after, action="concept.deprecate", actor=actor
        )
        await triggers.concept_deprecated(session, concept.id, actor=actor)
    return concept, moved


async def delete_concept(
    session: AsyncSession, key: str, actor: str, expect: Precondition = UNCONDITIONAL
) -> None:
    """Delete a concept nothing depends on.

    Refused (409) while it has narrower concepts or mapping rules (current or past versions)
    point to it. Concepts it replaced lose their replacement, audited.
    """
    await revisions.lock_for_write(session, revisions.CATALOG)
    concept = await get_concept(session, key)
    expect.check(concept.revision, f"Concept '{key}'")
    narrower = (await repository.narrower_keys(session, [concept.id])).get(concept.id, [])
    if narrower:
        raise Conflict(
            f"'{key}' has narrower concepts; move or delete them first.",
            extra={"narrower": narrower},
        )
    rules = await rules_referencing(session, concept.id)
    if rules:
        raise Conflict(
            f"{len(rules)} mapping rule(s) map or mapped to '{key}'; deprecate it instead.",
            extra={"mappings": rule_refs(rules)},
        )
    await refuse_if_tagging(session, key, "delete")
    for dependent in await repository.replaced_concepts(session, concept.id):
        before = await repository.concept_data(session, dependent)
        await _store_change(
            session,
            dependent,
            before,
            replace(before, replaced_by=None),
            action="concept.update",
            actor=actor,
        )
    before = await repository.concept_data(session, concept)
    await session.delete(concept)
    await flush_or_conflict(session, f"Deleting concept '{key}'")
    snapshot = concept_snapshot(before, concept.revision)
    await audit_concept(session, concept, action="concept.delete", actor=actor, before=snapshot)

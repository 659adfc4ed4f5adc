"""Import into and export from the store: the database side of :mod:`importer`.

An import is atomic (the caller commits once, or nothing) and idempotent: items equal to
what the store holds are not written, audited or re-revisioned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.classification import triggers
from syncbridge.mapping.service import retarget_rules, rules_using_concept
from syncbridge.models import Concept, MappingRule
from syncbridge.offload import run_cpu
from syncbridge.store import revisions
from syncbridge.tagging.repository import live_rules_emitting
from syncbridge.taxonomy import repository
from syncbridge.taxonomy.document import Taxonomy
from syncbridge.taxonomy.importer import ImportPlan, plan_import
from syncbridge.taxonomy.service import get_scheme
from syncbridge.taxonomy.validation import Problem, TaxonomyImportError
from syncbridge.taxonomy.writes import (
    add_scheme,
    audit_concept,
    clear_state,
    concept_snapshot,
    flush_or_conflict,
    rewrite_scheme,
    write_state,
)


@dataclass
class ImportResult:
    """The plan an import followed, and the mapping rules it moved (or, dry, would move)."""

    plan: ImportPlan
    dry_run: bool
    moved_rules: list[MappingRule] = field(default_factory=list)


@dataclass
class _RuleMove:
    concept_key: str
    replacement: str
    rules: list[MappingRule]


async def import_taxonomy(
    session: AsyncSession, incoming: Taxonomy, *, actor: str, dry_run: bool = False
) -> ImportResult:
    """Upsert ``incoming`` by key; with ``dry_run`` only validate and report.

    Raises :class:`TaxonomyImportError` (nothing written) when any rule is broken, including
    deprecating a concept that live mapping rules target without giving ``replaced_by``.
    Flushes only: the caller commits.
    """
    if not dry_run:
        await revisions.lock_for_write(session, revisions.CATALOG)
    store = await repository.load_taxonomy(session)
    plan = await run_cpu(plan_import, incoming, store)
    moves = await _rule_moves(session, plan, store)
    if dry_run or not plan.changes_anything:
        # A dry run reports the rules the import would move.
        would_move = [rule for move in moves for rule in move.rules] if dry_run else []
        return ImportResult(plan=plan, dry_run=dry_run, moved_rules=would_move)
    await _apply(session, plan, store, actor)
    ids = await repository.ids_by_key(session)
    moved: list[MappingRule] = []
    for move in moves:
        moved += await retarget_rules(
            session,
            from_concept_id=ids[move.concept_key],
            to_concept_id=ids[move.replacement],
            actor=actor,
        )
    # As deprecating one concept does: re-classify what the deprecated concepts held.
    for key in _newly_deprecated(plan, store):
        await triggers.concept_deprecated(session, ids[key], actor=actor)
    return ImportResult(plan=plan, dry_run=False, moved_rules=moved)


def _newly_deprecated(plan: ImportPlan, store: Taxonomy) -> list[str]:
    """Keys of the concepts the import deprecates (or gives a new replacement)."""
    keys: list[str] = []
    for key in plan.concepts_updated:
        new, old = plan.incoming.concepts[key], store.concepts[key]
        if new.status == "deprecated" and (
            old.status != "deprecated" or new.replaced_by != old.replaced_by
        ):
            keys.append(key)
    return keys


async def _rule_moves(session: AsyncSession, plan: ImportPlan, store: Taxonomy) -> list[_RuleMove]:
    """Rules to move for concepts the import deprecates; refuses when there is no target."""
    ids = await repository.ids_by_key(session)
    moves: list[_RuleMove] = []
    problems: list[Problem] = []
    for key in _newly_deprecated(plan, store):
        new = plan.incoming.concepts[key]
        origin = plan.incoming.origins.get(key)
        tagging = await live_rules_emitting(session, key)
        if tagging and store.concepts[key].status != "deprecated":
            names = ", ".join(f"'{r.name}' ({r.id})" for r in tagging)
            problems.append(
                Problem(
                    f"enabled tag rules give this concept: {names}; change or disable them first",
                    file=origin.file if origin else None,
                    line=origin.line if origin else None,
                    key=key,
                    conflict=True,
                )
            )
        rules = await rules_using_concept(session, ids[key])
        if rules and new.replaced_by:
            moves.append(_RuleMove(key, new.replaced_by, rules))
        elif rules:
            names = ", ".join(f"'{r.name}' ({r.id})" for r in rules)
            problems.append(
                Problem(
                    f"mapping rules still map to this concept: {names}; give replaced_by to "
                    "move them",
                    file=origin.file if origin else None,
                    line=origin.line if origin else None,
                    key=key,
                    conflict=True,
                )
            )
    if problems:
        raise TaxonomyImportError(problems)
    return moves


async def _apply(session: AsyncSession, plan: ImportPlan, store: Taxonomy, actor: str) -> None:
    await _apply_schemes(session, plan, actor)
    scheme_ids = await repository.scheme_ids_by_key(session)
    incoming = plan.incoming.concepts
    created = [
        Concept(key=key, scheme_id=scheme_ids[incoming[key].scheme], status=incoming[key].status)
        for key in plan.concepts_created
    ]
    session.add_all(created)
    await flush_or_conflict(session, "The import")
    updated: list[Concept] = []
    if plan.concepts_updated:
        rows = await repository.concepts_by_keys(session, plan.concepts_updated)
        updated = sorted(rows, key=lambda c: c.key)
    await clear_state(session, [c.id for c in updated])
    ids = await repository.ids_by_key(session)
    for concept in [*created, *updated]:
        write_state(session, concept, incoming[concept.key], ids=ids, scheme_ids=scheme_ids)
    for concept in created:
        concept.revision = 1
    revisions = {c.key: c.revision for c in updated}
    for concept in updated:
        concept.revision += 1
    await flush_or_conflict(session, "The import")
    for concept in [*created, *updated]:
        after = concept_snapshot(incoming[concept.key], concept.revision)
        if concept.key in revisions:
            before = concept_snapshot(store.concepts[concept.key], revisions[concept.key])
            action = "concept.update"
        else:
            before, action = None, "concept.create"
        await audit_concept(
            session, concept, action=action, actor=actor, before=before, after=after
        )


async def _apply_schemes(session: AsyncSession, plan: ImportPlan, actor: str) -> None:
    for key in plan.schemes_created:
        await add_scheme(session, plan.incoming.schemes[key], actor)
    for key in plan.schemes_updated:
        await rewrite_scheme(
            session, await get_scheme(session, key), plan.incoming.schemes[key], actor
        )


async def export_taxonomy(session: AsyncSession, scheme: str | None = None) -> Taxonomy:
    """The store (or one scheme of it; NotFound for an unknown scheme) as plain values."""
    taxonomy = await repository.load_taxonomy(session)
    if scheme is None:
        return taxonomy
    await get_scheme(session, scheme)
    return taxonomy.only_schemes([scheme])

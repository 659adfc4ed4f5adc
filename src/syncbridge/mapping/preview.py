"""Dry-running a sample record through saved and draft rules; nothing is written."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.auth.service import Role
from syncbridge.errors import Forbidden
from syncbridge.logs import get_logger
from syncbridge.mapping.compiled import CompiledCatalog
from syncbridge.mapping.evaluate import Match, RuleSet, RuleView, Scope, TaxonomyView
from syncbridge.mapping.schemas import (
    DraftRule,
    PreviewConcept,
    PreviewMatch,
    PreviewRequest,
    PreviewResult,
    PreviewRule,
)
from syncbridge.mapping.service import check_rule, resolve_concept

__all__ = ["DRAFT_PREFIX", "preview"]

DRAFT_PREFIX = "draft-"

log = get_logger(__name__)


async def preview(
    session: AsyncSession, catalog: CompiledCatalog, body: PreviewRequest, role: Role
) -> PreviewResult:
    """The concepts ``body.record`` would land on, and which rule matched what.

    Drafts need the editor role (Forbidden otherwise) and are validated like a save
    (InvalidInput, Conflict for a deprecated target) with field names
    ``draft_rules.N.<field>``; draft N is reported as rule ``draft-N``. Saved rules come
    compiled from ``catalog``.
    """
    if body.draft_rules and not role.allows(Role.editor):
        raise Forbidden("Previewing draft rules needs the 'editor' role.")
    scope = Scope(body.connector_key, body.stream, body.connection_id)
    taxonomy = await catalog.taxonomy(session)
    if not body.draft_rules:
        ruleset = await catalog.rule_set(session, scope) if body.include_saved else None
        matches = ruleset.evaluate(body.record) if ruleset is not None else []
        evaluated = ruleset.rule_count if ruleset is not None else 0
    else:
        drafts = [await _draft_view(session, body, i, d) for i, d in enumerate(body.draft_rules)]
        saved = await catalog.rules(session, body.connector_key) if body.include_saved else []
        rules = saved + drafts
        ruleset = RuleSet.compile(rules, taxonomy, scope)
        if ruleset.skipped:
            log.warning("mapping.regex_rules_skipped", rule_ids=list(ruleset.skipped))
        matches = ruleset.evaluate(body.record)
        evaluated = sum(1 for rule in rules if scope.admits(rule))
    return PreviewResult(
        matches=[_preview_match(m, taxonomy) for m in matches], rules_evaluated=evaluated
    )


async def _draft_view(
    session: AsyncSession, body: PreviewRequest, index: int, draft: DraftRule
) -> RuleView:
    prefix = f"draft_rules.{index}."
    content = draft.model_dump(exclude={"concept"})
    check_rule(content, prefix=prefix)
    concept = await resolve_concept(session, draft.concept, field=prefix + "concept")
    return RuleView(
        id=f"{DRAFT_PREFIX}{index}",
        version=None,
        connector_key=draft.connector_key or body.connector_key,
        connection_id=draft.connection_id,
        stream=draft.stream,
        field_path=draft.field_path,
        operator=draft.operator,
        values=tuple(draft.values),
        case_sensitive=draft.case_sensitive,
        match_labels=draft.match_labels,
        concept_id=concept.id,
        priority=draft.priority,
        enabled=draft.enabled,
    )


def _preview_match(match: Match, taxonomy: TaxonomyView) -> PreviewMatch:
    concept = taxonomy.concepts[match.concept_id]
    return PreviewMatch(
        concept=PreviewConcept(
            key=concept.key, pref_label=concept.pref_label, scheme=concept.scheme_key
        ),
        rule=PreviewRule(
            id=match.rule_id,
            version=match.rule_version,
            draft=match.rule_id.startswith(DRAFT_PREFIX),
        ),
        field_path=match.field_path,
        matched_value=match.matched_value,
        priority=match.priority,
    )

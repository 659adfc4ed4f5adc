"""``/v1/mappings``: mapping rules, their versions and previews."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from syncbridge.api.deps import Editor, SessionDep, Viewer
from syncbridge.api.pagination import Page, Paging, fetch_page
from syncbridge.api.problems import problem_responses
from syncbridge.auth.service import Role
from syncbridge.errors import Forbidden
from syncbridge.mapping import repository, service
from syncbridge.mapping.preview import preview
from syncbridge.mapping.schemas import (
    PreviewRequest,
    PreviewResult,
    RuleCreate,
    RuleOut,
    RulePatch,
    RuleVersionOut,
)
from syncbridge.models import MappingRuleVersion

router = APIRouter(prefix="/v1/mappings", tags=["mappings"])


@router.get("", operation_id="list_mapping_rules")
async def list_rules(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    connector_key: str | None = None,
    stream: str | None = None,
    concept: str | None = None,
    enabled: bool | None = None,
    include_archived: bool = False,
) -> Page[RuleOut]:
    """Rules, highest priority first; archived ones only with ``include_archived``."""
    concept_id = None
    if concept is not None:
        found = await repository.concept_by_key(session, concept)
        if found is None:
            return Page.of([], 0, paging)
        concept_id = found.id
    stmt = repository.rules_query(
        connector_key=connector_key,
        stream=stream,
        concept_id=concept_id,
        enabled=enabled,
        include_archived=include_archived,
    )
    rules, total = await fetch_page(session, repository.listing_order(stmt), paging)
    return Page.of(await service.rule_outs(session, rules), total, paging)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_mapping_rule",
    responses=problem_responses(409),
)
async def create_rule(body: RuleCreate, session: SessionDep, principal: Editor) -> RuleOut:
    """Create a rule (version 1). 422 for a bad path, operator, values or concept key;
    409 when the target concept is deprecated."""
    rule = await service.create_rule(session, body, principal.actor)
    await session.commit()
    return (await service.rule_outs(session, [rule]))[0]


@router.post("/preview", operation_id="preview_mapping", responses=problem_responses(409))
async def preview_mapping(
    body: PreviewRequest, session: SessionDep, principal: Viewer
) -> PreviewResult:
    """Dry-run a sample record through the saved rules and any draft rules; writes nothing.

    Viewers preview the saved rules; draft rules are rule authoring, so they need the editor
    role (and that keeps arbitrary patterns away from read-only keys).
    """
    if body.draft_rules and not principal.role.allows(Role.editor):
        raise Forbidden("Previewing draft rules needs the 'editor' role.")
    return await preview(session, body)


@router.get("/{rule_id:uuid}", operation_id="get_mapping_rule")
async def get_rule(rule_id: uuid.UUID, session: SessionDep, _principal: Viewer) -> RuleOut:
    """One rule as it is now (archived rules too)."""
    rule = await service.get_rule(session, rule_id)
    return (await service.rule_outs(session, [rule]))[0]


@router.patch(
    "/{rule_id:uuid}", operation_id="update_mapping_rule", responses=problem_responses(409)
)
async def update_rule(
    rule_id: uuid.UUID, body: RulePatch, session: SessionDep, principal: Editor
) -> RuleOut:
    """Change a rule; every real change is a new version. 409 for an archived rule."""
    rule = await service.update_rule(session, rule_id, body, principal.actor)
    await session.commit()
    return (await service.rule_outs(session, [rule]))[0]


@router.delete(
    "/{rule_id:uuid}", status_code=status.HTTP_204_NO_CONTENT, operation_id="archive_mapping_rule"
)
async def archive_rule(rule_id: uuid.UUID, session: SessionDep, principal: Editor) -> None:
    """Archive a rule: it stops mapping; it and its versions stay readable."""
    await service.archive_rule(session, rule_id, principal.actor)
    await session.commit()


@router.get("/{rule_id:uuid}/versions", operation_id="list_mapping_rule_versions")
async def list_versions(
    rule_id: uuid.UUID, session: SessionDep, _principal: Viewer, paging: Paging
) -> Page[RuleVersionOut]:
    """A rule's versions, oldest first."""
    versions, total = await service.list_versions(session, rule_id, paging)
    return Page.of(await _version_outs(session, versions), total, paging)


@router.get("/{rule_id:uuid}/versions/{version}", operation_id="get_mapping_rule_version")
async def get_version(
    rule_id: uuid.UUID, version: int, session: SessionDep, _principal: Viewer
) -> RuleVersionOut:
    """One version of a rule."""
    found = await service.get_version(session, rule_id, version)
    return (await _version_outs(session, [found]))[0]


async def _version_outs(
    session: SessionDep, versions: list[MappingRuleVersion]
) -> list[RuleVersionOut]:
    concepts = await repository.concepts_by_id(session, [v.concept_id for v in versions])
    outs = []
    for version in versions:
        concept = concepts.get(version.concept_id)
        out = RuleVersionOut.model_validate(version)
        outs.append(out.model_copy(update={"concept": concept.key if concept else None}))
    return outs

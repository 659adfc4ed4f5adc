"""``/v1/tag-rules``: tag rules, their versions and previews.

A rule's ``revision`` is its ``ETag``; PATCH and DELETE honour ``If-Match`` (412 when stale,
428 when the store requires it and it is missing). DELETE archives: the rule and its
versions stay readable.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from syncbridge.api.deps import Editor, SessionDep, UnitOfWorkRoute, Viewer, read_only
from syncbridge.api.etags import IfMatch, set_etag
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.tagging import service
from syncbridge.tagging.preview import preview_rule
from syncbridge.tagging.schemas import (
    TagRuleCreate,
    TagRuleOut,
    TagRulePatch,
    TagRulePreview,
    TagRulePreviewRequest,
    TagRuleVersionOut,
)

router = APIRouter(prefix="/v1/tag-rules", tags=["tag-rules"], route_class=UnitOfWorkRoute)


@router.get("", operation_id="list_tag_rules")
async def list_rules(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    enabled: bool | None = None,
    include_archived: bool = False,
) -> Page[TagRuleOut]:
    """Rules by name; archived ones only with ``include_archived``."""
    return await service.list_rules(
        session, paging, enabled=enabled, include_archived=include_archived
    )


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_tag_rule")
async def create_rule(
    body: TagRuleCreate, session: SessionDep, principal: Editor, response: Response
) -> TagRuleOut:
    """Create a rule (version 1). 422 names each bad field and why: an unknown scheme or
    concept, tiers with a gap or an overlap, a KPI metric with no data source, a target that
    is not a DAM connection or whose connector does not take the mode."""
    rule = await service.create_rule(session, body, principal.actor)
    set_etag(response, rule.revision)
    return TagRuleOut.model_validate(rule)


@router.post("/preview", operation_id="preview_tag_rule", responses=problem_responses(404, 409))
@read_only
async def preview(
    body: TagRulePreviewRequest, session: SessionDep, _principal: Editor
) -> TagRulePreview:
    """Before anything is saved: how many assets a new rule, or an edit of a saved one,
    would give, keep and take each tag from, over the current metric facts, against the
    rule's current desired tags (none for a new rule), with example assets. Writes nothing.
    422 names each bad field as a create or an edit would (under ``rule.`` or
    ``changes.``); 409 for an archived rule."""
    return await preview_rule(session, body)


@router.get("/{rule_id:uuid}", operation_id="get_tag_rule")
async def get_rule(
    rule_id: uuid.UUID, session: SessionDep, _principal: Viewer, response: Response
) -> TagRuleOut:
    """One rule as it is now (archived rules too)."""
    rule = await service.get_rule(session, rule_id)
    set_etag(response, rule.revision)
    return TagRuleOut.model_validate(rule)


@router.patch(
    "/{rule_id:uuid}",
    operation_id="update_tag_rule",
    responses=problem_responses(409, 412, 428),
)
async def update_rule(
    rule_id: uuid.UUID,
    body: TagRulePatch,
    session: SessionDep,
    principal: Editor,
    expect: IfMatch,
    response: Response,
) -> TagRuleOut:
    """Change a rule; every real change is a new version. 409 for an archived rule."""
    rule = await service.update_rule(session, rule_id, body, principal.actor, expect)
    set_etag(response, rule.revision)
    return TagRuleOut.model_validate(rule)


@router.delete(
    "/{rule_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="archive_tag_rule",
    responses=problem_responses(412, 428),
)
async def archive_rule(
    rule_id: uuid.UUID, session: SessionDep, principal: Editor, expect: IfMatch
) -> None:
    """Archive a rule: it stops tagging; it and its versions stay readable."""
    await service.archive_rule(session, rule_id, principal.actor, expect)


@router.get("/{rule_id:uuid}/versions", operation_id="list_tag_rule_versions")
async def list_versions(
    rule_id: uuid.UUID, session: SessionDep, _principal: Viewer, paging: Paging
) -> Page[TagRuleVersionOut]:
    """A rule's versions, oldest first."""
    return await service.versions_page(session, rule_id, paging)


@router.get("/{rule_id:uuid}/versions/{version}", operation_id="get_tag_rule_version")
async def get_version(
    rule_id: uuid.UUID, version: int, session: SessionDep, _principal: Viewer
) -> TagRuleVersionOut:
    """One version of a rule."""
    return await service.show_version(session, rule_id, version)

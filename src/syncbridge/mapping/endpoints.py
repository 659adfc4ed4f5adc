"""``/v1/mappings``: mapping rules, their versions and previews.

A rule's ``revision`` is its ``ETag``; PATCH and DELETE honour ``If-Match`` (412 when stale).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from syncbridge.api.deps import Editor, SessionDep, UnitOfWorkRoute, Viewer, read_only
from syncbridge.api.etags import IfMatch, set_etag
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.mapping import service
from syncbridge.mapping.preview import preview
from syncbridge.mapping.schemas import (
    PreviewRequest,
    PreviewResult,
    RuleCreate,
    RuleOut,
    RulePatch,
    RuleVersionOut,
)

router = APIRouter(prefix="/v1/mappings", tags=["mappings"], route_class=UnitOfWorkRoute)


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
    return await service.list_rules(
        session,
        paging,
        connector_key=connector_key,
        stream=stream,
        concept=concept,
        enabled=enabled,
        include_archived=include_archived,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_mapping_rule",
    responses=problem_responses(409),
)
async def create_rule(
    body: RuleCreate, session: SessionDep, principal: Editor, response: Response
) -> RuleOut:
    """Create a rule (version 1). 422 for a bad path, operator, values or concept key;
    409 when the target concept is deprecated."""
    out = await service.create(session, body, principal.actor)
    set_etag(response, out.revision)
    return out


@router.post("/preview", operation_id="preview_mapping", responses=problem_responses(409))
@read_only
async def preview_mapping(
    body: PreviewRequest, request: Request, session: SessionDep, principal: Viewer
) -> PreviewResult:
    """Dry-run a sample record through the saved rules and any draft rules; writes nothing.

    Viewers preview the saved rules; draft rules are rule authoring, so they need the editor
    role (and that keeps arbitrary patterns away from read-only keys).
    """
    return await preview(session, request.app.state.catalog, body, principal.role)


@router.get("/{rule_id:uuid}", operation_id="get_mapping_rule")
async def get_rule(
    rule_id: uuid.UUID, session: SessionDep, _principal: Viewer, response: Response
) -> RuleOut:
    """One rule as it is now (archived rules too)."""
    out = await service.show(session, rule_id)
    set_etag(response, out.revision)
    return out


@router.patch(
    "/{rule_id:uuid}",
    operation_id="update_mapping_rule",
    responses=problem_responses(409, 412, 428),
)
async def update_rule(
    rule_id: uuid.UUID,
    body: RulePatch,
    session: SessionDep,
    principal: Editor,
    expect: IfMatch,
    response: Response,
) -> RuleOut:
    """Change a rule; every real change is a new version. 409 for an archived rule."""
    out = await service.update(session, rule_id, body, principal.actor, expect)
    set_etag(response, out.revision)
    return out


@router.delete(
    "/{rule_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="archive_mapping_rule",
    responses=problem_responses(412, 428),
)
async def archive_rule(
    rule_id: uuid.UUID, session: SessionDep, principal: Editor, expect: IfMatch
) -> None:
    """Archive a rule: it stops mapping; it and its versions stay readable."""
    await service.archive_rule(session, rule_id, principal.actor, expect)


@router.get("/{rule_id:uuid}/versions", operation_id="list_mapping_rule_versions")
async def list_versions(
    rule_id: uuid.UUID, session: SessionDep, _principal: Viewer, paging: Paging
) -> Page[RuleVersionOut]:
    """A rule's versions, oldest first."""
    return await service.versions_page(session, rule_id, paging)


@router.get("/{rule_id:uuid}/versions/{version}", operation_id="get_mapping_rule_version")
async def get_version(
    rule_id: uuid.UUID, version: int, session: SessionDep, _principal: Viewer
) -> RuleVersionOut:
    """One version of a rule."""
    return await service.show_version(session, rule_id, version)

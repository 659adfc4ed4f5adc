"""``/v1/link-rules``: link rules, their versions and previews.

A rule's ``revision`` is its ``ETag``; PATCH and DELETE honour ``If-Match`` (412 when stale).
Every change queues a relink of the store (job ``linking.relink``) in the same transaction.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from syncbridge.api.deps import Editor, SessionDep, UnitOfWorkRoute, Viewer, read_only
from syncbridge.api.etags import IfMatch, set_etag
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.linking import service
from syncbridge.linking.preview import preview
from syncbridge.linking.schemas import (
    LinkPreviewRequest,
    LinkPreviewResult,
    LinkRuleCreate,
    LinkRuleOut,
    LinkRulePatch,
    LinkRuleVersionOut,
)

router = APIRouter(prefix="/v1/link-rules", tags=["link-rules"], route_class=UnitOfWorkRoute)


@router.get("", operation_id="list_link_rules")
async def list_rules(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    connector_key: str | None = None,
    stream: str | None = None,
    enabled: bool | None = None,
    include_archived: bool = False,
) -> Page[LinkRuleOut]:
    """Rules by name; archived ones only with ``include_archived``."""
    return await service.list_rules(
        session,
        paging,
        connector_key=connector_key,
        stream=stream,
        enabled=enabled,
        include_archived=include_archived,
    )


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_link_rule")
async def create_rule(
    body: LinkRuleCreate, session: SessionDep, principal: Editor, response: Response
) -> LinkRuleOut:
    """Create a rule (version 1). 422 for a bad path or an inconsistent match."""
    rule = await service.create_rule(session, body, principal.actor)
    set_etag(response, rule.revision)
    return LinkRuleOut.model_validate(rule)


@router.post("/preview", operation_id="preview_link_rules")
@read_only
async def preview_rules(
    body: LinkPreviewRequest, session: SessionDep, principal: Viewer
) -> LinkPreviewResult:
    """Dry-run rules over the stored assets and records: per rule, how many links, records
    and assets, with examples; writes nothing. Draft rules need the editor role."""
    return await preview(session, body, principal.role)


@router.get("/{rule_id:uuid}", operation_id="get_link_rule")
async def get_rule(
    rule_id: uuid.UUID, session: SessionDep, _principal: Viewer, response: Response
) -> LinkRuleOut:
    """One rule as it is now (archived rules too)."""
    rule = await service.get_rule(session, rule_id)
    set_etag(response, rule.revision)
    return LinkRuleOut.model_validate(rule)


@router.patch(
    "/{rule_id:uuid}",
    operation_id="update_link_rule",
    responses=problem_responses(409, 412, 428),
)
async def update_rule(
    rule_id: uuid.UUID,
    body: LinkRulePatch,
    session: SessionDep,
    principal: Editor,
    expect: IfMatch,
    response: Response,
) -> LinkRuleOut:
    """Change a rule; every real change is a new version. 409 for an archived rule."""
    rule = await service.update_rule(session, rule_id, body, principal.actor, expect)
    set_etag(response, rule.revision)
    return LinkRuleOut.model_validate(rule)


@router.delete(
    "/{rule_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="archive_link_rule",
    responses=problem_responses(412, 428),
)
async def archive_rule(
    rule_id: uuid.UUID, session: SessionDep, principal: Editor, expect: IfMatch
) -> None:
    """Archive a rule: it stops linking (its links go at the relink); it and its versions
    stay readable."""
    await service.archive_rule(session, rule_id, principal.actor, expect)


@router.get("/{rule_id:uuid}/versions", operation_id="list_link_rule_versions")
async def list_versions(
    rule_id: uuid.UUID, session: SessionDep, _principal: Viewer, paging: Paging
) -> Page[LinkRuleVersionOut]:
    """A rule's versions, oldest first."""
    return await service.versions_page(session, rule_id, paging)


@router.get("/{rule_id:uuid}/versions/{version}", operation_id="get_link_rule_version")
async def get_version(
    rule_id: uuid.UUID, version: int, session: SessionDep, _principal: Viewer
) -> LinkRuleVersionOut:
    """One version of a rule."""
    return await service.show_version(session, rule_id, version)

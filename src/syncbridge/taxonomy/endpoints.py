"""``/v1/taxonomy``: schemes, concepts, import and export.

Reads need the ``viewer`` role, writes ``editor``. Concept keys may contain ``/``, so the
concept routes take the rest of the path as the key, except a last ``/history`` or
``/deprecate``, which name sub-resources (and which no key may end in).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from starlette.convertors import Convertor, register_url_convertor

from syncbridge.api.deps import Editor, SessionDep, Viewer
from syncbridge.api.pagination import Page, Paging, fetch_page
from syncbridge.api.problems import problem_responses
from syncbridge.audit import repository as audit_repository
from syncbridge.errors import InvalidInput
from syncbridge.models import ConceptStatus
from syncbridge.taxonomy import repository, service, transfer, writes
from syncbridge.taxonomy.formats.sources import (
    MEDIA_TYPES,
    TaxonomyFormat,
    format_for_media_type,
    parse,
    render,
)
from syncbridge.taxonomy.schemas import (
    ConceptChange,
    ConceptIn,
    ConceptOut,
    ConceptPatch,
    ConceptTree,
    DeprecateIn,
    DeprecationOut,
    ImportCounts,
    ImportReport,
    MovedRule,
    SchemeIn,
    SchemeOut,
    SchemePatch,
)
from syncbridge.taxonomy.validation import CONCEPT_KEY_IN_PATH
from syncbridge.taxonomy.views import concept_tree, concept_view, concept_views, scheme_views


class ConceptKeyConvertor(Convertor[str]):
    """``{key:concept_key}``: the rest of the path, unless it ends in a sub-resource, so
    ``PATCH /concepts/x/history`` is a 405 rather than an edit of a concept ``x/history``."""

    regex = CONCEPT_KEY_IN_PATH

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("concept_key", ConceptKeyConvertor())

router = APIRouter(prefix="/v1/taxonomy", tags=["taxonomy"])

_TEXT_BODY: dict[str, Any] = {"schema": {"type": "string"}}


# --- schemes ---------------------------------------------------------------------------


@router.get("/schemes", operation_id="list_schemes")
async def list_schemes(session: SessionDep, _principal: Viewer, paging: Paging) -> Page[SchemeOut]:
    """Every concept scheme, by key, with its number of concepts."""
    rows, total = await fetch_page(session, repository.schemes_query(), paging)
    return Page.of(await scheme_views(session, rows), total, paging)


@router.post(
    "/schemes",
    operation_id="create_scheme",
    responses=problem_responses(409),
    status_code=status.HTTP_201_CREATED,
)
async def create_scheme(session: SessionDep, principal: Editor, body: SchemeIn) -> SchemeOut:
    """Create a concept scheme (409 when the key is taken)."""
    scheme = await service.create_scheme(session, body, principal.actor)
    await session.commit()
    return (await scheme_views(session, [scheme]))[0]


@router.get("/schemes/{key}", operation_id="get_scheme")
async def get_scheme(session: SessionDep, _principal: Viewer, key: str) -> SchemeOut:
    """One concept scheme."""
    return (await scheme_views(session, [await service.get_scheme(session, key)]))[0]


@router.patch("/schemes/{key}", operation_id="update_scheme")
async def update_scheme(
    session: SessionDep, principal: Editor, key: str, body: SchemePatch
) -> SchemeOut:
    """Change a scheme's title or description."""
    scheme = await service.update_scheme(session, key, body, principal.actor)
    await session.commit()
    return (await scheme_views(session, [scheme]))[0]


@router.delete(
    "/schemes/{key}",
    operation_id="delete_scheme",
    responses=problem_responses(409),
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_scheme(session: SessionDep, principal: Editor, key: str) -> None:
    """Delete an empty scheme (409 while it has concepts)."""
    await service.delete_scheme(session, key, principal.actor)
    await session.commit()


# --- concepts --------------------------------------------------------------------------


@router.get("/concepts", operation_id="list_concepts", responses=problem_responses(404))
async def list_concepts(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    scheme: Annotated[str | None, Query(description="Only concepts of this scheme.")] = None,
    status_: Annotated[ConceptStatus | None, Query(alias="status")] = None,
    q: Annotated[
        str | None,
        Query(description="Search any label (preferred or alternative) and the key."),
    ] = None,
    tree: Annotated[
        bool, Query(description="Return the scheme's hierarchy instead of a page.")
    ] = False,
) -> Page[ConceptOut] | ConceptTree:
    """Concepts by key, filtered; or with ``tree=true`` one scheme's hierarchy."""
    scheme_row = await service.get_scheme(session, scheme) if scheme is not None else None
    status_value = status_.value if status_ is not None else None
    if tree:
        if scheme_row is None:
            raise InvalidInput(
                "tree=true needs a scheme",
                errors=[{"field": "scheme", "reason": "required when tree=true"}],
            )
        return await concept_tree(session, scheme_row, status_value)
    stmt = repository.concepts_query(
        scheme_id=scheme_row.id if scheme_row else None, status=status_value, q=q
    )
    rows, total = await fetch_page(session, stmt, paging)
    return Page.of(await concept_views(session, rows), total, paging)


@router.post(
    "/concepts",
    operation_id="create_concept",
    responses=problem_responses(409),
    status_code=status.HTTP_201_CREATED,
)
async def create_concept(session: SessionDep, principal: Editor, body: ConceptIn) -> ConceptOut:
    """Create a concept (409 on a duplicate key or preferred label, or a broader cycle)."""
    concept = await service.create_concept(session, body, principal.actor)
    await session.commit()
    return await concept_view(session, concept)


@router.get("/concepts/{key:path}/history", operation_id="get_concept_history")
async def get_concept_history(
    session: SessionDep, _principal: Viewer, paging: Paging, key: str
) -> Page[ConceptChange]:
    """Every change of a concept, newest first, with full before/after snapshots."""
    concept = await service.get_concept(session, key)
    stmt = audit_repository.audit_query(entity_type=writes.CONCEPT, entity_id=str(concept.id))
    rows, total = await fetch_page(session, stmt, paging)
    items = [
        ConceptChange(
            id=r.id, at=r.at, actor=r.actor, action=r.action, before=r.before, after=r.after
        )
        for r in rows
    ]
    return Page.of(items, total, paging)


@router.post(
    "/concepts/{key:path}/deprecate",
    operation_id="deprecate_concept",
    responses=problem_responses(409),
)
async def deprecate_concept(
    session: SessionDep, principal: Editor, key: str, body: DeprecateIn
) -> DeprecationOut:
    """Deprecate a concept; with a replacement its mapping rules move there.

    Without a replacement, a concept that mapping rules still use is refused with 409 and
    the rules listed in ``mappings``.
    """
    concept, moved = await service.deprecate_concept(
        session, key, body.replacement, principal.actor
    )
    await session.commit()
    return DeprecationOut(
        concept=await concept_view(session, concept),
        moved_rules=[MovedRule(id=str(r.id), name=r.name) for r in moved],
    )


@router.get("/concepts/{key:concept_key}", operation_id="get_concept")
async def get_concept(session: SessionDep, _principal: Viewer, key: str) -> ConceptOut:
    """One concept with its labels, broader and narrower keys."""
    return await concept_view(session, await service.get_concept(session, key))


@router.patch(
    "/concepts/{key:concept_key}", operation_id="update_concept", responses=problem_responses(409)
)
async def update_concept(
    session: SessionDep, principal: Editor, key: str, body: ConceptPatch
) -> ConceptOut:
    """Change a concept's labels, definition, broader concepts or status."""
    concept = await service.update_concept(session, key, body, principal.actor)
    await session.commit()
    return await concept_view(session, concept)


@router.delete(
    "/concepts/{key:concept_key}",
    operation_id="delete_concept",
    responses=problem_responses(409),
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_concept(session: SessionDep, principal: Editor, key: str) -> None:
    """Delete a concept (409 while it has narrower concepts or mapping rules use it)."""
    await service.delete_concept(session, key, principal.actor)
    await session.commit()


# --- import / export -------------------------------------------------------------------


@router.post(
    "/import",
    operation_id="import_taxonomy",
    responses=problem_responses(409, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": dict.fromkeys(MEDIA_TYPES, _TEXT_BODY),
        }
    },
)
async def import_taxonomy(
    request: Request,
    session: SessionDep,
    principal: Editor,
    dry_run: Annotated[bool, Query(description="Validate and report; change nothing.")] = False,
) -> ImportReport:
    """Upsert a YAML or SKOS Turtle taxonomy by key, atomically and idempotently.

    A bad file is refused with 422 and every problem in ``errors`` (concept key or line, and
    the reason); nothing is imported then.
    """
    fmt = format_for_media_type(request.headers.get("content-type", ""))
    if fmt is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "Send application/yaml (or text/yaml, application/x-yaml) or text/turtle.",
        )
    incoming = parse(await request.body(), fmt)
    result = await transfer.import_taxonomy(
        session, incoming, actor=principal.actor, dry_run=dry_run
    )
    if not dry_run:
        await session.commit()
    return import_report(result)


def import_report(result: transfer.ImportResult) -> ImportReport:
    """The API and CLI report of an import."""
    plan = result.plan
    return ImportReport(
        dry_run=result.dry_run,
        schemes=ImportCounts(
            created=len(plan.schemes_created),
            updated=len(plan.schemes_updated),
            unchanged=len(plan.schemes_unchanged),
        ),
        concepts=ImportCounts(
            created=len(plan.concepts_created),
            updated=len(plan.concepts_updated),
            unchanged=len(plan.concepts_unchanged),
        ),
        created=plan.concepts_created,
        updated=plan.concepts_updated,
        moved_rules=[MovedRule(id=str(r.id), name=r.name) for r in result.moved_rules],
    )


@router.get(
    "/export",
    operation_id="export_taxonomy",
    response_class=Response,
    responses={
        200: {"content": {"application/yaml": _TEXT_BODY, "text/turtle": _TEXT_BODY}},
        **problem_responses(404),
    },
)
async def export_taxonomy(
    session: SessionDep,
    _principal: Viewer,
    fmt: Annotated[TaxonomyFormat, Query(alias="format")] = TaxonomyFormat.yaml,
    scheme: Annotated[str | None, Query(description="Only this scheme.")] = None,
) -> Response:
    """The taxonomy (or one scheme) as YAML (one document per scheme) or SKOS Turtle."""
    taxonomy = await transfer.export_taxonomy(session, scheme)
    return Response(render(taxonomy, fmt), media_type=fmt.media_type)

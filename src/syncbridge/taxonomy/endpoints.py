"""``/v1/taxonomy``: schemes, concepts, import and export.

Reads need the ``viewer`` role, writes ``editor``. Schemes and concepts carry their revision
as an ``ETag``; their PATCH, DELETE and deprecation honour ``If-Match`` (412 when stale).
Concept keys may contain ``/``, so the concept routes take the rest of the path as the key,
except a last ``/history`` or ``/deprecate``, which name sub-resources (and which no key may
end in).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from starlette.convertors import Convertor, register_url_convertor

from syncbridge.api.deps import Editor, SessionDep, UnitOfWorkRoute, Viewer
from syncbridge.api.etags import IfMatch, set_etag
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.models import ConceptStatus
from syncbridge.taxonomy import service, views
from syncbridge.taxonomy.formats.sources import MEDIA_TYPES, TaxonomyFormat, format_for_media_type
from syncbridge.taxonomy.read_model import ConceptFilter
from syncbridge.taxonomy.schemas import (
    ConceptChange,
    ConceptIn,
    ConceptOut,
    ConceptPatch,
    ConceptTree,
    DeprecateIn,
    DeprecationOut,
    ImportReport,
    SchemeIn,
    SchemeOut,
    SchemePatch,
)
from syncbridge.taxonomy.validation import CONCEPT_KEY_IN_PATH


class ConceptKeyConvertor(Convertor[str]):
    """``{key:concept_key}``: the rest of the path, unless it ends in a sub-resource, so
    ``PATCH /concepts/x/history`` is a 405 rather than an edit of a concept ``x/history``."""

    regex = CONCEPT_KEY_IN_PATH

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("concept_key", ConceptKeyConvertor())

router = APIRouter(prefix="/v1/taxonomy", tags=["taxonomy"], route_class=UnitOfWorkRoute)

_TEXT_BODY: dict[str, Any] = {"schema": {"type": "string"}}
_PRECONDITIONS = (412, 428)


# --- schemes ---------------------------------------------------------------------------


@router.get("/schemes", operation_id="list_schemes")
async def list_schemes(session: SessionDep, _principal: Viewer, paging: Paging) -> Page[SchemeOut]:
    """Every concept scheme, by key, with its number of concepts."""
    return await views.list_schemes(session, paging)


@router.post(
    "/schemes",
    operation_id="create_scheme",
    responses=problem_responses(409),
    status_code=status.HTTP_201_CREATED,
)
async def create_scheme(
    session: SessionDep, principal: Editor, body: SchemeIn, response: Response
) -> SchemeOut:
    """Create a concept scheme (409 when the key is taken)."""
    out = await views.create_scheme(session, body, principal.actor)
    set_etag(response, out.revision)
    return out


@router.get("/schemes/{key}", operation_id="get_scheme")
async def get_scheme(
    session: SessionDep, _principal: Viewer, key: str, response: Response
) -> SchemeOut:
    """One concept scheme."""
    out = await views.show_scheme(session, key)
    set_etag(response, out.revision)
    return out


@router.patch(
    "/schemes/{key}", operation_id="update_scheme", responses=problem_responses(*_PRECONDITIONS)
)
async def update_scheme(
    session: SessionDep,
    principal: Editor,
    key: str,
    body: SchemePatch,
    expect: IfMatch,
    response: Response,
) -> SchemeOut:
    """Change a scheme's title or description."""
    out = await views.update_scheme(session, key, body, principal.actor, expect)
    set_etag(response, out.revision)
    return out


@router.delete(
    "/schemes/{key}",
    operation_id="delete_scheme",
    responses=problem_responses(409, *_PRECONDITIONS),
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_scheme(session: SessionDep, principal: Editor, key: str, expect: IfMatch) -> None:
    """Delete an empty scheme (409 while it has concepts)."""
    await service.delete_scheme(session, key, principal.actor, expect)


# --- concepts --------------------------------------------------------------------------


@router.get(
    "/concepts",
    operation_id="list_concepts",
    responses=problem_responses(404),
    response_model=Page[ConceptOut] | ConceptTree,
)
async def list_concepts(
    request: Request,
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
) -> Response | ConceptTree:
    """Concepts by key, filtered; or with ``tree=true`` one scheme's hierarchy."""
    status_value = status_.value if status_ is not None else None
    if tree:
        return await views.concept_tree(session, scheme, status_value)
    body = await views.concept_page_json(
        session, request.app.state.concepts, ConceptFilter(scheme, status_value, q), paging
    )
    return Response(body, media_type="application/json")


@router.post(
    "/concepts",
    operation_id="create_concept",
    responses=problem_responses(409),
    status_code=status.HTTP_201_CREATED,
)
async def create_concept(
    session: SessionDep, principal: Editor, body: ConceptIn, response: Response
) -> ConceptOut:
    """Create a concept (409 on a duplicate key or preferred label, or a broader cycle)."""
    out = await views.create_concept(session, body, principal.actor)
    set_etag(response, out.revision)
    return out


@router.get("/concepts/{key:path}/history", operation_id="get_concept_history")
async def get_concept_history(
    session: SessionDep, _principal: Viewer, paging: Paging, key: str
) -> Page[ConceptChange]:
    """Every change of a concept, newest first, with full before/after snapshots."""
    return await views.concept_history(session, key, paging)


@router.post(
    "/concepts/{key:path}/deprecate",
    operation_id="deprecate_concept",
    responses=problem_responses(409, *_PRECONDITIONS),
)
async def deprecate_concept(
    session: SessionDep,
    principal: Editor,
    key: str,
    body: DeprecateIn,
    expect: IfMatch,
    response: Response,
) -> DeprecationOut:
    """Deprecate a concept; with a replacement its mapping rules move there.

    Without a replacement, a concept that mapping rules still use is refused with 409 and
    the rules listed in ``mappings``.
    """
    out = await views.deprecate_concept(session, key, body.replacement, principal.actor, expect)
    set_etag(response, out.concept.revision)
    return out


@router.get("/concepts/{key:concept_key}", operation_id="get_concept")
async def get_concept(
    session: SessionDep, _principal: Viewer, key: str, response: Response
) -> ConceptOut:
    """One concept with its labels, broader and narrower keys."""
    out = await views.show_concept(session, key)
    set_etag(response, out.revision)
    return out


@router.patch(
    "/concepts/{key:concept_key}",
    operation_id="update_concept",
    responses=problem_responses(409, *_PRECONDITIONS),
)
async def update_concept(
    session: SessionDep,
    principal: Editor,
    key: str,
    body: ConceptPatch,
    expect: IfMatch,
    response: Response,
) -> ConceptOut:
    """Change a concept's labels, definition, broader concepts or status."""
    out = await views.update_concept(session, key, body, principal.actor, expect)
    set_etag(response, out.revision)
    return out


@router.delete(
    "/concepts/{key:concept_key}",
    operation_id="delete_concept",
    responses=problem_responses(409, *_PRECONDITIONS),
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_concept(session: SessionDep, principal: Editor, key: str, expect: IfMatch) -> None:
    """Delete a concept (409 while it has narrower concepts or mapping rules use it)."""
    await service.delete_concept(session, key, principal.actor, expect)


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

    A bad file is refused with 422 and its problems in ``errors`` (concept key or line, and
    the reason; the first 100, with ``problem_count`` giving the total); nothing is imported
    then. Parsing and validation run off the event loop.
    """
    fmt = format_for_media_type(request.headers.get("content-type", ""))
    if fmt is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "Send application/yaml (or text/yaml, application/x-yaml) or text/turtle.",
        )
    return await views.import_document(
        session, await request.body(), fmt, actor=principal.actor, dry_run=dry_run
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
    document = await views.export_document(session, fmt, scheme)
    return Response(document, media_type=fmt.media_type)

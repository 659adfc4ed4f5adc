"""``/v1/assets/{asset_id}/classifications``: an asset's classifications, the manual ones
editors add and remove, and the history of why each came, changed or went."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from syncbridge.api.deps import Editor, SessionDep, UnitOfWorkRoute, Viewer
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.classification import manual
from syncbridge.classification.schemas import (
    ClassificationChangeOut,
    ClassificationOut,
    ManualClassificationIn,
)

router = APIRouter(prefix="/v1/assets", tags=["classifications"], route_class=UnitOfWorkRoute)


@router.get("/{asset_id:uuid}/classifications", operation_id="list_asset_classifications")
async def list_classifications(
    asset_id: uuid.UUID, request: Request, session: SessionDep, _principal: Viewer, paging: Paging
) -> Page[ClassificationOut]:
    """The asset's classifications, by rules (with provenance) and by people."""
    return await manual.list_page(session, request.app.state.catalog, asset_id, paging)


@router.post(
    "/{asset_id:uuid}/classifications",
    status_code=status.HTTP_201_CREATED,
    operation_id="add_asset_classification",
    responses={
        200: {"description": "The asset was already on the concept by hand."},
        **problem_responses(409),
    },
)
async def add_classification(
    asset_id: uuid.UUID,
    body: ManualClassificationIn,
    request: Request,
    session: SessionDep,
    principal: Editor,
    response: Response,
) -> ClassificationOut:
    """Put the asset on a concept (key or id) by hand; rules never overwrite or remove it.
    201 when added, 200 when it was there already; 404 for an unknown asset or concept; 409
    for a deprecated concept (``replaced_by`` names its replacement) or a deleted asset."""
    found, created = await manual.add_manual(
        session, request.app.state.catalog, asset_id, body, principal.actor
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return found


@router.delete(
    "/{asset_id:uuid}/classifications/{classification_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="remove_asset_classification",
    responses=problem_responses(409),
)
async def remove_classification(
    asset_id: uuid.UUID, classification_id: uuid.UUID, session: SessionDep, principal: Editor
) -> None:
    """Take a manual classification off the asset; 409 for a rule's classification (change
    or disable the rule instead)."""
    await manual.remove_manual(session, asset_id, classification_id, principal.actor)


@router.get(
    "/{asset_id:uuid}/classifications/history", operation_id="list_asset_classification_history"
)
async def classification_history(
    asset_id: uuid.UUID, session: SessionDep, _principal: Viewer, paging: Paging
) -> Page[ClassificationChangeOut]:
    """Why each of the asset's classifications came, changed or went, newest first."""
    return await manual.history_page(session, asset_id, paging)

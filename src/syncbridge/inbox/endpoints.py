"""``POST /webhooks/{connection_id}`` (vendor-signed, no API key) and ``/v1/events``.

The receiver reads the raw body under the webhook body cap, has the connection's connector
verify and normalise it, commits the events to the inbox (group commit, see
:mod:`syncbridge.inbox.receiver`) and only then answers 2xx, with the vendor's own body
where one is required (Salesforce's ``Ack``). A forged or stale delivery gets 401 and
nothing is stored; an unknown or disabled connection 404; a store that cannot take the
events 503, so the vendor retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import URL, State

from syncbridge.api.deps import Editor, SessionDep, UnitOfWorkRoute, Viewer
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem, problem_responses
from syncbridge.audit.endpoints import Since
from syncbridge.connector.errors import InvalidWebhook, PermanentConnectorError
from syncbridge.errors import InvalidInput, NotFound
from syncbridge.inbox import metrics, repository
from syncbridge.inbox.processing import SNAPSHOT_KEY
from syncbridge.inbox.receiver import (
    InboxWriter,
    StoreUnavailable,
    WebhookTargets,
    check_fits,
    event_rows,
)
from syncbridge.inbox.schemas import (
    EventOut,
    EventStatusParam,
    ReplayRequest,
    ReplayResult,
    WebhookAccepted,
)
from syncbridge.inbox.service import queue_processing
from syncbridge.logs import get_logger
from syncbridge.models.inbox import InboxEvent
from syncbridge.settings import Settings
from syncbridge.store.paging import fetch_page

log = get_logger(__name__)

router = APIRouter(prefix="/v1/events", tags=["events"], route_class=UnitOfWorkRoute)

_RETRY_LATER = {"Retry-After": "30"}
_WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Verified and committed to the inbox (redeliveries too)."},
    **problem_responses(400, 401, 404, 413, 503),
}


def called_url(url: URL, settings: Settings) -> str:
    """The URL the vendor called, as the public receiver sees it."""
    if settings.public_url is None:
        return str(url)
    query = url.query
    return settings.public_url.rstrip("/") + url.path + (f"?{query}" if query else "")


async def receive(request: Request, connection_id: uuid.UUID) -> Response:
    """Verify, store, answer (see the module docstring)."""
    body = await request.body()
    state = request.app.state
    called = called_url(request.url, state.settings)
    method = request.method
    return await handle_delivery(state, connection_id, request.headers, body, called, method)


async def handle_delivery(
    state: State,
    connection_id: uuid.UUID,
    headers: Mapping[str, str],
    body: bytes,
    called: str,
    method: str,
) -> Response:
    """A delivery's answer: verified, stored and committed, or refused (module docstring).
    ``called`` is the URL the vendor called (:func:`called_url`)."""
    targets: WebhookTargets = state.webhook_targets
    writer: InboxWriter = state.inbox_writer
    try:
        target = await targets.get(connection_id)
    except (SQLAlchemyError, OSError) as exc:
        metrics.deliveries_rejected.labels("unknown", "store_unavailable").inc()
        log.warning("webhook.store_unavailable", error_type=type(exc).__name__)
        return problem(503, "Service unavailable", "The store cannot be reached; retry.",
                       headers=_RETRY_LATER)  # fmt: skip
    if target is None:
        metrics.deliveries_rejected.labels("unknown", "unknown_connection").inc()
        return problem(404, "Not found", f"No enabled connection {connection_id}.")
    key = target.connector_key
    try:
        events = await target.connector.parse_webhook(headers, body, url=called, method=method)
        check_fits(events)
    except InvalidWebhook as exc:
        metrics.deliveries_rejected.labels(key, "signature").inc()
        log.warning(
            "webhook.rejected", connection_id=str(connection_id), connector=key, reason=str(exc)
        )
        return problem(401, "Unauthorized", "The delivery's signature or timestamp is not valid.")
    except PermanentConnectorError as exc:
        metrics.deliveries_rejected.labels(key, "malformed").inc()
        log.warning(
            "webhook.malformed", connection_id=str(connection_id), connector=key, reason=str(exc)
        )
        return problem(400, "Bad request", "The delivery could not be read.")
    except Exception as exc:  # the vendor (a certificate, a confirmation URL) failed us
        metrics.deliveries_rejected.labels(key, "vendor_unavailable").inc()
        log.warning(
            "webhook.verification_unavailable",
            connection_id=str(connection_id),
            connector=key,
            error_type=type(exc).__name__,
        )
        return problem(503, "Service unavailable", "The delivery could not be verified now; "
                       "retry.", headers=_RETRY_LATER)  # fmt: skip
    new = 0
    if events:
        metrics.by_connector(metrics.events_received, key).inc(len(events))
        try:
            rows = _untrusted(event_rows(connection_id, events))
            new = await writer.write(rows, size=len(body))
        except StoreUnavailable:
            metrics.deliveries_rejected.labels(key, "store_unavailable").inc()
            return problem(503, "Service unavailable", "The events could not be stored; retry.",
                           headers=_RETRY_LATER)  # fmt: skip
        metrics.by_connector(metrics.events_accepted, key).inc(new)
        if new < len(events):
            metrics.by_connector(metrics.events_duplicate, key).inc(len(events) - new)
    reply = getattr(target.connector, "webhook_reply", None)
    if callable(reply):
        status, media_type, content = reply(events)
        return Response(content, status_code=status, media_type=media_type)
    return Response(b'{"received":%d,"new":%d}' % (len(events), new), media_type="application/json")


def _untrusted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A delivery's events never carry an item for processing to apply unfetched: only a
    reconciliation's own events do (``processing.SNAPSHOT_KEY``)."""
    for row in rows:
        row["payload"].pop(SNAPSHOT_KEY, None)
    return rows


#: The receiver's operations, declared for OpenAPI (and for an app without the lean path).
#: The application answers them before its middleware stack: see
#: :mod:`syncbridge.inbox.fast_path`, which calls :func:`handle_delivery` as they do.
webhooks = APIRouter(tags=["webhooks"])


@webhooks.post(
    "/webhooks/{connection_id:uuid}",
    operation_id="receive_webhook",
    responses=_WEBHOOK_RESPONSES,
    response_model=WebhookAccepted,
)
async def receive_webhook(request: Request, connection_id: uuid.UUID) -> Response:
    """A vendor's signed delivery for one connection (no API key: the signature is the
    credential). Committed to the inbox before the 2xx."""
    return await receive(request, connection_id)


@webhooks.post(
    "/webhooks/{connection_id:uuid}/{path_secret}",
    operation_id="receive_webhook_with_path_secret",
    responses=_WEBHOOK_RESPONSES,
    response_model=WebhookAccepted,
)
async def receive_webhook_with_path_secret(
    request: Request,
    connection_id: uuid.UUID,
    path_secret: str,  # noqa: ARG001 - the connector checks it in the URL
) -> Response:
    """A delivery whose URL carries a per-connection secret (Salesforce outbound messages
    are not signed); the connector checks the secret."""
    return await receive(request, connection_id)


# ----- /v1/events ---------------------------------------------------------------------------


@router.get("", operation_id="list_events")
async def list_events(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    connection_id: Annotated[uuid.UUID | None, Query(description="Events of a connection.")] = None,
    status: EventStatusParam | None = None,
    action: Annotated[str | None, Query(max_length=50, description="created, updated...")] = None,
    stream: Annotated[str | None, Query(max_length=200)] = None,
    external_id: Annotated[str | None, Query(max_length=500)] = None,
    received_from: Annotated[
        Since, Query(alias="from", description="Events received at or after this time.")
    ] = None,
    received_to: Annotated[
        Since, Query(alias="to", description="Events received before this time.")
    ] = None,
) -> Page[EventOut]:
    """Inbox events, newest first, each with its attempts, last error and outcome."""
    _check_window(received_from, received_to)
    statement = repository.events_query(
        connection_id=connection_id,
        status=status,
        action=action,
        stream=stream,
        external_id=external_id,
        received_from=received_from,
        received_to=received_to,
    )
    rows, total = await fetch_page(session, statement, paging)
    return Page.of([EventOut.model_validate(r) for r in rows], total, paging)


def _check_window(start: datetime | None, end: datetime | None) -> None:
    """``from`` before ``to`` (both are aware: ``Since`` and the strict body fields say so)."""
    if start is not None and end is not None and start >= end:
        raise InvalidInput(
            "'from' must be before 'to'.", errors=[{"field": "from", "reason": "not before 'to'"}]
        )


@router.get("/{event_id:uuid}", operation_id="get_event", responses=problem_responses(404))
async def get_event(event_id: uuid.UUID, session: SessionDep, _principal: Viewer) -> EventOut:
    """One inbox event."""
    row = await session.get(InboxEvent, event_id)
    if row is None:
        raise NotFound(f"No event {event_id}.")
    return EventOut.model_validate(row)


@router.post(
    "/{event_id:uuid}/replay", operation_id="replay_event", responses=problem_responses(404)
)
async def replay_event(event_id: uuid.UUID, session: SessionDep, _principal: Editor) -> EventOut:
    """Process an event again (a dead one, or a handled one): it becomes pending with its
    attempts reset and its connection's processing is queued. A pending event is left as
    it is."""
    row = await session.get(InboxEvent, event_id)
    if row is None:
        raise NotFound(f"No event {event_id}.")
    replayed = await repository.make_pending(session, ids=[event_id])
    await queue_processing(session, (c for _, c in replayed), delay_s=0)
    await session.refresh(row)
    log.info("inbox.event_replayed", event_id=str(event_id), replayed=bool(replayed))
    return EventOut.model_validate(row)


@router.post("/replay", operation_id="replay_dead_events")
async def replay_dead_events(
    body: ReplayRequest, session: SessionDep, _principal: Editor
) -> ReplayResult:
    """Replay every dead event (of one connection, action or time window when given)."""
    _check_window(body.received_from, body.received_to)
    replayed = await repository.make_pending(
        session,
        status="dead",
        connection_id=body.connection_id,
        action=body.action,
        received_from=body.received_from,
        received_to=body.received_to,
    )
    await queue_processing(session, (c for _, c in replayed), delay_s=0)
    log.info("inbox.dead_events_replayed", count=len(replayed))
    return ReplayResult(replayed=len(replayed))

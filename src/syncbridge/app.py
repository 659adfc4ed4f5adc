"""The FastAPI application: ``create_app()`` builds it, ``lifespan`` owns every resource."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import Receive, Scope, Send

from syncbridge import __version__
from syncbridge.api.body_limit import BodyLimitMiddleware
from syncbridge.api.health import migration_heads
from syncbridge.api.health import router as health_router
from syncbridge.api.metrics import router as metrics_router
from syncbridge.api.problems import install_problem_handlers
from syncbridge.api.require_key import RequireBearerMiddleware
from syncbridge.assets.endpoints import router as assets_router
from syncbridge.audit.endpoints import router as audit_router
from syncbridge.auth.endpoints import router as keys_router
from syncbridge.auth.service import KeyCache
from syncbridge.classification.endpoints import router as classifications_router
from syncbridge.connections.endpoints import UPLOAD_PATH
from syncbridge.connections.endpoints import router as connections_router
from syncbridge.connections.ssrf import Resolver, resolve_host
from syncbridge.db import create_engine, create_sessionmaker
from syncbridge.inbox.endpoints import router as events_router
from syncbridge.inbox.endpoints import webhooks as webhooks_router
from syncbridge.inbox.fast_path import delivery_target, serve_delivery
from syncbridge.inbox.receiver import InboxWriter, WebhookTargets
from syncbridge.insights.endpoints import router as insights_router
from syncbridge.insights.facets import FacetCache
from syncbridge.jobs.registry import HandlerRegistry
from syncbridge.jobs.runner import running_worker, runs_in_process
from syncbridge.jobs.services import job_services
from syncbridge.linking.endpoints import router as link_rules_router
from syncbridge.mapping.compiled import CompiledCatalog
from syncbridge.mapping.endpoints import router as mapping_router
from syncbridge.runs.endpoints import router as runs_router
from syncbridge.sandbox.embedded import EmbeddedSandbox
from syncbridge.schedule.endpoints import router as schedules_router
from syncbridge.settings import Settings, get_settings
from syncbridge.store import revisions
from syncbridge.store.revision_watch import RevisionWatch
from syncbridge.tagging.endpoints import router as tag_rules_router
from syncbridge.taxonomy.endpoints import router as taxonomy_router
from syncbridge.taxonomy.read_model import ConceptReadModel
from syncbridge.writeback.endpoints import router as writebacks_router

#: The paths of webhook deliveries (their own body cap).
WEBHOOK_PATH = r"^/webhooks/"

#: Where the documentation pages' scripts, styles and icon are served from.
DOCS_STATIC = "/docs-static"

DESCRIPTION = """\
syncbridge joins CRM and analytics records with DAM assets through one shared taxonomy.

Admin calls take `Authorization: Bearer <api key>`. Errors are `application/problem+json`.
"""


class SyncbridgeAPI(FastAPI):
    """The application: webhook deliveries are answered first, from its own ASGI call
    (:mod:`syncbridge.inbox.fast_path`), before FastAPI's per-request telemetry check, the
    middleware stack and the router; every other request goes through them.

    ``FastAPIOffline`` is a factory of plain ``FastAPI`` objects: ``create_app`` makes the
    one it builds an instance of this subclass, which adds no state, only this call. A
    delivery so gets none of FastAPI's OpenTelemetry spans (when a provider is configured);
    ingest is observed through ``/metrics`` and the JSON logs instead.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection_id = delivery_target(scope)
        if connection_id is None:
            await super().__call__(scope, receive, send)
            return
        await serve_delivery(self.state, connection_id, scope, receive, send)


def create_app(
    settings: Settings | None = None,
    sandbox: EmbeddedSandbox | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver | None = None,
) -> FastAPI:
    """Build the API (with ``sandbox`` simulators mounted). Nothing connects until lifespan.

    Vendor calls go through ``transport`` (real HTTP by default), always behind the SSRF
    guard; ``resolver`` answers the guard's DNS look-ups (the system resolver by default).
    """
    settings = settings or get_settings()
    resolve = resolver or resolve_host

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        # What /readyz compares the store's migration with: read from the scripts, once.
        app.state.migration_heads = migration_heads()
        watch = RevisionWatch.for_engine(engine)
        await watch.start()
        app.state.revision_watch = watch
        app.state.sessionmaker = create_sessionmaker(engine, info={revisions.WATCH: watch})
        app.state.keys = KeyCache()
        app.state.catalog = CompiledCatalog()
        app.state.concepts = ConceptReadModel()
        app.state.facets = FacetCache(app.state.catalog)
        # The connection context and the shared, SSRF-guarded client: built as every worker
        # process builds them (one place), and handed to the in-process worker as they are.
        jobs = AsyncExitStack()
        services = await jobs.enter_async_context(
            job_services(settings, transport=transport, resolver=resolve)
        )
        context = services.connections
        app.state.job_services = services
        app.state.registry = context.registry
        app.state.secret_box = context.box
        app.state.ssrf_resolver = context.resolver
        app.state.sandbox_origins = context.allowed_origins
        app.state.host_policy = context.policy
        app.state.http = services.http
        # Webhooks: connector instances per connection, and the inbox's group commit.
        app.state.webhook_targets = WebhookTargets(
            app.state.sessionmaker, context, services.http, watch
        )
        jobs.push_async_callback(app.state.webhook_targets.aclose)
        writer = InboxWriter(app.state.sessionmaker, debounce_s=settings.inbox_debounce_s)
        await writer.start()
        jobs.push_async_callback(writer.stop)
        app.state.inbox_writer = writer
        # The embedded default: on SQLite the API process also runs the (one) job worker.
        # Handlers are looked up (an entry-point scan) only when this process runs it.
        app.state.worker = None
        if runs_in_process(settings):
            handlers = HandlerRegistry.load(settings.job_modules)
            if handlers.kinds:
                app.state.worker = await jobs.enter_async_context(
                    running_worker(
                        settings,
                        registry=handlers,
                        services=services,
                        heartbeat=True,
                        scheduler=settings.scheduler_enabled,
                    )
                )
        if settings.freeze_gc_at_start:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await jobs.aclose()
            await watch.stop()
            await engine.dispose()

    # /docs and /redoc load Swagger UI and ReDoc from files installed with fastapi-offline,
    # never from a CDN: servers near marketing data are often air-gapped.
    app = FastAPIOffline(
        title="syncbridge",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_STATIC,
    )
    app.__class__ = SyncbridgeAPI
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(RequireBearerMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        exceptions=[
            (UPLOAD_PATH, settings.upload_max_bytes),
            (WEBHOOK_PATH, settings.webhook_max_body_bytes),
        ],
    )
    for router in (
        # First: the receiver is matched before the other routes are scanned.
        webhooks_router,
        health_router,
        metrics_router,
        taxonomy_router,
        mapping_router,
        link_rules_router,
        tag_rules_router,
        assets_router,
        connections_router,
        keys_router,
        audit_router,
        classifications_router,
        runs_router,
        writebacks_router,
        insights_router,
        events_router,
        schedules_router,
    ):
        app.include_router(router)
    if sandbox is not None:
        sandbox.mount(app)
    return app

"""The bare side of ``b1_webhook_ingest.py``: a FastAPI endpoint that reads the body, answers 202.

Started by ``b1_webhook_ingest.py`` as ``uvicorn --factory b1_bare:create_app`` with the same
uvicorn settings ``syncbridge serve`` uses. No signature check, no database: the framework
floor a webhook receiver is measured against.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response


def create_app() -> FastAPI:
    """The bare app: ``POST /webhooks/{connection_id}`` reads the body and answers 202."""
    app = FastAPI(title="syncbridge-b1-bare")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/{connection_id}")
    async def receive(connection_id: str, request: Request) -> Response:  # noqa: ARG001
        await request.body()
        return Response(status_code=202)

    return app

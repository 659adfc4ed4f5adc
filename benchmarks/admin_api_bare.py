"""The bare side of ``admin_api.py``: FastAPI routes that answer the real app's captured bodies.

Started by ``admin_api.py`` as ``uvicorn --factory admin_api_bare:create_app``. The bodies come
from the files ``concepts.json`` and ``preview.json`` in the folder named by the environment
variable ``SBBENCH_BARE_DIR``; no database, no auth, no validation: this is the framework floor.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request, Response

BODIES_ENV = "SBBENCH_BARE_DIR"
JSON = "application/json"


def create_app() -> FastAPI:
    """The bare app; reads the captured bodies once, at build time."""
    folder = Path(os.environ[BODIES_ENV])
    concepts = (folder / "concepts.json").read_bytes()
    preview = (folder / "preview.json").read_bytes()
    app = FastAPI(title="syncbridge-bare")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/taxonomy/concepts")
    async def list_concepts() -> Response:
        return Response(content=concepts, media_type=JSON)

    @app.post("/v1/mappings/preview")
    async def preview_mapping(request: Request) -> Response:
        await request.json()  # read and decode the body, as the real endpoint must
        return Response(content=preview, media_type=JSON)

    return app

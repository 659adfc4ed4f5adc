"""What the app sets up when it starts."""

from __future__ import annotations

import gc

from syncbridge.app import create_app
from syncbridge.settings import Settings


async def test_a_server_freezes_its_start_up_heap_out_of_the_gc(settings: Settings) -> None:
    # Collections re-scanning every module and schema were the API's p99 (see settings).
    app = create_app(settings.model_copy(update={"freeze_gc_at_start": True}))
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_the_test_apps_leave_the_gc_alone(settings: Settings) -> None:
    gc.unfreeze()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0

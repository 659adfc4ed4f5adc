"""A run's report (what `GET /v1/runs/{id}` shows) keeps the items the run refused, each with
why, beside the stream's counts; the stream carries on past them."""

from __future__ import annotations

from syncbridge.connector.http import create_http_client
from syncbridge.runs.service import show_run
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import run_sync
from tests.sync_connectors import KEY, ShapesSettings, shapes_registry
from tests.sync_support import Sessionmaker, add_connection, context

pytest_plugins = ["tests.store_fixtures"]


async def test_the_report_lists_each_refused_item_with_its_reason(
    sessionmaker: Sessionmaker,
) -> None:
    ctx = context(shapes_registry())
    connection_id = await add_connection(sessionmaker, ctx, KEY, ShapesSettings())
    async with create_http_client() as http:
        run = await run_sync(
            sessionmaker, ctx, http, connection_id=connection_id, streams=["mixed"],
            requested_by="t",
        )  # fmt: skip
    report = await in_unit_of_work(sessionmaker, lambda s: show_run(s, run.id), write=False)
    assert report.status == "succeeded"
    [stream] = report.streams
    assert (stream.read, stream.inserted, stream.rejected) == (8, 2, 6)
    assert len(report.rejections) == 6
    assert {r.stream for r in report.rejections} == {"mixed"}
    assert all(r.reason and r.connection_id == connection_id for r in report.rejections)
    assert {"not-json", "nan", "huge", "naive"} <= {r.external_id for r in report.rejections}

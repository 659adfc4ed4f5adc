"""`POST /v1/runs {"kind": "score"}`: the run and its `score.run` job are queued together, a
worker runs it to `succeeded`, a queued one can be cancelled with its job and a running one
cannot. The app's in-process worker is off: each test runs the worker it needs."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.jobs import Outcome
from syncbridge.models import Run
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules
from tests.runs_support import audit, jobs, worker_of

pytestmark = pytest.mark.embedded_worker(False)


async def start(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/v1/runs", json={"kind": "score"}, headers=headers)


async def test_a_score_run_is_queued_with_its_job_and_a_worker_finishes_it(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    async def defaults(session: AsyncSession) -> None:
        await load_default_taxonomy(session)
        await load_default_tag_rules(session, "test")

    await in_unit_of_work(app.state.sessionmaker, defaults)
    response = await start(client, editor)
    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["Location"] == f"/v1/runs/{run['id']}"
    assert (run["kind"], run["status"], run["streams"], run["scoring"]) == (
        "score",
        "queued",
        [],
        [],
    )
    [job] = await jobs(app)
    assert (job.kind, job.payload, job.concurrency_key) == (
        "score.run",
        {"run_id": run["id"]},
        "scoring",
    )
    [entry] = await audit(app, "run.start")
    assert entry.entity_id == run["id"]

    assert await worker_of(app).run_once() == [Outcome.done]
    done = (await client.get(f"/v1/runs/{run['id']}", headers=editor)).json()
    assert done["status"] == "succeeded"
    assert done["started_at"] is not None
    assert done["finished_at"] is not None
    # No assets yet: the default rule scored none; the window ends today.
    [rule] = done["scoring"]
    assert (rule["assets"], rule["changed"], rule["tiers"], rule["rule_version"]) == (0, 0, {}, 1)


async def test_a_queued_score_run_is_cancelled_with_its_job_a_finished_one_is_not(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    run_id = (await start(client, editor)).json()["id"]
    cancelled = await client.post(f"/v1/runs/{run_id}/cancel", headers=editor)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    [job] = await jobs(app)
    assert job.status == "cancelled"
    again = await client.post(f"/v1/runs/{run_id}/cancel", headers=editor)
    assert again.status_code == 409
    assert await worker_of(app).run_once() == []


async def test_a_running_score_run_cannot_be_cancelled(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    run_id = (await start(client, editor)).json()["id"]

    async def running(session: AsyncSession) -> None:
        await session.execute(
            update(Run).where(Run.id == uuid.UUID(run_id)).values(status="running")
        )

    await in_unit_of_work(app.state.sessionmaker, running)
    refused = await client.post(f"/v1/runs/{run_id}/cancel", headers=editor)
    assert refused.status_code == 409
    assert refused.json()["reason"] == "run_running"

"""``/v1/schedules``: viewers see each scheduled job with its schedule, time zone, next run
(computed from the schedule) and last runs; an admin runs one now through the path a
scheduled slot takes. The app's in-process worker is off: queued work stays queued."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.inbox.service import PRUNE_JOB
from syncbridge.jobs import Job
from syncbridge.models import JobRun
from syncbridge.models.base import utcnow
from syncbridge.runs.repository import SYNC_JOB
from syncbridge.settings import Settings
from tests.plugins_connections import HOSTS, HostTable
from tests.runs_support import PORTAL_ADDRESS, PORTAL_HOST, connect, disable, jobs, portal

pytestmark = pytest.mark.embedded_worker(False)

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"schedule_timezone": "Europe/Paris"})


@pytest.fixture
def sim() -> BynderSimulator:
    return portal(5)


@pytest.fixture
def vendor_transport(sim: BynderSimulator) -> httpx.AsyncBaseTransport:
    return httpx.ASGITransport(app=sim)


@pytest.fixture
def vendor_hosts() -> HostTable:
    return HostTable({**HOSTS, PORTAL_HOST: [PORTAL_ADDRESS]})


async def run_now(client: httpx.AsyncClient, name: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post(f"/v1/schedules/{name}/run", headers=headers)


async def test_viewers_see_each_job_with_its_schedule_and_next_run_in_its_time_zone(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    before = utcnow()
    response = await client.get("/v1/schedules", headers=viewer)
    assert response.status_code == 200
    listed = {item["name"]: item for item in response.json()}
    assert {name: (j["schedule"], j["timezone"]) for name, j in listed.items()} == {
        "reconcile": ("0 2 * * *", "Europe/Paris"),
        "sync.incremental": ("*/15 * * * *", "Europe/Paris"),
        "inbox.retention": ("0 * * * *", "Europe/Paris"),
    }
    assert all(j["last_runs"] == [] for j in listed.values())
    nightly = datetime.fromisoformat(listed["reconcile"]["next_run_at"])
    # 02:00 Paris time, given with Paris's offset that night, within the next day.
    assert (nightly.hour, nightly.minute) == (2, 0)
    assert nightly.utcoffset() == nightly.astimezone(PARIS).utcoffset()
    assert before < nightly <= before + timedelta(days=1)
    quarter = datetime.fromisoformat(listed["sync.incremental"]["next_run_at"])
    assert quarter.minute % 15 == 0
    assert before < quarter <= before + timedelta(minutes=15)


async def test_an_admin_runs_the_reconciliation_now_and_it_is_listed_as_theirs(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    response = await run_now(client, "reconcile", admin)
    assert response.status_code == 202, response.text
    run = response.json()
    assert (run["name"], run["status"], run["trigger"]) == (
        "reconcile",
        "succeeded",
        "admin:test-admin",
    )
    [job] = await jobs(app)
    assert (job.kind, job.payload, str(job.id)) == (
        "reconcile.run",
        {"job_run_id": run["id"]},
        run["job_id"],
    )
    listed = {j["name"]: j for j in (await client.get("/v1/schedules", headers=viewer)).json()}
    assert [r["id"] for r in listed["reconcile"]["last_runs"]] == [run["id"]]
    assert listed["sync.incremental"]["last_runs"] == []


async def test_running_the_incremental_sync_now_queues_a_run_as_post_runs_does(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    sim: BynderSimulator,
) -> None:
    first = await connect(app, sim, name="a-portal")
    second = await connect(app, sim, name="b-portal")
    await disable(app, await connect(app, sim, name="c-portal"))
    run = (await run_now(client, "sync.incremental", admin)).json()
    assert (run["status"], run["job_id"]) == ("succeeded", None)
    sync = (await client.get(f"/v1/runs/{run['run_id']}", headers=admin)).json()
    assert (sync["kind"], sync["full"], sync["status"]) == ("sync", False, "queued")
    assert sync["requested_by"].startswith("key:test-admin")
    assert {s["connection_id"] for s in sync["streams"]} == {str(first), str(second)}
    queued = await jobs(app)
    assert {(j.kind, j.concurrency_key) for j in queued} == {
        (SYNC_JOB, f"connection:{first}"),
        (SYNC_JOB, f"connection:{second}"),
    }
    assert {j.payload["run_id"] for j in queued} == {run["run_id"]}
    # While that run has not finished, another slot adds nothing (runs would pile up).
    again = (await run_now(client, "sync.incremental", admin)).json()
    assert (again["status"], again["run_id"]) == ("skipped", None)
    assert again["detail"] == f"The previous incremental sync run {run['run_id']} is queued."
    assert len(await jobs(app)) == 2
    # Once it has finished (here: cancelled), the next slot queues a run again.
    cancel = await client.post(f"/v1/runs/{run['run_id']}/cancel", headers=admin)
    assert cancel.json()["status"] == "cancelled"
    later = (await run_now(client, "sync.incremental", admin)).json()
    assert later["status"] == "succeeded"
    assert later["run_id"] not in (None, run["run_id"])


async def test_with_no_connection_enabled_the_incremental_sync_is_skipped_with_why(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    run = (await run_now(client, "sync.incremental", admin)).json()
    assert (run["status"], run["run_id"], run["job_id"]) == ("skipped", None, None)
    assert "No connection is enabled" in run["detail"]
    assert await jobs(app) == []


async def test_running_retention_now_queues_one_prune_however_often_it_is_asked(
    client: httpx.AsyncClient, session: AsyncSession, admin: dict[str, str]
) -> None:
    runs = [(await run_now(client, "inbox.retention", admin)).json() for _ in range(2)]
    prunes = list(await session.scalars(select(Job).where(Job.kind == PRUNE_JOB)))
    assert [str(p.id) for p in prunes] == [runs[0]["job_id"]] == [runs[1]["job_id"]]
    rows = list(await session.scalars(select(JobRun).order_by(JobRun.slot)))
    assert [str(r.id) for r in rows] == [r["id"] for r in runs]


async def test_only_admins_run_a_job_now_and_an_unknown_job_is_404(
    app: FastAPI,
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    editor: dict[str, str],
    admin: dict[str, str],
) -> None:
    assert (await client.get("/v1/schedules")).status_code == 401
    assert (await run_now(client, "reconcile", {})).status_code == 401
    for refused in (viewer, editor):
        response = await run_now(client, "reconcile", refused)
        assert response.status_code == 403
    unknown = await run_now(client, "defragment", admin)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "defragment" in unknown.json()["detail"]
    assert await jobs(app) == []

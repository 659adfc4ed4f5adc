"""``/v1/assets/{id}/classifications``: editors add and remove manual classifications,
audited and in the history; rules never overwrite or remove them; errors are problem+json;
rule edits over REST queue the re-classification."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.classification import classify_run
from syncbridge.classification.triggers import KIND
from syncbridge.jobs import Job
from syncbridge.models import Asset, Classification, Concept, Connection, utcnow
from tests.jobs_support import eventually
from tests.test_mapping_api import concepts, create

__all__ = ["concepts"]  # the fixture, re-used

# Jobs run only where a test says so.
pytestmark = pytest.mark.embedded_worker(False)

Headers = dict[str, str]
PROBLEM = "application/problem+json"


@pytest.fixture
async def asset(session: AsyncSession) -> uuid.UUID:
    """A live Bynder asset, last changed by some run."""
    connection = Connection(connector_key="bynder", name="dam")
    session.add(connection)
    await session.flush()
    row = Asset(
        connection_id=connection.id,
        stream="media",
        external_id="m-1",
        data={"type": "image", "tags": ["linkedin"]},
        content_hash="h",
        last_run_id=uuid.uuid4(),
    )
    session.add(row)
    await session.commit()
    return row.id


def url(asset_id: uuid.UUID | str) -> str:
    return f"/v1/assets/{asset_id}/classifications"


async def add(
    client: httpx.AsyncClient, headers: Headers, asset_id: uuid.UUID, **body: Any
) -> httpx.Response:
    return await client.post(url(asset_id), json=body, headers=headers)


async def listed(client: httpx.AsyncClient, headers: Headers, asset_id: uuid.UUID) -> list[Any]:
    response = await client.get(url(asset_id), headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def history(client: httpx.AsyncClient, headers: Headers, asset_id: uuid.UUID) -> list[Any]:
    response = await client.get(f"{url(asset_id)}/history", headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


@pytest.mark.usefixtures("concepts")
async def test_an_editor_classifies_an_asset_by_hand_audited_and_in_the_history(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, asset: uuid.UUID
) -> None:
    response = await add(client, editor, asset, concept="channel:email", note="hero image")

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["source"], body["concept"]["key"], body["note"]) == (
        "manual",
        "channel:email",
        "hero image",
    )
    assert body["concept"]["pref_label"] == "Email"
    assert body["provenance"] is None
    assert body["created_by"].startswith("key:test-editor")
    assert [c["id"] for c in await listed(client, viewer, asset)] == [body["id"]]
    [entry] = (
        await client.get(
            f"/v1/audit?entity_type=classification&entity_id={body['id']}", headers=viewer
        )
    ).json()["items"]
    assert entry["action"] == "classification.add"
    assert entry["after"]["concept"] == "channel:email"
    [change] = await history(client, viewer, asset)
    assert (change["change"], change["source"], change["concept_key"]) == (
        "added",
        "manual",
        "channel:email",
    )
    assert change["reason"] == f"added by {body['created_by']}: hero image"


async def test_adding_it_again_by_key_or_id_answers_the_one_there(
    client: httpx.AsyncClient, editor: Headers, asset: uuid.UUID, concepts: dict[str, Concept]
) -> None:
    first = (await add(client, editor, asset, concept="channel:email")).json()
    again = await add(client, editor, asset, concept="channel:email")
    by_id = await add(client, editor, asset, concept=str(concepts["channel:email"].id))
    assert (again.status_code, by_id.status_code) == (200, 200)
    assert again.json()["id"] == by_id.json()["id"] == first["id"]
    assert len(await listed(client, editor, asset)) == 1


@pytest.mark.usefixtures("concepts")
async def test_bad_additions_are_refused_with_reasons(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, asset: uuid.UUID
) -> None:
    unknown_asset = await add(client, editor, uuid.uuid4(), concept="channel:email")
    unknown_concept = await add(client, editor, asset, concept="channel:telex")
    replaced = await add(client, editor, asset, concept="channel:li-old")
    retired = await add(client, editor, asset, concept="channel:fax")
    for response, status in [(unknown_asset, 404), (unknown_concept, 404), (replaced, 409)]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM
    assert "No asset" in unknown_asset.json()["detail"]
    assert "channel:telex" in unknown_concept.json()["detail"]
    assert replaced.json()["replaced_by"] == "channel:linkedin"
    assert "replacement 'channel:linkedin'" in replaced.json()["detail"]
    assert (retired.status_code, retired.json()["replaced_by"]) == (409, None)
    for body in ({}, {"concept": ""}, {"concept": "channel:email", "colour": "red"}):
        response = await client.post(url(asset), json=body, headers=editor)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM
    assert (await add(client, viewer, asset, concept="channel:email")).status_code == 403
    assert await listed(client, viewer, asset) == []
    for path in (url(uuid.uuid4()), f"{url(uuid.uuid4())}/history"):
        missing = await client.get(path, headers=viewer)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM


@pytest.mark.usefixtures("concepts")
async def test_a_deleted_asset_takes_no_manual_classification(
    client: httpx.AsyncClient, editor: Headers, asset: uuid.UUID, session: AsyncSession
) -> None:
    row = await session.get(Asset, asset)
    assert row is not None
    row.deleted_at = utcnow()
    await session.commit()
    response = await add(client, editor, asset, concept="channel:email")
    assert response.status_code == 409
    assert "deleted" in response.json()["detail"]


async def test_an_editor_removes_a_manual_classification_but_not_a_rules(
    client: httpx.AsyncClient,
    editor: Headers,
    viewer: Headers,
    asset: uuid.UUID,
    session: AsyncSession,
    concepts: dict[str, Concept],
) -> None:
    manual = (await add(client, editor, asset, concept="channel:email")).json()
    by_rule = Classification(
        asset_id=asset,
        concept_id=concepts["channel:linkedin"].id,
        source="rule",
        rule_id=uuid.uuid4(),
        rule_version=1,
    )
    session.add(by_rule)
    await session.commit()

    refused = await client.delete(f"{url(asset)}/{by_rule.id}", headers=editor)
    assert refused.status_code == 409
    assert "change or disable the rule" in refused.json()["detail"]
    assert (await client.delete(f"{url(asset)}/{manual['id']}", headers=viewer)).status_code == 403
    elsewhere = await client.delete(f"{url(uuid.uuid4())}/{manual['id']}", headers=editor)
    assert elsewhere.status_code == 404

    removed = await client.delete(f"{url(asset)}/{manual['id']}", headers=editor)

    assert removed.status_code == 204
    assert [c["source"] for c in await listed(client, viewer, asset)] == ["rule"]
    latest = (await history(client, viewer, asset))[0]
    assert (latest["change"], latest["reason"]) == (
        "removed",
        f"removed by {manual['created_by']}",
    )
    actions = [
        e["action"]
        for e in (
            await client.get(
                f"/v1/audit?entity_type=classification&entity_id={manual['id']}", headers=viewer
            )
        ).json()["items"]
    ]
    assert sorted(actions) == ["classification.add", "classification.remove"]
    again = await client.delete(f"{url(asset)}/{manual['id']}", headers=editor)
    assert again.status_code == 404


@pytest.mark.usefixtures("concepts")
@pytest.mark.embedded_worker(True)
async def test_rules_and_their_changes_over_rest_leave_manual_classifications_alone(
    app: FastAPI,
    client: httpx.AsyncClient,
    editor: Headers,
    viewer: Headers,
    asset: uuid.UUID,
    session: AsyncSession,
) -> None:
    await add(client, editor, asset, concept="channel:linkedin", note="checked")
    rule = await create(
        client,
        editor,
        name="linkedin tag",
        connector_key="bynder",
        stream="media",
        field_path="tags",
        operator="in",
        values=["linkedin"],
        match_labels=False,
    )
    stored = await session.get(Asset, asset)
    assert stored is not None
    assert stored.last_run_id is not None
    await classify_run(app.state.sessionmaker, stored.last_run_id)
    both = {(c["concept"]["key"], c["source"]) for c in await listed(client, viewer, asset)}
    assert both == {("channel:linkedin", "manual"), ("channel:linkedin", "rule")}
    [by_rule] = [c for c in await listed(client, viewer, asset) if c["source"] == "rule"]
    assert by_rule["provenance"]["rule_id"] == rule["id"]
    assert by_rule["provenance"]["value"] == "linkedin"

    archived = await client.delete(f"/v1/mappings/{rule['id']}", headers=editor)
    assert archived.status_code == 204
    queued = list(await session.scalars(select(Job).where(Job.kind == KIND)))
    [job] = [j for j in queued if j.payload["cause"] == "mapping_rule.archive"]
    assert job.payload["rule_ids"] == [rule["id"]]

    # The app's own worker (found through the entry point) runs the re-classification.
    async def done() -> bool:
        status = await session.scalar(select(Job.status).where(Job.id == job.id))
        return status == "done"

    await eventually(done, "the re-classification job finished")

    [left] = await listed(client, viewer, asset)
    assert (left["source"], left["note"]) == ("manual", "checked")
    reasons = [c["reason"] for c in await history(client, viewer, asset)]
    assert reasons[0] == "rule 'linkedin tag' archived"

"""`POST /v1/tag-rules/preview`: how many assets a new rule, or an edit of a saved one, would
give, keep and take each tag from over the current metric facts, with examples; nothing is
written.

Assets and facts are written directly (no vendor), with the default taxonomy and tag rule.
The assets are not classified, so the rules rank them all in one cohort. Asset ``a<i>`` has
``i`` key events and 20 views a day over 10 days (200 views, so each is ranked, in the order
of ``i``: percentiles 0, 11.1, ..., 100); ``thin`` has 50 views, below the minimum sample.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.models import Asset, Base, DesiredTag, TagRule, utcnow
from syncbridge.scoring.service import score_all
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging import examples
from syncbridge.tagging.schemas import TagRulePreview, TagRulePreviewRequest
from tests.scoring_support import seed_facts

# The app's in-process worker must not score behind the tests' backs.
pytestmark = pytest.mark.embedded_worker(False)

Sessionmaker = async_sessionmaker[AsyncSession]
LAST_DAY = date(2026, 11, 20)
#: Per asset: (key events, views) per day over 10 days.
ASSETS = {**{f"a{i}": (i, 20) for i in range(1, 11)}, "thin": (5, 5)}
TIERS = [
    {"concept": "perf:top-10", "from_percentile": 90, "to_percentile": 100},
    {"concept": "perf:top-25", "from_percentile": 50, "to_percentile": 90},
    {"concept": "perf:bottom-25", "from_percentile": 0, "to_percentile": 50},
]
NEW_RULE: dict[str, Any] = {
    "window_days": 28,
    "kpi": {"type": "rate", "numerator": "key_events", "denominator": "views"},
    "min_sample": 100,
    "tiers": examples.TIERS,
}


async def seed(sessionmaker: Sessionmaker) -> dict[str, uuid.UUID]:
    """The default taxonomy and rule, a GA4 and a Bynder connection, the assets and facts."""
    return await seed_facts(sessionmaker, ASSETS, LAST_DAY)


async def row_counts(sessionmaker: Sessionmaker) -> dict[str, int]:
    """Rows per table, every table of the store."""

    async def read(session: AsyncSession) -> dict[str, int]:
        counts = {}
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(
                (await session.execute(select(func.count()).select_from(table))).scalar_one()
            )
        return counts

    return await in_unit_of_work(sessionmaker, read, write=False)


async def desired(sessionmaker: Sessionmaker) -> dict[uuid.UUID, tuple[Any, ...]]:
    async def read(session: AsyncSession) -> dict[uuid.UUID, tuple[Any, ...]]:
        return {
            t.asset_id: (t.concept, t.percentile, t.run_id, t.computed_at, t.rule_version)
            for t in await session.scalars(select(DesiredTag))
        }

    return await in_unit_of_work(sessionmaker, read, write=False)


async def default_rule(sessionmaker: Sessionmaker) -> TagRule:
    async def read(session: AsyncSession) -> TagRule:
        return (await session.scalars(select(TagRule))).one()

    return await in_unit_of_work(sessionmaker, read, write=False)


def counts(body: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    return {t["concept"]: (t["gain"], t["keep"], t["lose"], t["after"]) for t in body["tags"]}


async def test_a_new_rules_preview_is_what_scoring_it_then_stores_and_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    sessionmaker = app.state.sessionmaker
    ids = await seed(sessionmaker)
    before = await row_counts(sessionmaker)

    response = await client.post("/v1/tag-rules/preview", json={"rule": NEW_RULE}, headers=editor)

    assert response.status_code == 200, response.text
    body = response.json()
    TagRulePreview.model_validate(body)
    assert await row_counts(sessionmaker) == before
    assert (body["rule_id"], body["version"], body["assets"], body["changing"]) == (
        None,
        None,
        11,
        11,
    )
    assert (body["window_start"], body["window_end"]) == ("2026-10-24", "2026-11-20")
    # Nothing to compare with: every asset gains its tag.
    assert counts(body) == {
        "perf:top-10": (1, 0, 0, 1),
        "perf:top-25": (2, 0, 0, 2),
        "perf:middle": (4, 0, 0, 4),
        "perf:bottom-25": (3, 0, 0, 3),
        "perf:insufficient-data": (1, 0, 0, 1),
    }
    top25 = next(t for t in body["tags"] if t["concept"] == "perf:top-25")
    best, second = top25["examples"]  # the best ranked first
    assert (best["external_id"], second["external_id"]) == ("a9", "a8")
    assert best["asset_id"] == str(ids["a9"])
    assert (best["change"], best["concept_before"], best["concept_after"]) == (
        "gain",
        None,
        "perf:top-25",
    )
    assert (best["cohort"], best["cohort_size"], best["sample"], best["kpi"]) == (
        "all",
        10,
        200,
        pytest.approx(0.45),
    )
    assert best["percentile"] == pytest.approx(800 / 9)

    # Saved and scored, the rule stores exactly what the preview said.
    created = await client.post("/v1/tag-rules", json=NEW_RULE, headers=editor)
    assert created.status_code == 201, created.text
    results = {r.rule_id: r for r in await score_all(sessionmaker)}
    result = results[uuid.UUID(created.json()["id"])]
    assert result.tiers == {concept: c[3] for concept, c in counts(body).items()}


async def test_an_edit_is_compared_with_the_rules_desired_tags_which_stay_as_they_are(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    sessionmaker = app.state.sessionmaker
    ids = await seed(sessionmaker)
    await score_all(sessionmaker)
    rule = await default_rule(sessionmaker)
    stored = await desired(sessionmaker)

    async def gone(session: AsyncSession) -> None:
        # Deleted in its DAM since the last scoring: its tag goes.
        await session.execute(
            update(Asset).where(Asset.id == ids["thin"]).values(deleted_at=utcnow())
        )

    await in_unit_of_work(sessionmaker, gone)
    before = await row_counts(sessionmaker)

    response = await client.post(
        "/v1/tag-rules/preview",
        json={"rule_id": str(rule.id), "changes": {"tiers": TIERS}, "examples": 1},
        headers=editor,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert await row_counts(sessionmaker) == before
    assert await desired(sessionmaker) == stored
    assert (await default_rule(sessionmaker)).version == rule.version == 1
    assert (body["rule_id"], body["version"], body["name"]) == (str(rule.id), 1, rule.name)
    # a1..a5 (0 to 44.4) bottom, a6..a9 (55.6 to 88.9) top-25, a10 top-10; middle is gone.
    assert (body["assets"], body["changing"]) == (10, 5)
    assert counts(body) == {
        "perf:top-10": (0, 1, 0, 1),
        "perf:top-25": (2, 2, 0, 4),
        "perf:bottom-25": (2, 3, 0, 5),
        "perf:insufficient-data": (0, 0, 1, 0),
        "perf:middle": (0, 0, 4, 0),
    }
    shown = {t["concept"]: t["examples"] for t in body["tags"]}
    [moved_up] = [e for e in shown["perf:top-25"] if e["change"] == "gain"]
    assert (moved_up["external_id"], moved_up["concept_before"]) == ("a7", "perf:middle")
    assert [e["change"] for e in shown["perf:top-25"]] == ["gain", "keep"]
    [lost] = shown["perf:middle"]
    assert (lost["change"], lost["external_id"], lost["concept_after"]) == (
        "lose",
        "a7",
        "perf:top-25",
    )
    [deleted] = shown["perf:insufficient-data"]
    assert (deleted["external_id"], deleted["concept_after"], deleted["percentile"]) == (
        "thin",
        None,
        None,
    )

    # No changes: the rule as saved, over the same facts, keeps every live asset's tag.
    same = await client.post(
        "/v1/tag-rules/preview", json={"rule_id": str(rule.id)}, headers=editor
    )
    assert same.status_code == 200, same.text
    assert same.json()["changing"] == 1  # only the deleted asset's tag goes
    assert all(t["gain"] == 0 for t in same.json()["tags"])


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (
            {"rule": {**NEW_RULE, "tiers": TIERS[:2]}},
            "rule.tiers.1.from_percentile",
            "the lowest tier must start at 0",
        ),
        (
            {"rule": {**NEW_RULE, "kpi": {"type": "count", "metric": "likes"}}},
            "rule.kpi.metric",
            "no data source",
        ),
        (
            {"rule": {**NEW_RULE, "cohort_by": ["no-such-scheme"]}},
            "rule.cohort_by.0",
            "no taxonomy scheme",
        ),
        (
            {"changes": {"insufficient_concept": "perf:nope"}},
            "changes.insufficient_concept",
            "no concept with key 'perf:nope'",
        ),
        ({"changes": {"window_days": None}}, "changes.window_days", "must not be null"),
    ],
)
async def test_an_invalid_rule_is_refused_as_a_create_or_an_edit_would_be(
    app: FastAPI,
    client: httpx.AsyncClient,
    editor: dict[str, str],
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    await seed(app.state.sessionmaker)
    if "changes" in body:
        body = {**body, "rule_id": str((await default_rule(app.state.sessionmaker)).id)}
    before = await row_counts(app.state.sessionmaker)
    response = await client.post("/v1/tag-rules/preview", json=body, headers=editor)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problems = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert reason in problems[field], problems
    assert await row_counts(app.state.sessionmaker) == before


async def test_a_saved_rule_that_no_longer_fits_names_rule_id(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    await seed(app.state.sessionmaker)
    rule = await default_rule(app.state.sessionmaker)

    async def break_it(session: AsyncSession) -> None:
        await session.execute(
            update(TagRule).where(TagRule.id == rule.id).values(cohort_by=["gone-scheme"])
        )

    await in_unit_of_work(app.state.sessionmaker, break_it)
    response = await client.post(
        "/v1/tag-rules/preview",
        json={"rule_id": str(rule.id), "changes": {"min_sample": 50}},
        headers=editor,
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["errors"]
    assert problem["field"] == "rule_id"
    assert "the saved rule's cohort_by.0" in problem["reason"]


async def test_what_to_preview_must_be_said_once_and_exist(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], viewer: dict[str, str]
) -> None:
    await seed(app.state.sessionmaker)
    rule = await default_rule(app.state.sessionmaker)
    url = "/v1/tag-rules/preview"
    both = await client.post(url, json={"rule": NEW_RULE, "rule_id": str(rule.id)}, headers=editor)
    assert both.status_code == 422
    assert "either rule" in both.text
    neither = await client.post(url, json={}, headers=editor)
    assert neither.status_code == 422
    loose = await client.post(url, json={"rule": NEW_RULE, "changes": {}}, headers=editor)
    assert loose.status_code == 422
    assert "give rule_id" in loose.text
    unknown = await client.post(url, json={"rule_id": str(uuid.uuid4())}, headers=editor)
    assert unknown.status_code == 404
    assert (await client.post(url, json={"rule": NEW_RULE}, headers=viewer)).status_code == 403
    archived = await client.delete(f"/v1/tag-rules/{rule.id}", headers=editor)
    assert archived.status_code == 204
    refused = await client.post(url, json={"rule_id": str(rule.id)}, headers=editor)
    assert refused.status_code == 409
    assert "archived" in refused.json()["detail"]


async def test_the_openapi_document_shows_a_request_and_an_answer(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    document = (await client.get("/openapi.json", headers=viewer)).json()
    operation = document["paths"]["/v1/tag-rules/preview"]["post"]
    assert operation["operationId"] == "preview_tag_rule"
    assert {"404", "409", "422"} <= set(operation["responses"])
    schemas = document["components"]["schemas"]
    assert len(schemas["TagRulePreviewRequest"]["examples"]) == 2
    shown = schemas["TagRulePreview"]["examples"][0]
    assert TagRulePreview.model_validate(shown).tags[0].examples[0].change == "gain"
    for example in schemas["TagRulePreviewRequest"]["examples"]:
        assert TagRulePreviewRequest.model_validate(example)

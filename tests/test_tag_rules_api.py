"""``/v1/tag-rules``: CRUD, versions, ETags, archive, audit, roles, validation and OpenAPI."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.app import create_app
from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.models import Concept, ConceptStatus, Connection
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging import examples
from syncbridge.tagging.schemas import TagRuleCreate, TagRulePatch
from syncbridge.tagging.validation import rule_errors

Headers = dict[str, str]
NO_SUCH = "00000000-0000-0000-0000-000000000000"


def tiers(*bands: tuple[str, float, float]) -> list[dict[str, Any]]:
    return [{"concept": c, "from_percentile": f, "to_percentile": t} for c, f, t in bands]


DEFAULT_TIERS = tiers(
    ("perf:top-10", 90, 100),
    ("perf:top-25", 75, 90),
    ("perf:middle", 25, 75),
    ("perf:bottom-25", 0, 25),
)


def rule_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "key-event rate",
        "window_days": 28,
        "cohort_by": ["asset-type", "channel"],
        "kpi": {"type": "rate", "numerator": "key_events", "denominator": "views"},
        "smoothing": {"method": "wilson", "confidence": 0.95},
        "min_sample": 100,
        "tiers": DEFAULT_TIERS,
    }
    return body | overrides


@pytest.fixture(autouse=True)
async def taxonomy(app: FastAPI) -> None:
    """The bundled taxonomy: its schemes, and the performance-tier concepts."""
    await in_unit_of_work(app.state.sessionmaker, load_default_taxonomy)


@pytest.fixture
async def dams(session: AsyncSession) -> dict[str, str]:
    """One connection of each DAM connector, and a GA4 one."""
    rows = {key: Connection(connector_key=key, name=key, settings={}) for key in CONNECTORS}
    session.add_all(rows.values())
    await session.commit()
    return {key: str(row.id) for key, row in rows.items()}


CONNECTORS = ("bynder", "cloudinary", "localfolder", "ga4")


async def create(client: httpx.AsyncClient, headers: Headers, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/tag-rules", json=rule_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def audit(client: httpx.AsyncClient, headers: Headers, rule_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/audit?entity_type=tag_rule&entity_id={rule_id}", headers=headers
    )
    entries: list[dict[str, Any]] = response.json()["items"]
    return entries


async def test_create_is_version_one_with_an_etag_and_audited(
    client: httpx.AsyncClient, editor: Headers, admin: Headers
) -> None:
    response = await client.post("/v1/tag-rules", json=rule_body(), headers=editor)

    assert response.status_code == 201, response.text
    rule = response.json()
    assert (rule["version"], rule["revision"], rule["enabled"]) == (1, 1, True)
    assert response.headers["ETag"] == '"1"'
    assert rule["tiers"][0] == {
        "concept": "perf:top-10",
        "from_percentile": 90,
        "to_percentile": 100,
    }
    assert (rule["insufficient_concept"], rule["targets"]) == ("perf:insufficient-data", [])
    entries = await audit(client, admin, rule["id"])
    assert [e["action"] for e in entries] == ["tag_rule.create"]
    assert entries[0]["after"]["kpi"] == rule["kpi"]


async def test_a_rate_gets_wilson_smoothing_and_a_readable_name_by_default(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    body = rule_body()
    del body["smoothing"], body["name"]
    response = await client.post("/v1/tag-rules", json=body, headers=editor)

    rule = response.json()
    assert rule["smoothing"] == {"method": "wilson", "confidence": 0.95}
    assert rule["name"] == "key_events per views by asset-type, channel, last 28 days"


async def test_a_count_takes_no_smoothing_and_bayes_suits_a_rate(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    count = await create(
        client,
        editor,
        kpi={"type": "count", "metric": "influenced_revenue"},
        smoothing=None,
        min_sample=7,
    )
    bayes = await create(client, editor, smoothing={"method": "bayes", "prior_weight": 50})
    assert count["smoothing"] is None
    assert bayes["smoothing"] == {"method": "bayes", "prior_weight": 50}


async def test_list_filters_and_pages(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create(client, editor, name="a")
    await create(client, editor, name="b", enabled=False)
    await create(client, editor, name="c")

    enabled = (await client.get("/v1/tag-rules?enabled=true", headers=viewer)).json()
    assert [r["name"] for r in enabled["items"]] == ["a", "c"]
    page = (await client.get("/v1/tag-rules?limit=2&offset=2", headers=viewer)).json()
    assert ([r["name"] for r in page["items"]], page["total"]) == (["c"], 3)


async def test_each_real_change_is_a_new_version(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, admin: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/tag-rules/{rule['id']}"
    changed = await client.patch(url, json={"window_days": 14, "min_sample": 50}, headers=editor)
    same = await client.patch(url, json={"window_days": 14}, headers=editor)

    assert changed.status_code == 200, changed.text
    assert (changed.json()["version"], changed.headers["ETag"]) == (2, '"2"')
    assert (same.json()["version"], same.headers["ETag"]) == (2, '"2"')
    versions = (await client.get(f"{url}/versions", headers=viewer)).json()
    assert [(v["version"], v["window_days"]) for v in versions["items"]] == [(1, 28), (2, 14)]
    first = (await client.get(f"{url}/versions/1", headers=viewer)).json()
    assert (first["min_sample"], first["created_by"].startswith("key:")) == (100, True)
    assert (await client.get(f"{url}/versions/3", headers=viewer)).status_code == 404
    entries = await audit(client, admin, rule["id"])
    assert [e["action"] for e in entries] == ["tag_rule.update", "tag_rule.create"]
    assert (entries[0]["before"]["window_days"], entries[0]["after"]["window_days"]) == (28, 14)


async def test_a_patch_can_turn_a_rate_into_a_count_clearing_its_smoothing(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/tag-rules/{rule['id']}"
    kept = await client.patch(
        url, json={"kpi": {"type": "count", "metric": "sessions"}}, headers=editor
    )
    cleared = await client.patch(
        url,
        json={"kpi": {"type": "count", "metric": "sessions"}, "smoothing": None},
        headers=editor,
    )

    assert kept.status_code == 422
    assert kept.json()["errors"] == [{"field": "smoothing", "reason": "a count takes no smoothing"}]
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["smoothing"], cleared.json()["version"]) == (None, 2)


async def test_a_stale_if_match_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/tag-rules/{rule['id']}"
    fresh = await client.patch(url, json={"enabled": False}, headers=editor | {"If-Match": '"1"'})
    stale = await client.patch(url, json={"name": "late"}, headers=editor | {"If-Match": '"1"'})
    stale_archive = await client.delete(url, headers=editor | {"If-Match": '"1"'})

    assert fresh.status_code == 200
    assert (stale.status_code, stale_archive.status_code) == (412, 412)
    assert stale.headers["content-type"] == "application/problem+json"
    now = await client.get(url, headers=viewer)
    assert (now.json()["name"], now.json()["archived_at"], now.headers["ETag"]) == (
        "key-event rate",
        None,
        '"2"',
    )


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that requires If-Match on every write."""
    app = create_app(settings.model_copy(update={"require_if_match": True}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_writes_without_if_match_are_428_when_it_is_required(
    strict_client: httpx.AsyncClient, editor: Headers
) -> None:
    rule = await create(strict_client, editor)
    url = f"/v1/tag-rules/{rule['id']}"
    patch = await strict_client.patch(url, json={"name": "x"}, headers=editor)
    archive = await strict_client.delete(url, headers=editor)
    matched = await strict_client.patch(
        url, json={"name": "x"}, headers=editor | {"If-Match": '"1"'}
    )

    assert (patch.status_code, archive.status_code) == (428, 428)
    assert (matched.status_code, matched.headers["ETag"]) == (200, '"2"')


async def test_delete_archives_and_keeps_versions(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, admin: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/tag-rules/{rule['id']}"

    assert (await client.delete(url, headers=editor)).status_code == 204
    assert (await client.delete(url, headers=editor)).status_code == 204
    assert (await client.get("/v1/tag-rules", headers=viewer)).json()["total"] == 0
    listed = (await client.get("/v1/tag-rules?include_archived=true", headers=viewer)).json()
    assert listed["items"][0]["archived_at"] is not None
    got = await client.get(url, headers=viewer)
    assert (got.json()["revision"], got.json()["version"], got.headers["ETag"]) == (2, 1, '"2"')
    assert (await client.get(f"{url}/versions", headers=viewer)).json()["total"] == 1
    assert (await client.patch(url, json={"name": "x"}, headers=editor)).status_code == 409
    actions = [e["action"] for e in await audit(client, admin, rule["id"])]
    assert actions == ["tag_rule.archive", "tag_rule.create"]


async def test_viewers_read_but_do_not_write(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/tag-rules/{rule['id']}"
    assert (await client.get(url, headers=viewer)).status_code == 200
    assert (await client.get(f"{url}/versions/1", headers=viewer)).status_code == 200
    created = await client.post("/v1/tag-rules", json=rule_body(), headers=viewer)
    assert created.status_code == 403
    assert (await client.patch(url, json={"name": "x"}, headers=viewer)).status_code == 403
    assert (await client.delete(url, headers=viewer)).status_code == 403
    assert (await client.get(f"/v1/tag-rules/{NO_SUCH}", headers=viewer)).status_code == 404
    assert (await client.get("/v1/tag-rules")).status_code == 401


# --- validation ----------------------------------------------------------------------------


def _tiers_with(index: int, **band: Any) -> list[dict[str, Any]]:
    changed = [dict(t) for t in DEFAULT_TIERS]
    changed[index].update(band)
    return changed


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"window_days": 0}, "window_days", "greater than or equal to 1"),
        ({"window_days": 366}, "window_days", "less than or equal to 365"),
        ({"cohort_by": ["asset-type", "colour"]}, "cohort_by.1", "no taxonomy scheme 'colour'"),
        ({"cohort_by": ["channel", "channel"]}, "cohort_by.1", "listed twice"),
        ({"cohort_by": ["performance-tier"]}, "cohort_by.0", "their own cohorts"),
        (
            {"kpi": {"type": "count", "metric": "clicks"}, "smoothing": None},
            "kpi.metric",
            "no data source",
        ),
        (
            {"kpi": {"type": "rate", "numerator": "key_events", "denominator": "impressions"}},
            "kpi.denominator",
            "no data source",
        ),
        (
            {"kpi": {"type": "rate", "numerator": "views", "denominator": "views"}},
            "kpi.denominator",
            "the same metric",
        ),
        ({"kpi": {"type": "ratio", "metric": "views"}}, "kpi", "tag"),
        ({"kpi": {"type": "count", "metric": "views"}}, "smoothing", "a count takes no smoothing"),
        ({"smoothing": {"method": "wilson", "confidence": 1.5}}, "smoothing.wilson.confidence", ""),
        ({"smoothing": {"method": "bayes", "prior_weight": 0}}, "smoothing.bayes.prior_weight", ""),
        ({"min_sample": 0}, "min_sample", "greater than or equal to 1"),
        ({"min_sample": 2.5}, "min_sample", "integer"),
        (
            {"tiers": _tiers_with(3, to_percentile=20)},
            "tiers.2.from_percentile",
            "gap: no tier covers 20 to 25",
        ),
        (
            {"tiers": _tiers_with(2, to_percentile=80)},
            "tiers.1.from_percentile",
            "overlaps tiers.2 (75 to 80)",
        ),
        (
            {"tiers": _tiers_with(3, from_percentile=5)},
            "tiers.3.from_percentile",
            "must start at 0",
        ),
        ({"tiers": _tiers_with(0, to_percentile=99)}, "tiers.0.to_percentile", "must end at 100"),
        ({"tiers": _tiers_with(0, from_percentile=100)}, "tiers.0.to_percentile", "must be above"),
        (
            {"tiers": _tiers_with(0, to_percentile=101)},
            "tiers.0.to_percentile",
            "less than or equal to 100",
        ),
        ({"tiers": []}, "tiers", "at least 1"),
        (
            {"tiers": _tiers_with(0, concept="perf:top-5")},
            "tiers.0.concept",
            "no concept with key 'perf:top-5'",
        ),
        (
            {"tiers": _tiers_with(0, concept="channel:paid")},
            "tiers.0.concept",
            "not of 'performance-tier'",
        ),
        (
            {"tiers": _tiers_with(1, concept="perf:top-10")},
            "tiers.1.concept",
            "also the concept of tiers.0",
        ),
        ({"insufficient_concept": "perf:unknown"}, "insufficient_concept", "no concept with key"),
        ({"insufficient_concept": "perf:middle"}, "tiers.2.concept", "is the insufficient_concept"),
        (
            {"targets": [{"connection_id": NO_SUCH, "mode": "tags"}]},
            "targets.0.connection_id",
            "no such connection",
        ),
        ({"targets": [{"connection_id": NO_SUCH, "mode": "email"}]}, "targets.0", "tag"),
        ({"surprise": 1}, "surprise", "not permitted"),
        ({"enabled": "yes"}, "enabled", "boolean"),
    ],
)
async def test_bad_rules_are_422_with_the_field_and_why(
    client: httpx.AsyncClient,
    editor: Headers,
    overrides: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    response = await client.post("/v1/tag-rules", json=rule_body(**overrides), headers=editor)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors
    assert all(e["reason"] for e in errors)


async def test_every_reason_is_reported_at_once(client: httpx.AsyncClient, editor: Headers) -> None:
    body = rule_body(
        cohort_by=["colour"],
        kpi={"type": "count", "metric": "clicks"},
        tiers=_tiers_with(0, concept="perf:top-5"),
    )
    response = await client.post("/v1/tag-rules", json=body, headers=editor)

    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["kpi.metric", "smoothing", "cohort_by.0", "tiers.0.concept"]


async def test_a_deprecated_tier_concept_is_refused_with_its_replacement(
    client: httpx.AsyncClient, editor: Headers, session: AsyncSession
) -> None:
    await session.execute(
        update(Concept)
        .where(Concept.key == "perf:top-25")
        .values(status=ConceptStatus.deprecated.value)
    )
    await session.commit()

    response = await client.post("/v1/tag-rules", json=rule_body(), headers=editor)

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "tiers.1.concept", "reason": "the concept is deprecated"}
    ]


@pytest.mark.parametrize(
    ("connector", "target"),
    [
        ("bynder", {"mode": "tags", "prefix": "sb-perf:"}),
        ("bynder", {"mode": "bynder_metaproperty", "metaproperty": "Performance"}),
        ("cloudinary", {"mode": "tags", "prefix": "perf:"}),
        ("cloudinary", {"mode": "cloudinary_metadata", "field": "performance_tier"}),
        ("cloudinary", {"mode": "cloudinary_context", "key": "performance"}),
        ("localfolder", {"mode": "xmp_keywords", "prefix": "perf:"}),
    ],
)
async def test_each_dam_takes_its_own_modes(
    client: httpx.AsyncClient,
    editor: Headers,
    dams: dict[str, str],
    connector: str,
    target: dict[str, Any],
) -> None:
    given = {"connection_id": dams[connector], **target}
    rule = await create(client, editor, targets=[given])
    assert rule["targets"] == [given]


@pytest.mark.parametrize(
    ("connector", "mode", "field", "reason"),
    [
        ("ga4", "tags", "targets.0.connection_id", "a ga4 connection, not a DAM"),
        ("bynder", "cloudinary_context", "targets.0.mode", "a bynder connection takes"),
        ("cloudinary", "bynder_metaproperty", "targets.0.mode", "a cloudinary connection takes"),
        ("localfolder", "tags", "targets.0.mode", "a localfolder connection takes xmp_keywords"),
    ],
)
async def test_a_target_must_be_a_dam_whose_connector_takes_the_mode(
    client: httpx.AsyncClient,
    editor: Headers,
    dams: dict[str, str],
    connector: str,
    mode: str,
    field: str,
    reason: str,
) -> None:
    extra = {
        "bynder_metaproperty": {"metaproperty": "Performance"},
        "cloudinary_context": {"key": "performance"},
    }.get(mode, {})
    target = {"connection_id": dams[connector], "mode": mode, **extra}
    response = await client.post("/v1/tag-rules", json=rule_body(targets=[target]), headers=editor)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert error["reason"].startswith(reason)


async def test_a_connection_has_one_target(
    client: httpx.AsyncClient, editor: Headers, dams: dict[str, str]
) -> None:
    targets = [
        {"connection_id": dams["bynder"], "mode": "tags"},
        {"connection_id": dams["bynder"], "mode": "bynder_metaproperty", "metaproperty": "P"},
    ]
    response = await client.post("/v1/tag-rules", json=rule_body(targets=targets), headers=editor)
    assert response.json()["errors"] == [
        {"field": "targets.1.connection_id", "reason": "a connection has one target"}
    ]


async def test_a_patch_to_null_or_to_an_invalid_rule_is_422_and_changes_nothing(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/tag-rules/{rule['id']}"
    null = await client.patch(url, json={"tiers": None}, headers=editor)
    gapped = await client.patch(
        url, json={"tiers": _tiers_with(1, from_percentile=80)}, headers=editor
    )

    assert null.json()["errors"] == [{"field": "tiers", "reason": "must not be null"}]
    assert gapped.status_code == 422
    assert gapped.json()["errors"] == [
        {"field": "tiers.1.from_percentile", "reason": "gap: no tier covers 75 to 80"}
    ]
    now = await client.get(url, headers=viewer)
    assert (now.json()["version"], now.headers["ETag"]) == (1, '"1"')


# --- OpenAPI -------------------------------------------------------------------------------


async def test_openapi_documents_the_operations_with_examples(
    client: httpx.AsyncClient, viewer: Headers
) -> None:
    document = (await client.get("/openapi.json", headers=viewer)).json()
    paths = document["paths"]
    operations = {
        op["operationId"]
        for path, item in paths.items()
        if path.startswith("/v1/tag-rules")
        for op in item.values()
    }
    assert operations == {
        "list_tag_rules",
        "create_tag_rule",
        "get_tag_rule",
        "update_tag_rule",
        "archive_tag_rule",
        "list_tag_rule_versions",
        "get_tag_rule_version",
        "preview_tag_rule",
    }
    schemas = document["components"]["schemas"]
    example = schemas["TagRuleCreate"]["examples"][0]
    assert (example["window_days"], example["kpi"]["type"]) == (28, "rate")
    assert schemas["TagRuleOut"]["examples"][0]["version"] == 2
    assert schemas["TagRulePatch"]["examples"]
    assert "412" in paths["/v1/tag-rules/{rule_id}"]["patch"]["responses"]
    assert "gap" in schemas["TagRuleCreate"]["properties"]["tiers"]["description"]


def test_an_example_body_is_a_valid_rule() -> None:
    body = TagRuleCreate.model_validate(examples.CREATE)
    assert rule_errors(body.model_dump(mode="json")) == []
    assert all(TagRulePatch.model_validate(p) for p in examples.PATCHES)
    assert uuid.UUID(examples.RULE["id"])

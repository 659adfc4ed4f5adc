"""``/v1/taxonomy`` schemes and concepts: CRUD, search, tree, cycles, history and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.errors import Conflict
from syncbridge.models import Concept, ConceptLabel
from syncbridge.taxonomy.validation import normalise_label
from syncbridge.taxonomy.writes import flush_or_conflict

FIXTURES = Path(__file__).parent / "fixtures" / "taxonomy"
YAML = {"content-type": "application/yaml"}
BASE = "/v1/taxonomy"


async def load_fixture(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    for name in ("topic.yaml", "tone.yaml"):
        response = await client.post(
            f"{BASE}/import", content=(FIXTURES / name).read_bytes(), headers={**editor, **YAML}
        )
        assert response.status_code == 200, response.text


def concept_body(key: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"scheme": "topic", "key": key, "pref_label": {"en": label}, **extra}


@pytest.fixture
async def loaded(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    await load_fixture(client, editor)


# --- auth ------------------------------------------------------------------------------


WRITES = [
    ("POST", "/schemes", {"key": "x", "title": "X"}),
    ("PATCH", "/schemes/topic", {"title": "T"}),
    ("DELETE", "/schemes/topic", None),
    ("POST", "/concepts", concept_body("topic:x", "X")),
    ("PATCH", "/concepts/topic:sport", {"definition": "x"}),
    ("DELETE", "/concepts/topic:sport", None),
    ("POST", "/concepts/topic:sport/deprecate", {"replacement": None}),
    ("POST", "/import", None),
]
READS = [
    "/schemes",
    "/schemes/topic",
    "/concepts",
    "/concepts/topic:sport",
    "/concepts/topic:sport/history",
    "/export",
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_writes_need_the_editor_role(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    anonymous = await client.request(method, BASE + path, json=body)
    assert anonymous.status_code == 401
    response = await client.request(method, BASE + path, json=body, headers=viewer)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", READS)
async def test_reads_need_a_key(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(BASE + path)).status_code == 401


# --- schemes ---------------------------------------------------------------------------


async def test_scheme_lifecycle_is_audited(
    client: httpx.AsyncClient, editor: dict[str, str], admin: dict[str, str]
) -> None:
    created = await client.post(
        f"{BASE}/schemes", json={"key": "mood", "title": "Mood"}, headers=editor
    )
    assert created.status_code == 201
    assert created.json()["concept_count"] == 0
    patched = await client.patch(
        f"{BASE}/schemes/mood", json={"description": "How it feels."}, headers=editor
    )
    assert patched.json()["description"] == "How it feels."
    listed = (await client.get(f"{BASE}/schemes", headers=editor)).json()
    assert [s["key"] for s in listed["items"]] == ["mood"]
    assert (await client.delete(f"{BASE}/schemes/mood", headers=editor)).status_code == 204
    assert (await client.get(f"{BASE}/schemes/mood", headers=editor)).status_code == 404
    audit = (await client.get("/v1/audit?entity_type=concept_scheme", headers=admin)).json()
    assert [e["action"] for e in audit["items"]] == [
        "scheme.delete",
        "scheme.update",
        "scheme.create",
    ]
    assert audit["items"][1]["before"]["description"] is None
    assert audit["items"][0]["actor"].startswith("key:test-editor (")


@pytest.mark.usefixtures("loaded")
async def test_duplicate_scheme_key_is_409(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    response = await client.post(
        f"{BASE}/schemes", json={"key": "topic", "title": "Again"}, headers=editor
    )
    assert response.status_code == 409
    assert response.json()["errors"] == [{"field": "key", "reason": "already exists"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "Bad Key", "title": "X"}, "key"),
        ({"key": "ok", "title": ""}, "title"),
        ({"key": "ok", "title": "X", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_scheme_is_422(
    client: httpx.AsyncClient, editor: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{BASE}/schemes", json=body, headers=editor)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_unknown_scheme_is_404(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    for method, body in (("GET", None), ("PATCH", {"title": "X"}), ("DELETE", None)):
        response = await client.request(method, f"{BASE}/schemes/nope", json=body, headers=editor)
        assert response.status_code == 404
    response = await client.get(f"{BASE}/concepts?scheme=nope", headers=editor)
    assert response.status_code == 404


@pytest.mark.usefixtures("loaded")
async def test_scheme_with_concepts_cannot_be_deleted(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    response = await client.delete(f"{BASE}/schemes/topic", headers=editor)
    assert response.status_code == 409
    assert response.json()["concept_count"] == 6


# --- concepts --------------------------------------------------------------------------


@pytest.mark.usefixtures("loaded")
async def test_create_concept_and_read_it_back(
    client: httpx.AsyncClient, editor: dict[str, str], viewer: dict[str, str]
) -> None:
    body = concept_body(
        "topic:cycling",
        "Cycling",
        alt_labels={"en": ["Biking", "Bike"], "de": ["Radfahren"]},
        broader=["topic:sport", "topic:outdoor"],
        definition="Riding bicycles.",
        status="draft",
    )
    created = await client.post(f"{BASE}/concepts", json=body, headers=editor)
    assert created.status_code == 201, created.text
    got = (await client.get(f"{BASE}/concepts/topic:cycling", headers=viewer)).json()
    assert got["pref_label"] == {"en": "Cycling"}
    assert got["alt_labels"] == {"de": ["Radfahren"], "en": ["Bike", "Biking"]}
    assert got["broader"] == ["topic:outdoor", "topic:sport"]
    assert (got["status"], got["revision"], got["replaced_by"]) == ("draft", 1, None)
    sport = (await client.get(f"{BASE}/concepts/topic:sport", headers=viewer)).json()
    assert "topic:cycling" in sport["narrower"]


@pytest.mark.usefixtures("loaded")
async def test_key_with_a_slash_works_in_paths(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    body = concept_body("topic:sport/winter", "Winter sport", broader=["topic:sport"])
    assert (await client.post(f"{BASE}/concepts", json=body, headers=editor)).status_code == 201
    got = await client.get(f"{BASE}/concepts/topic:sport/winter", headers=editor)
    assert got.json()["key"] == "topic:sport/winter"
    history = await client.get(f"{BASE}/concepts/topic:sport/winter/history", headers=editor)
    assert history.json()["total"] == 1


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/concepts/topic:sport/history", "GET"),
        ("DELETE", "/concepts/topic:sport/deprecate", "POST"),
        ("GET", "/concepts/topic:sport/deprecate", "POST"),
    ],
)
@pytest.mark.usefixtures("loaded")
async def test_sub_resources_are_not_taken_for_concept_keys(
    client: httpx.AsyncClient, editor: dict[str, str], method: str, path: str, allow: str
) -> None:
    # Keys may hold "/", but never end in "/history" or "/deprecate" (found by fuzzing, R5).
    response = await client.request(method, f"{BASE}{path}", headers=editor)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (concept_body("topic:x", "X") | {"scheme": "nope"}, "scheme"),
        (concept_body("topic:x", "X", broader=["topic:nope"]), "broader"),
        (concept_body("Topic X", "X"), "key"),
        (concept_body("topic:x", "X") | {"pref_label": {}}, "pref_label"),
        (
            concept_body("topic:x", "X") | {"pref_label": {"english": "X"}},
            "pref_label.english.[key]",
        ),
        (concept_body("topic:x", "X", status="deprecated"), "status"),
        (concept_body("topic:x", "X", alt_labels={"en": ["x"]}), "alt_labels"),
        (concept_body("topic:x", "X", broader=["topic:x"]), "broader"),
        (concept_body("topic:x", "X", extra_field=1), "extra_field"),
        (concept_body("topic:x/history", "X"), "key"),
    ],
)
@pytest.mark.usefixtures("loaded")
async def test_invalid_concept_is_422_naming_the_field(
    client: httpx.AsyncClient, editor: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{BASE}/concepts", json=body, headers=editor)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.usefixtures("loaded")
async def test_duplicate_concept_key_is_409(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    response = await client.post(
        f"{BASE}/concepts", json=concept_body("topic:sport", "Another"), headers=editor
    )
    assert response.status_code == 409


@pytest.mark.usefixtures("loaded")
async def test_duplicate_pref_label_is_409_case_and_space_insensitive(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    response = await client.post(
        f"{BASE}/concepts", json=concept_body("topic:x", "  trail   RUNNING "), headers=editor
    )
    assert response.status_code == 409
    body = response.json()
    assert "topic:trail-running" in body["detail"]
    assert body["errors"][0]["field"] == "pref_label"
    # The same label in another scheme, or only as an alternative label, is fine.
    other = {**concept_body("tone:running", "Trail running"), "scheme": "tone"}
    assert (await client.post(f"{BASE}/concepts", json=other, headers=editor)).status_code == 201
    alt = concept_body("topic:x", "X", alt_labels={"en": ["Trail running"]})
    assert (await client.post(f"{BASE}/concepts", json=alt, headers=editor)).status_code == 201


@pytest.mark.usefixtures("loaded")
async def test_unique_index_race_becomes_a_conflict(session: AsyncSession) -> None:
    # Two writers that both passed the label check: the second hits the database index.
    concept = (
        await session.execute(select(Concept).where(Concept.key == "topic:outdoor"))
    ).scalar_one()
    session.add(
        ConceptLabel(
            concept_id=concept.id,
            scheme_id=concept.scheme_id,
            kind="pref",
            lang="de",
            text="Sport",
            norm=normalise_label("Sport"),
        )
    )
    with pytest.raises(Conflict):
        await flush_or_conflict(session, "test")
    await session.rollback()


@pytest.mark.usefixtures("loaded")
async def test_search_matches_alt_labels_keys_and_any_case(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    async def keys(query: str) -> list[str]:
        response = await client.get(f"{BASE}/concepts", params={"q": query}, headers=viewer)
        return [c["key"] for c in response.json()["items"]]

    assert await keys("JOGG") == ["topic:jogging-old", "topic:running"]
    assert await keys("laufen") == ["topic:running"]
    assert await keys("trail-run") == ["topic:trail-running"]
    assert await keys("off-road  running") == ["topic:trail-running"]
    assert await keys("%") == []


@pytest.mark.usefixtures("loaded")
async def test_list_filters_by_scheme_and_status_and_pages(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    drafts = await client.get(f"{BASE}/concepts?status=draft", headers=viewer)
    assert [c["key"] for c in drafts.json()["items"]] == ["topic:e-sport"]
    page = (await client.get(f"{BASE}/concepts?scheme=tone&limit=2", headers=viewer)).json()
    assert (page["total"], len(page["items"]), page["next_offset"]) == (3, 2, 2)
    assert (await client.get(f"{BASE}/concepts?limit=100000", headers=viewer)).status_code == 422


@pytest.mark.usefixtures("loaded")
async def test_tree_nests_narrower_and_repeats_multi_broader_concepts(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    tree = (await client.get(f"{BASE}/concepts?scheme=topic&tree=true", headers=viewer)).json()
    assert tree["scheme"] == "topic"
    roots = {n["key"]: n for n in tree["items"]}
    assert set(roots) == {"topic:sport", "topic:outdoor", "topic:jogging-old"}
    assert [n["key"] for n in roots["topic:outdoor"]["narrower"]] == ["topic:trail-running"]
    running = next(n for n in roots["topic:sport"]["narrower"] if n["key"] == "topic:running")
    assert [n["key"] for n in running["narrower"]] == ["topic:trail-running"]
    # tone:sporty's broader topic:sport lies in another scheme: here it is a child of
    # tone:playful only.
    tone = (await client.get(f"{BASE}/concepts?scheme=tone&tree=true", headers=viewer)).json()
    playful = next(n for n in tone["items"] if n["key"] == "tone:playful")
    assert [n["key"] for n in playful["narrower"]] == ["tone:sporty"]


async def test_tree_needs_a_scheme(client: httpx.AsyncClient, viewer: dict[str, str]) -> None:
    response = await client.get(f"{BASE}/concepts?tree=true", headers=viewer)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "scheme", "reason": "required when tree=true"}]


@pytest.mark.usefixtures("loaded")
async def test_broader_cycle_is_409_with_the_path(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    response = await client.patch(
        f"{BASE}/concepts/topic:sport", json={"broader": ["topic:trail-running"]}, headers=editor
    )
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "topic:sport -> topic:trail-running -> topic:running -> topic:sport" in detail
    sport = (await client.get(f"{BASE}/concepts/topic:sport", headers=editor)).json()
    assert (sport["broader"], sport["revision"]) == ([], 1)


@pytest.mark.usefixtures("loaded")
async def test_patch_changes_bump_revision_and_are_in_history(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    url = f"{BASE}/concepts/topic:running"
    patch = {"pref_label": {"en": "Road running"}, "alt_labels": None, "definition": "On roads."}
    updated = await client.patch(url, json=patch, headers=editor)
    assert updated.status_code == 200, updated.text
    assert updated.json()["revision"] == 2
    assert updated.json()["alt_labels"] == {}
    # A patch that changes nothing is not a change.
    again = await client.patch(url, json=patch, headers=editor)
    assert again.json()["revision"] == 2
    history = (await client.get(f"{url}/history", headers=editor)).json()
    assert [h["action"] for h in history["items"]] == ["concept.update", "concept.create"]
    change = history["items"][0]
    assert change["before"]["pref_label"] == {"de": "Laufen", "en": "Running"}
    assert change["after"]["pref_label"] == {"en": "Road running"}
    assert change["before"]["alt_labels"] == {"en": ["Jogging", "Run"]}
    assert (change["before"]["revision"], change["after"]["revision"]) == (1, 2)
    assert change["after"]["broader"] == ["topic:sport"]
    assert change["actor"].startswith("key:test-editor (")


@pytest.mark.usefixtures("loaded")
async def test_recasing_its_own_pref_label_is_not_a_clash(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    url = f"{BASE}/concepts/topic:outdoor"
    response = await client.patch(url, json={"pref_label": {"en": "OUTDOOR"}}, headers=editor)
    assert response.status_code == 200
    assert response.json()["pref_label"] == {"en": "OUTDOOR"}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"status": "deprecated"}, "status"),
        ({"pref_label": None}, "pref_label"),
        ({"broader": ["topic:nope"]}, "broader"),
        ({"broader": ["topic:sport", "Not A Key"]}, "broader.1"),
    ],
)
@pytest.mark.usefixtures("loaded")
async def test_invalid_patch_is_422(
    client: httpx.AsyncClient, editor: dict[str, str], patch: dict[str, Any], field: str
) -> None:
    response = await client.patch(f"{BASE}/concepts/topic:running", json=patch, headers=editor)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.usefixtures("loaded")
async def test_unknown_concept_is_404(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    url = f"{BASE}/concepts/topic:nope"
    assert (await client.get(url, headers=editor)).status_code == 404
    assert (await client.patch(url, json={"definition": "x"}, headers=editor)).status_code == 404
    assert (await client.delete(url, headers=editor)).status_code == 404
    assert (await client.get(f"{url}/history", headers=editor)).status_code == 404
    response = await client.post(f"{url}/deprecate", json={}, headers=editor)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_operation_ids_are_clean(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    ids = {
        op["operationId"]
        for path, ops in spec["paths"].items()
        if path.startswith(BASE)
        for op in ops.values()
    }
    assert ids == {
        "list_schemes",
        "create_scheme",
        "get_scheme",
        "update_scheme",
        "delete_scheme",
        "list_concepts",
        "create_concept",
        "get_concept",
        "update_concept",
        "delete_concept",
        "deprecate_concept",
        "get_concept_history",
        "import_taxonomy",
        "export_taxonomy",
    }

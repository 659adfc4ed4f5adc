"""``POST /v1/taxonomy/import`` and ``GET /v1/taxonomy/export``: idempotent, atomic, faithful."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import AuditEntry, Concept, ConceptBroader, ConceptLabel, ConceptScheme
from syncbridge.taxonomy.formats.sources import TaxonomyFormat, parse, read_files, source_files

FIXTURES = Path(__file__).parent / "fixtures" / "taxonomy"
DEFAULT_TAXONOMY = Path(__file__).parents[1] / "taxonomy"
BASE = "/v1/taxonomy"
YAML = {"content-type": "application/yaml"}
TURTLE = {"content-type": "text/turtle"}
TOPIC = (FIXTURES / "topic.yaml").read_text()


async def import_text(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    text: str | bytes,
    media: dict[str, str] = YAML,
    query: str = "",
) -> httpx.Response:
    return await client.post(f"{BASE}/import{query}", content=text, headers={**headers, **media})


async def export(client: httpx.AsyncClient, headers: dict[str, str], fmt: str = "yaml") -> str:
    response = await client.get(f"{BASE}/export?format={fmt}", headers=headers)
    assert response.status_code == 200
    return response.text


async def audit_count(session: AsyncSession) -> int:
    """Audit entries of the taxonomy (the fixtures' API keys are audited too)."""
    stmt = select(func.count(AuditEntry.id)).where(AuditEntry.entity_type != "api_key")
    return int((await session.execute(stmt)).scalar_one())


async def wipe_taxonomy(session: AsyncSession) -> None:
    """Empty the taxonomy tables: the store a fresh database would be."""
    for table in (ConceptBroader, ConceptLabel, Concept, ConceptScheme):
        await session.execute(delete(table))
    await session.commit()


async def test_import_reports_counts_and_a_second_import_changes_nothing(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession
) -> None:
    first = await import_text(client, editor, TOPIC)
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["schemes"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert report["concepts"] == {"created": 6, "updated": 0, "unchanged": 0}
    audited = await audit_count(session)
    assert audited == 7

    second = (await import_text(client, editor, TOPIC)).json()
    assert second["schemes"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert second["concepts"] == {"created": 0, "updated": 0, "unchanged": 6}
    assert await audit_count(session) == audited
    revisions = (await session.execute(select(Concept.revision))).scalars().all()
    assert set(revisions) == {1}


async def test_import_upserts_changed_concepts_by_key(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    await import_text(client, editor, TOPIC)
    changed = TOPIC.replace("pref_label: Outdoor", "pref_label: Outdoors activity").replace(
        "    broader: [topic:running, topic:outdoor]", "    broader: [topic:running]"
    )
    report = (await import_text(client, editor, changed)).json()
    assert report["concepts"] == {"created": 0, "updated": 2, "unchanged": 4}
    assert report["updated"] == ["topic:outdoor", "topic:trail-running"]
    outdoor = (await client.get(f"{BASE}/concepts/topic:outdoor", headers=editor)).json()
    assert (outdoor["pref_label"], outdoor["revision"], outdoor["narrower"]) == (
        {"en": "Outdoors activity"},
        2,
        [],
    )
    history = (await client.get(f"{BASE}/concepts/topic:outdoor/history", headers=editor)).json()
    assert history["items"][0]["before"]["pref_label"] == {"en": "Outdoor"}


async def test_import_can_swap_pref_labels_between_concepts(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    await import_text(client, editor, TOPIC)
    swapped = TOPIC.replace("pref_label: Outdoor\n", "pref_label: TMP\n")
    swapped = swapped.replace("pref_label: Trail running\n", "pref_label: Outdoor\n")
    swapped = swapped.replace("pref_label: TMP\n", "pref_label: Trail running\n")
    response = await import_text(client, editor, swapped)
    assert response.status_code == 200, response.text
    assert response.json()["concepts"]["updated"] == 2


async def test_dry_run_validates_and_writes_nothing(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession
) -> None:
    response = await import_text(client, editor, TOPIC, query="?dry_run=true")
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert response.json()["concepts"]["created"] == 6
    assert (await client.get(f"{BASE}/schemes", headers=editor)).json()["total"] == 0
    assert await audit_count(session) == 0


async def test_turtle_import_and_media_types(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    ttl = (FIXTURES / "third-party.ttl").read_text()
    response = await import_text(client, editor, ttl, TURTLE)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == ["apple", "fruit", "pear"]
    for media in ("text/yaml", "application/x-yaml; charset=utf-8"):
        again = await import_text(client, editor, TOPIC, {"content-type": media})
        assert again.status_code == 200
    refused = await import_text(client, editor, TOPIC, {"content-type": "application/json"})
    assert refused.status_code == 415
    assert refused.headers["content-type"] == "application/problem+json"


async def test_export_formats_and_scheme_filter(
    client: httpx.AsyncClient, editor: dict[str, str], viewer: dict[str, str]
) -> None:
    await import_text(client, editor, TOPIC)
    await import_text(client, editor, (FIXTURES / "tone.yaml").read_text())
    as_yaml = await client.get(f"{BASE}/export", headers=viewer)
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert set(parse(as_yaml.content, TaxonomyFormat.yaml).schemes) == {"topic", "tone"}
    as_turtle = await client.get(f"{BASE}/export?format=turtle&scheme=tone", headers=viewer)
    assert as_turtle.headers["content-type"].startswith("text/turtle")
    only_tone = parse(as_turtle.content, TaxonomyFormat.turtle)
    assert set(only_tone.schemes) == {"tone"}
    assert len(only_tone.concepts) == 3
    assert (await client.get(f"{BASE}/export?scheme=nope", headers=viewer)).status_code == 404
    assert (await client.get(f"{BASE}/export?format=csv", headers=viewer)).status_code == 422


async def roundtrip(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession, yaml_text: str
) -> tuple[str, str]:
    """YAML -> store -> Turtle -> (emptied store) -> YAML; returns both YAML exports."""
    assert (await import_text(client, editor, yaml_text)).status_code == 200
    first_yaml = await export(client, editor)
    turtle = await export(client, editor, "turtle")
    await wipe_taxonomy(session)
    response = await import_text(client, editor, turtle, TURTLE)
    assert response.status_code == 200, response.text
    return first_yaml, await export(client, editor)


async def test_fixture_round_trip_yaml_store_turtle_store_yaml(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession
) -> None:
    source = TOPIC + "---\n" + (FIXTURES / "tone.yaml").read_text()
    first, last = await roundtrip(client, editor, session, source)
    assert first == last
    assert parse(last.encode(), TaxonomyFormat.yaml).same_content(
        parse(source.encode(), TaxonomyFormat.yaml)
    )


async def test_default_taxonomy_round_trip(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession
) -> None:
    files = source_files(DEFAULT_TAXONOMY)
    source = "".join("---\n" + f.read_text(encoding="utf-8") for f in files)
    first, last = await roundtrip(client, editor, session, source)
    assert first == last
    assert parse(last.encode(), TaxonomyFormat.yaml).same_content(read_files(files))


# --- R18 through the API: refused with field + reason, nothing imported ----------------

HEAD = "scheme:\n  key: topic\n  title: Topic\nconcepts:\n"
GOOD = "  - {key: 'topic:new', pref_label: Brand new}\n"

BAD_FILES: dict[str, tuple[bytes, dict[str, str], str, str]] = {
    "cycle": (
        (
            HEAD
            + GOOD
            + "  - {key: 'topic:a', pref_label: A, broader: ['topic:b']}\n"
            + "  - {key: 'topic:b', pref_label: B, broader: ['topic:a']}\n"
        ).encode(),
        YAML,
        "topic:a",
        "cycle: topic:a -> topic:b -> topic:a",
    ),
    "duplicate pref label against the store": (
        (HEAD + GOOD + "  - {key: 'topic:a', pref_label: SPORT}\n").encode(),
        YAML,
        "topic:a",
        "already used in scheme 'topic' by topic:sport",
    ),
    "unknown broader": (
        (HEAD + GOOD + "  - {key: 'topic:a', pref_label: A, broader: ['topic:zz']}\n").encode(),
        YAML,
        "topic:a",
        "broader concept 'topic:zz' does not exist",
    ),
    "unknown field": (
        (HEAD + GOOD + "  - {key: 'topic:a', pref_label: A, colour: red}\n").encode(),
        YAML,
        "topic:a",
        "unknown field 'colour'",
    ),
    "invalid yaml": ((HEAD + GOOD + "  - key: [\n").encode(), YAML, "line 7", "invalid YAML"),
    "invalid turtle": (b"@prefix skos: <x#> .\n<a> skos:b\n", TURTLE, "line 2", "invalid Turtle"),
    "latin-1": (
        (HEAD + "  - {key: 'topic:a', pref_label: Caf\xe9}\n").encode("latin-1"),
        YAML,
        "line 5",
        "not UTF-8",
    ),
    "utf-16": ((HEAD + GOOD).encode("utf-16"), YAML, "file", "UTF-16"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
async def test_bad_file_is_refused_and_nothing_is_imported(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession, case: str
) -> None:
    await import_text(client, editor, TOPIC)
    before_export, before_audit = await export(client, editor), await audit_count(session)
    raw, media, field, reason = BAD_FILES[case]
    response = await import_text(client, editor, raw, media)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["title"] == "Invalid input"
    assert any(e["field"] == field and reason in e["reason"] for e in body["errors"]), body
    assert await export(client, editor) == before_export
    assert await audit_count(session) == before_audit
    assert (await client.get(f"{BASE}/concepts/topic:new", headers=editor)).status_code == 404


async def test_yaml_errors_carry_their_line(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    text = HEAD + GOOD + "  - key: topic:a\n    pref_label: A\n    broader: [topic:zz]\n"
    (error,) = (await import_text(client, editor, text)).json()["errors"]
    assert (error["field"], error["line"]) == ("topic:a", 6)

"""Concurrent writers: dozens of parallel requests against one resource, on the real app.

Every request goes through the ``client`` fixture (the real app over ``httpx.ASGITransport``)
and gets its own database session, so the requests interleave at every ``await`` the way
independent API clients do. Each test then compares the final state and the audit log with
the sum of the changes the API accepted. The contract is DESIGN.md, section "Store":
revisions exposed as ``ETag``, ``If-Match`` guarding writes, locks for invariants that span
rows (broader cycles, unique labels, version numbers) and bounded retries of deadlocks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.plugins_connections import echo_installed, echo_settings

Headers = dict[str, str]
Json = dict[str, Any]
Params = dict[str, str | int]

TAXONOMY = "/v1/taxonomy"
#: How many requests each case sends at once.
PARALLEL = 30
#: Fresh concept pairs raced in the broader-cycle test.
PAIRS = 12
#: A race over ``If-Match`` must be won by exactly one request of these.
RACERS = 24


# --- sending requests in parallel -------------------------------------------------------


async def _settled(request: Awaitable[httpx.Response]) -> httpx.Response:
    """The response; an exception the app lets escape counts as a 500 that names it.

    So one crash is reported with the others instead of abandoning the requests in flight.
    """
    try:
        return await request
    except Exception as exc:
        return httpx.Response(500, text=f"{type(exc).__name__}: {exc}")


async def in_parallel(requests: Iterable[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """Send every request at once and wait for all of them."""
    return list(await asyncio.gather(*(_settled(r) for r in requests)))


def tally(responses: list[httpx.Response]) -> dict[int, int]:
    """How many responses had each status code."""
    return dict(sorted(Counter(r.status_code for r in responses).items()))


def assert_no_server_errors(responses: list[httpx.Response]) -> None:
    failed = [r for r in responses if r.status_code >= 500]
    assert not failed, (
        f"{len(failed)} of {len(responses)} parallel requests answered 5xx "
        f"(statuses {tally(responses)}); first: {failed[0].text[:300]}"
    )


# --- arranging data over HTTP -----------------------------------------------------------


def expect(response: httpx.Response, status: int) -> None:
    """Assert the status, naming the request and showing the body when it differs."""
    request = response.request
    assert response.status_code == status, (
        f"{request.method} {request.url.path} answered {response.status_code}, not {status}: "
        f"{response.text[:300]}"
    )


def created(response: httpx.Response) -> Json:
    expect(response, 201)
    body: Json = response.json()
    return body


async def create_scheme(client: httpx.AsyncClient, headers: Headers, key: str) -> Json:
    body = {"key": key, "title": key.title()}
    return created(await client.post(f"{TAXONOMY}/schemes", json=body, headers=headers))


async def create_concept(
    client: httpx.AsyncClient, headers: Headers, scheme: str, key: str, label: str
) -> Json:
    body = {"scheme": scheme, "key": key, "pref_label": {"en": label}}
    return created(await client.post(f"{TAXONOMY}/concepts", json=body, headers=headers))


async def create_rule(client: httpx.AsyncClient, headers: Headers, concept: str) -> Json:
    body = {
        "connector_key": "hubspot",
        "stream": "deals",
        "field_path": "properties.utm_source",
        "operator": "in",
        "values": ["lnkd"],
        "concept": concept,
        "priority": 50,
    }
    return created(await client.post("/v1/mappings", json=body, headers=headers))


async def read(
    client: httpx.AsyncClient, headers: Headers, url: str, params: Params | None = None
) -> Json:
    response = await client.get(url, params=params, headers=headers)
    expect(response, 200)
    body: Json = response.json()
    return body


async def audit_entries(
    client: httpx.AsyncClient, headers: Headers, entity_type: str, entity_id: str
) -> list[Json]:
    """Every audit entry of one entity, newest first."""
    query: Params = {"entity_type": entity_type, "entity_id": entity_id, "limit": 200}
    page = await read(client, headers, "/v1/audit", query)
    assert page["next_offset"] is None, "more audit entries than one page holds"
    items: list[Json] = page["items"]
    return items


#: The audit action prefix of each taxonomy entity type.
_ACTION_PREFIX = {"concept": "concept", "concept_scheme": "scheme"}


async def entity_id_of(
    client: httpx.AsyncClient, headers: Headers, entity_type: str, key: str
) -> str:
    """The audit ``entity_id`` of a scheme or concept, found from its create entry by key."""
    action = f"{_ACTION_PREFIX[entity_type]}.create"
    query: Params = {"entity_type": entity_type, "action": action, "limit": 200}
    page = await read(client, headers, "/v1/audit", query)
    ids: list[str] = [e["entity_id"] for e in page["items"] if e["after"]["key"] == key]
    assert len(ids) == 1, f"expected one create entry for {entity_type} {key!r}, got {ids}"
    return ids[0]


def actions(entries: list[Json], action: str) -> list[Json]:
    return [e for e in entries if e["action"] == action]


def etag(response: httpx.Response) -> str:
    """The response's ``ETag``, which must be its revision as a strong ETag."""
    request = response.request
    value: str | None = response.headers.get("etag")
    assert value is not None, f"{request.method} {request.url.path} answered with no ETag"
    revision = response.json().get("revision")
    assert value == f'"{revision}"', f"ETag {value!r} does not match revision {revision!r}"
    return value


# --- fault 1: lost updates of one concept ----------------------------------------------


async def test_parallel_concept_patches_lose_no_update(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create_scheme(client, editor, "topic")
    await create_concept(client, editor, "topic", "topic:sport", "Sport")
    url = f"{TAXONOMY}/concepts/topic:sport"
    initial = (await read(client, viewer, url))["revision"]

    responses = await in_parallel(
        client.patch(url, json={"definition": f"Definition {i}"}, headers=editor)
        for i in range(PARALLEL)
    )

    assert_no_server_errors(responses)
    assert tally(responses) == {200: PARALLEL}
    changes = PARALLEL  # every definition is different, so every accepted PATCH changed it
    final = await read(client, viewer, url)
    assert final["revision"] == initial + changes, (
        f"{changes} PATCHes answered 200 but the revision went {initial} -> "
        f"{final['revision']}: {initial + changes - final['revision']} updates lost"
    )
    concept_id = await entity_id_of(client, viewer, "concept", "topic:sport")
    updates = actions(await audit_entries(client, viewer, "concept", concept_id), "concept.update")
    assert len(updates) == changes
    revisions = sorted(e["after"]["revision"] for e in updates)
    assert revisions == list(range(initial + 1, initial + changes + 1))
    assert all(e["before"]["revision"] == e["after"]["revision"] - 1 for e in updates)
    latest = max(updates, key=lambda e: int(e["after"]["revision"]))
    assert final["definition"] == latest["after"]["definition"]


# --- fault 2: duplicate version numbers of one mapping rule -----------------------------


async def test_parallel_rule_patches_get_contiguous_versions(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create_scheme(client, editor, "channel")
    await create_concept(client, editor, "channel", "channel:linkedin", "LinkedIn Ads")
    rule = await create_rule(client, editor, "channel:linkedin")
    url = f"/v1/mappings/{rule['id']}"

    responses = await in_parallel(
        client.patch(url, json={"values": [f"source-{i}"], "priority": i}, headers=editor)
        for i in range(PARALLEL)
    )

    assert_no_server_errors(responses)
    assert tally(responses) == {200: PARALLEL}
    final = await read(client, viewer, url)
    assert final["version"] == 1 + PARALLEL
    versions = await read(client, viewer, f"{url}/versions?limit=200")
    numbers = [v["version"] for v in versions["items"]]
    assert numbers == list(range(1, final["version"] + 1))
    updates = actions(
        await audit_entries(client, viewer, "mapping_rule", rule["id"]), "mapping_rule.update"
    )
    assert len(updates) == final["version"] - 1
    assert sorted(e["after"]["version"] for e in updates) == numbers[1:]
    newest = next(v for v in versions["items"] if v["version"] == final["version"])
    assert (final["values"], final["priority"]) == (newest["values"], newest["priority"])


# --- fault 3: a broader cycle from two editors at once ----------------------------------


def keys_in(nodes: list[Json]) -> set[str]:
    """Every concept key of a tree."""
    found: set[str] = set()
    for node in nodes:
        found |= {node["key"]} | keys_in(node["narrower"])
    return found


async def test_two_editors_cannot_make_a_broader_cycle(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create_scheme(client, editor, "topic")
    pairs = [(f"topic:a{i}", f"topic:b{i}") for i in range(PAIRS)]
    for i, (a, b) in enumerate(pairs):
        await create_concept(client, editor, "topic", a, f"Alpha {i}")
        await create_concept(client, editor, "topic", b, f"Beta {i}")

    responses = await in_parallel(
        client.patch(f"{TAXONOMY}/concepts/{child}", json={"broader": [parent]}, headers=editor)
        for a, b in pairs
        for child, parent in ((a, b), (b, a))
    )

    assert_no_server_errors(responses)
    both_accepted: list[tuple[str, str]] = []
    cycles: list[tuple[str, str]] = []
    answers = zip(responses[::2], responses[1::2], strict=True)
    for (a, b), (first, second) in zip(pairs, answers, strict=True):
        outcome = sorted((first.status_code, second.status_code))
        assert outcome in ([200, 409], [409, 409], [200, 200]), f"{a} <-> {b}: {outcome}"
        if outcome == [200, 200]:
            both_accepted.append((a, b))
        got_a = await read(client, viewer, f"{TAXONOMY}/concepts/{a}")
        got_b = await read(client, viewer, f"{TAXONOMY}/concepts/{b}")
        if b in got_a["broader"] and a in got_b["broader"]:
            cycles.append((a, b))
    assert (len(both_accepted), len(cycles)) == (0, 0), (
        f"{len(both_accepted)} of {PAIRS} pairs had both PATCHes accepted and "
        f"{len(cycles)} stored a broader cycle: {cycles}"
    )
    await create_concept(client, editor, "topic", "topic:later", "Later")
    tree = await read(client, viewer, f"{TAXONOMY}/concepts?scheme=topic&tree=true")
    missing = {k for pair in pairs for k in pair} - keys_in(tree["items"])
    assert not missing, f"the tree lost {sorted(missing)}"


# --- fault 5: one winner among parallel creates -----------------------------------------


async def test_parallel_creates_with_one_preferred_label_make_one_concept(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create_scheme(client, editor, "topic")

    responses = await in_parallel(
        client.post(
            f"{TAXONOMY}/concepts",
            json={"scheme": "topic", "key": f"topic:dup-{i}", "pref_label": {"en": "Same"}},
            headers=editor,
        )
        for i in range(PARALLEL)
    )

    assert_no_server_errors(responses)
    assert tally(responses) == {201: 1, 409: PARALLEL - 1}
    stored = await read(client, viewer, f"{TAXONOMY}/concepts?scheme=topic")
    winner = next(r for r in responses if r.status_code == 201).json()["key"]
    assert [c["key"] for c in stored["items"]] == [winner]


async def test_parallel_creates_of_one_scheme_key_make_one_scheme(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    responses = await in_parallel(
        client.post(
            f"{TAXONOMY}/schemes", json={"key": "mood", "title": f"Mood {i}"}, headers=editor
        )
        for i in range(PARALLEL)
    )

    assert_no_server_errors(responses)
    assert tally(responses) == {201: 1, 409: PARALLEL - 1}
    schemes = await read(client, viewer, f"{TAXONOMY}/schemes")
    winner = next(r for r in responses if r.status_code == 201).json()["title"]
    assert [(s["key"], s["title"]) for s in schemes["items"]] == [("mood", winner)]
    scheme_id = await entity_id_of(client, viewer, "concept_scheme", "mood")
    entries = await audit_entries(client, viewer, "concept_scheme", scheme_id)
    assert [e["action"] for e in entries] == ["scheme.create"]


# --- fault 4: revisions as ETags, and If-Match ------------------------------------------


@dataclass(frozen=True)
class Editable:
    """One editable resource: where it lives, who may write it, and the i-th distinct edit."""

    url: str
    writer: Headers
    edit: Callable[[int], Json]


KINDS = ["scheme", "concept", "mapping_rule", "connection"]


@pytest.fixture
async def echo(app: FastAPI) -> AsyncIterator[None]:
    """The test connector "echo", so that connections can be created."""
    async with echo_installed(app):
        yield


async def make_editable(
    kind: str, client: httpx.AsyncClient, editor: Headers, admin: Headers
) -> tuple[Editable, httpx.Response]:
    """Create a resource of ``kind`` (and what it needs); return it and the create response."""
    if kind == "connection":
        body = {"connector": "echo", "name": "dam", "settings": echo_settings()}
        response = await client.post("/v1/connections", json=body, headers=admin)
        url = f"/v1/connections/{response.json()['id']}"
        return Editable(url, admin, lambda i: {"name": f"dam-{i}"}), response
    if kind == "scheme":
        body = {"key": "mood", "title": "Mood"}
        response = await client.post(f"{TAXONOMY}/schemes", json=body, headers=editor)
        return Editable(f"{TAXONOMY}/schemes/mood", editor, lambda i: {"title": f"T{i}"}), response
    await create_scheme(client, editor, "channel")
    body = {"scheme": "channel", "key": "channel:email", "pref_label": {"en": "Email"}}
    response = await client.post(f"{TAXONOMY}/concepts", json=body, headers=editor)
    if kind == "concept":
        url = f"{TAXONOMY}/concepts/channel:email"
        return Editable(url, editor, lambda i: {"definition": f"D{i}"}), response
    created(response)
    rule_response = await client.post(
        "/v1/mappings",
        json={
            "connector_key": "hubspot",
            "field_path": "properties.utm_source",
            "operator": "equals",
            "values": ["email"],
            "concept": "channel:email",
        },
        headers=editor,
    )
    url = f"/v1/mappings/{rule_response.json()['id']}"
    return Editable(url, editor, lambda i: {"values": [f"mail-{i}"]}), rule_response


@pytest.mark.usefixtures("echo")
@pytest.mark.parametrize("kind", KINDS)
async def test_create_read_and_patch_answer_the_revision_as_etag(
    kind: str, client: httpx.AsyncClient, editor: Headers, admin: Headers, viewer: Headers
) -> None:
    target, response = await make_editable(kind, client, editor, admin)
    expect(response, 201)
    assert etag(response) == '"1"'
    assert etag(await client.get(target.url, headers=viewer)) == '"1"'
    patched = await client.patch(target.url, json=target.edit(1), headers=target.writer)
    expect(patched, 200)
    assert etag(patched) == '"2"'
    assert etag(await client.get(target.url, headers=viewer)) == '"2"'


@pytest.mark.usefixtures("echo")
@pytest.mark.parametrize("kind", KINDS)
async def test_stale_if_match_is_412_and_changes_nothing(
    kind: str, client: httpx.AsyncClient, editor: Headers, admin: Headers, viewer: Headers
) -> None:
    target, _ = await make_editable(kind, client, editor, admin)
    before = await client.get(target.url, headers=viewer)
    stale = {**target.writer, "If-Match": '"7"'}

    patched = await client.patch(target.url, json=target.edit(1), headers=stale)
    deleted = await client.delete(target.url, headers=stale)

    for response in (patched, deleted):
        expect(response, 412)
        assert response.headers["content-type"] == "application/problem+json"
    after = await client.get(target.url, headers=viewer)
    expect(after, 200)
    assert after.json() == before.json()
    assert after.headers.get("etag") == before.headers.get("etag")


@pytest.mark.usefixtures("echo")
@pytest.mark.parametrize("kind", KINDS)
async def test_current_or_star_if_match_is_accepted(
    kind: str, client: httpx.AsyncClient, editor: Headers, admin: Headers
) -> None:
    target, response = await make_editable(kind, client, editor, admin)
    current = {**target.writer, "If-Match": etag(response)}
    first = await client.patch(target.url, json=target.edit(1), headers=current)
    expect(first, 200)
    assert etag(first) == '"2"'
    star = {**target.writer, "If-Match": "*"}
    second = await client.patch(target.url, json=target.edit(2), headers=star)
    expect(second, 200)
    assert etag(second) == '"3"'
    deleted = await client.delete(target.url, headers={**target.writer, "If-Match": '"3"'})
    expect(deleted, 204)


async def test_deprecate_honours_if_match(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create_scheme(client, editor, "topic")
    await create_concept(client, editor, "topic", "topic:old", "Old")
    url = f"{TAXONOMY}/concepts/topic:old"
    body = {"replacement": None}
    stale = await client.post(f"{url}/deprecate", json=body, headers={**editor, "If-Match": '"2"'})
    expect(stale, 412)
    assert (await read(client, viewer, url))["status"] == "approved"
    current = await client.post(
        f"{url}/deprecate", json=body, headers={**editor, "If-Match": '"1"'}
    )
    expect(current, 200)
    assert (await read(client, viewer, url))["status"] == "deprecated"


async def test_a_scheme_patched_twice_is_at_revision_three(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create_scheme(client, editor, "mood")
    url = f"{TAXONOMY}/schemes/mood"
    for title in ("Mood board", "Moods"):
        response = await client.patch(url, json={"title": title}, headers=editor)
        expect(response, 200)
    got = await client.get(url, headers=viewer)
    assert got.json().get("revision") == 3
    assert etag(got) == '"3"'


async def test_archiving_a_rule_counts_as_a_revision(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create_scheme(client, editor, "channel")
    await create_concept(client, editor, "channel", "channel:linkedin", "LinkedIn Ads")
    rule = await create_rule(client, editor, "channel:linkedin")
    url = f"/v1/mappings/{rule['id']}"
    archived = await client.delete(url, headers={**editor, "If-Match": '"1"'})
    expect(archived, 204)
    got = await client.get(url, headers=viewer)
    assert got.json()["archived_at"] is not None
    assert etag(got) == '"2"'


@pytest.mark.parametrize("kind", ["scheme", "concept", "mapping_rule"])
async def test_parallel_writes_with_one_if_match_have_one_winner(
    kind: str, client: httpx.AsyncClient, editor: Headers, admin: Headers, viewer: Headers
) -> None:
    target, _ = await make_editable(kind, client, editor, admin)
    seen = etag(await client.get(target.url, headers=viewer))
    guarded = {**target.writer, "If-Match": seen}

    responses = await in_parallel(
        client.patch(target.url, json=target.edit(i), headers=guarded) for i in range(RACERS)
    )

    assert_no_server_errors(responses)
    assert tally(responses) == {200: 1, 412: RACERS - 1}
    winner = next(r for r in responses if r.status_code == 200)
    final = await client.get(target.url, headers=viewer)
    assert etag(final) == '"2"'
    assert final.json() == winner.json()

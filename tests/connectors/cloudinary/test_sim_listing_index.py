"""The Cloudinary simulator's indexed listings answer exactly what filtering and sorting every
resource answers, whatever edits came before (issue 7, item 7: a page costs about the page).

The reference is the naive listing: every resource of the store filtered by the query, sorted
by creation (or by public id under ``prefix``), cut into pages. Random edits (tags and
context changed, ``/tags`` commands, resources added with tied creation times, resources
deleted) run first; then every page of every kind of listing must equal the reference's page,
and a read resumed from a cursor after more edits must list exactly the reference's
resources past that cursor's position.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from syncbridge_cloudinary.simulator_listing import ResourceQuery, resources_page, tags_page
from syncbridge_cloudinary.simulator_store import (
    RESOURCE_TYPES,
    ResourceStore,
    SimResource,
    resource_from_asset,
)

from syncbridge.sandbox.world import World

TAGS = ("sale", "hero", "email", "perf:top-10", "perf:middle", "s")
CONTEXT_KEYS = ("campaign", "alt", "perf_tier")
CONTEXT_VALUES = ("a", "b", "c")
TIED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
COMMANDS = ("add", "remove", "replace", "remove_all", "set_exclusive")


def _seed_resources() -> list[SimResource]:
    """24 resources with a small tag vocabulary; every third shares one creation second."""
    made = []
    for i, asset in enumerate(World(seed=11, assets_count=24).assets()):
        resource = resource_from_asset(asset)
        tags = [TAGS[(i * k) % len(TAGS)] for k in (1, 2) if (i + k) % 3]
        created = TIED if i % 3 == 0 else resource.created_at
        made.append(
            dataclasses.replace(resource, tags=list(dict.fromkeys(tags)), created_at=created)
        )
    return made


index_pick = st.integers(min_value=0, max_value=10**6)
tag_lists = st.lists(st.sampled_from(TAGS), max_size=4)
edits = st.one_of(
    st.tuples(st.just("tags"), index_pick, tag_lists),
    st.tuples(
        st.just("context"),
        index_pick,
        st.dictionaries(st.sampled_from(CONTEXT_KEYS), st.sampled_from(CONTEXT_VALUES)),
    ),
    st.tuples(
        st.just("command"),
        st.sampled_from(COMMANDS),
        st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
        st.lists(index_pick, min_size=1, max_size=4),
    ),
    st.tuples(st.just("add"), index_pick, st.integers(min_value=0, max_value=10**9), tag_lists),
    st.tuples(st.just("delete"), index_pick),
)


def _apply(store: ResourceStore, edit: tuple[Any, ...]) -> None:
    ids = sorted(store.by_asset_id)
    if not ids:
        return
    pick = store.by_asset_id[ids[edit[1] % len(ids)]] if edit[0] != "command" else None
    if edit[0] == "tags" and pick is not None:
        store.set_tags(pick, edit[2])
    elif edit[0] == "context" and pick is not None:
        store.set_context(pick, edit[2])
    elif edit[0] == "command":
        _, command, tags, picks = edit
        chosen = list({ids[p % len(ids)]: None for p in picks})
        targets = [store.by_asset_id[i] for i in chosen]
        for resource_type in RESOURCE_TYPES:
            typed = [t for t in targets if t.resource_type == resource_type]
            store.apply_tags(
                command, tags[:1] if command == "set_exclusive" else tags, typed, resource_type
            )
    elif edit[0] == "add" and pick is not None:
        # A new upload: a copy of a resource, created at the same or a later moment.
        _, _, n, tags = edit
        if f"{n:032x}" in store.by_asset_id:
            return
        later = pick.created_at + timedelta(seconds=n % 3)
        store.add(
            dataclasses.replace(
                pick,
                asset_id=f"{n:032x}",
                public_id=f"{pick.public_id}-{n}",
                created_at=later,
                tags=list(dict.fromkeys(tags)),
                context=dict(pick.context),
            )
        )
    elif edit[0] == "delete" and pick is not None:
        store.delete(pick.asset_id)


def _matches(resource: SimResource, query: ResourceQuery) -> bool:
    if query.resource_type is not None and resource.resource_type != query.resource_type:
        return False
    if query.kind == "tag":
        return query.tag in resource.tags
    if query.kind == "context":
        held = resource.context.get(query.key)
        return held is not None and query.value in (None, held)
    if query.kind == "folder":
        return resource.asset_folder == query.folder
    if query.type is not None and resource.type != query.type:
        return False
    if query.prefix is not None and not resource.public_id.startswith(query.prefix):
        return False
    return query.start_at is None or resource.created_at >= query.start_at


def _naive(store: ResourceStore, query: ResourceQuery) -> list[SimResource]:
    """The reference listing: filter every resource, then sort."""
    found = [r for r in store.by_asset_id.values() if _matches(r, query)]
    if query.kind == "all" and query.prefix is not None:
        return sorted(found, key=lambda r: (r.public_id, r.asset_id))
    return sorted(found, key=lambda r: (r.created_at, r.asset_id), reverse=query.descending)


@st.composite
def queries(draw: st.DrawFn, store: ResourceStore) -> ResourceQuery:
    held = sorted(store.by_asset_id.values(), key=lambda r: r.asset_id) or _seed_resources()
    some = draw(st.sampled_from(held))
    rt = draw(st.sampled_from(RESOURCE_TYPES))
    descending = draw(st.booleans())
    kind = draw(st.sampled_from(["all", "prefix", "start_at", "tag", "context", "folder"]))
    if kind == "prefix":
        prefix = some.public_id[: draw(st.integers(min_value=1, max_value=12))]
        return ResourceQuery("all", rt, type="upload", prefix=prefix)
    if kind == "start_at":
        return ResourceQuery("all", rt, start_at=some.created_at, descending=descending)
    if kind == "tag":
        return ResourceQuery("tag", rt, tag=draw(st.sampled_from(TAGS)), descending=descending)
    if kind == "context":
        value = draw(st.sampled_from((None, *CONTEXT_VALUES)))
        key = draw(st.sampled_from(CONTEXT_KEYS))
        return ResourceQuery("context", rt, key=key, value=value, descending=descending)
    if kind == "folder":
        scope = draw(st.sampled_from((None, rt)))
        return ResourceQuery("folder", scope, folder=some.asset_folder, descending=descending)
    type_ = draw(st.sampled_from((None, "upload", "private")))
    return ResourceQuery("all", rt, type=type_, descending=descending)


def _pages(
    store: ResourceStore, query: ResourceQuery, size: int, cursor: str | None = None
) -> list[list[str]]:
    pages = []
    # A cursor that fails to advance must fail the test, not hang it.
    for _ in range(store.count() + 2):
        found, cursor = resources_page(store, query, max_results=size, cursor=cursor)
        pages.append([r.asset_id for r in found])
        if cursor is None:
            return pages
    raise AssertionError("the listing never ended")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(edits, max_size=25),
    size=st.integers(min_value=1, max_value=7),
    data=st.data(),
)
def test_every_indexed_page_is_the_page_of_the_naive_listing(
    before: list[tuple[Any, ...]], size: int, data: st.DataObject
) -> None:
    store = ResourceStore("sim", _seed_resources())
    for edit in before:
        _apply(store, edit)
    for _ in range(4):
        query = data.draw(queries(store))
        expected = [r.asset_id for r in _naive(store, query)]
        pages = _pages(store, query, size)
        chunks = [expected[i : i + size] for i in range(0, len(expected), size)] or [[]]
        assert pages == chunks


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(edits, max_size=10),
    during=st.lists(edits, min_size=1, max_size=10),
    size=st.integers(min_value=1, max_value=5),
    data=st.data(),
)
def test_a_resumed_read_lists_what_follows_its_cursor_after_edits(
    before: list[tuple[Any, ...]],
    during: list[tuple[Any, ...]],
    size: int,
    data: st.DataObject,
) -> None:
    store = ResourceStore("sim", _seed_resources())
    for edit in before:
        _apply(store, edit)
    query = data.draw(queries(store))
    first, cursor = resources_page(store, query, max_results=size, cursor=None)
    if cursor is None:
        return
    last = first[-1]
    last_key = last.name_key if query.prefix is not None else last.order_key
    for edit in during:
        _apply(store, edit)

    def after_cursor(resource: SimResource) -> bool:
        if query.prefix is not None:
            return resource.name_key > last_key
        key = resource.order_key
        return key < last_key if query.descending else key > last_key

    expected = [r.asset_id for r in _naive(store, query) if after_cursor(r)]
    assert [i for page in _pages(store, query, size, cursor) for i in page] == expected


@settings(max_examples=100, deadline=None)
@given(
    before=st.lists(edits, max_size=25),
    size=st.integers(min_value=1, max_value=4),
    prefix=st.sampled_from((None, "s", "perf:", "perf:t", "x")),
    resource_type=st.sampled_from(RESOURCE_TYPES),
)
def test_the_tag_names_listing_is_every_tag_in_use_in_order(
    before: list[tuple[Any, ...]], size: int, prefix: str | None, resource_type: str
) -> None:
    store = ResourceStore("sim", _seed_resources())
    for edit in before:
        _apply(store, edit)
    in_use = {
        t for r in store.by_asset_id.values() if r.resource_type == resource_type for t in r.tags
    }
    expected = sorted(t for t in in_use if prefix is None or t.startswith(prefix))
    listed: list[str] = []
    cursor = None
    for _ in range(len(in_use) + 2):
        names, cursor = tags_page(
            store, resource_type, prefix=prefix, max_results=size, cursor=cursor
        )
        assert len(names) <= size
        listed += names
        if cursor is None:
            break
    assert cursor is None, "the listing never ended"
    assert listed == expected

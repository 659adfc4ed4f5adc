"""``link_run`` and ``relink`` on a hand-built store: what a run changed is linked, evidence
that goes away takes its link with it, tombstones lose their links, and a second pass
writes nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.connections.service import delete_connection
from syncbridge.jobs import HandlerRegistry
from syncbridge.linking import matching
from syncbridge.linking.jobs import register
from syncbridge.linking.run import RECORD_BATCH, link_run, relink
from syncbridge.linking.schemas import LinkRuleCreate, LinkRulePatch
from syncbridge.linking.service import RELINK_JOB, archive_rule, create_rule, update_rule
from syncbridge.models import Asset, Connection, Job, Link, StoredRecord, utcnow
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.sync_support import context

pytest_plugins = ["tests.store_fixtures"]

Sessionmaker = async_sessionmaker[AsyncSession]
ASSET_A = "5b75b141-bc64-4572-b742-22005f9846d4"
ASSET_B = "0ce04493-ba6f-43bc-a56f-2d6ee8f6ea33"

RULES = {
    "dimension": LinkRuleCreate(
        name="asset id dimension",
        connector_key="ga4",
        field_path="customEvent:asset_id",
        asset_key="id",
    ),
    "page": LinkRuleCreate(
        name="file name in page path",
        connector_key="ga4",
        field_path="pagePath",
        match="path_segment",
        asset_key="file_name",
    ),
    "campaign": LinkRuleCreate(
        name="campaign asset ids",
        connector_key="hubspot",
        stream="campaigns",
        field_path="asset_ids",
        match="contains",
        asset_key="id",
    ),
    "deal": LinkRuleCreate(
        name="deal takes its campaign's assets",
        connector_key="hubspot",
        stream="deals",
        field_path="campaign",
        asset_key="record",
        via_stream="campaigns",
    ),
}


@dataclass
class World:
    """A tiny store: one DAM, GA4 and HubSpot connections, and the rules above."""

    sessionmaker: Sessionmaker
    connections: dict[str, uuid.UUID] = field(default_factory=dict)
    rules: dict[str, uuid.UUID] = field(default_factory=dict)
    items: dict[str, uuid.UUID] = field(default_factory=dict)

    async def put(
        self,
        name: str,
        connector: str,
        stream: str,
        data: dict[str, Any],
        run_id: uuid.UUID,
        *,
        deleted: bool = False,
    ) -> None:
        """Insert or change an item as a sync run would (content, last run, tombstone)."""
        model: type[Asset] | type[StoredRecord] = Asset if connector == "bynder" else StoredRecord

        async def work(session: AsyncSession) -> None:
            row: Asset | StoredRecord | None = (
                await session.get(model, self.items[name]) if name in self.items else None
            )
            if row is None:
                row = model(
                    connection_id=self.connections[connector],
                    stream=stream,
                    external_id=name,
                    content_hash="-",
                )
                session.add(row)
            row.data = data
            row.last_run_id = run_id
            row.deleted_at = utcnow() if deleted else None
            await session.flush()
            self.items[name] = row.id

        await in_unit_of_work(self.sessionmaker, work)

    async def links(self) -> set[tuple[str, str, str, str]]:
        """(asset, record, rule, value) of every link, by the names used here."""
        names = {v: k for k, v in {**self.items, **self.rules}.items()}

        async def work(session: AsyncSession) -> list[Link]:
            return list(await session.scalars(select(Link)))

        rows = await in_unit_of_work(self.sessionmaker, work, write=False)
        return {
            (names[r.asset_id], names[r.record_id], names[r.rule_id or uuid.UUID(int=0)], r.value)
            for r in rows
        }


@pytest.fixture
async def world(sessionmaker: Sessionmaker) -> World:
    w = World(sessionmaker)

    async def work(session: AsyncSession) -> None:
        for key in ("bynder", "ga4", "hubspot"):
            connection = Connection(connector_key=key, name=f"test-{key}", settings={})
            session.add(connection)
            await session.flush()
            w.connections[key] = connection.id
        for name, body in RULES.items():
            w.rules[name] = (await create_rule(session, body, "test")).id

    await in_unit_of_work(sessionmaker, work)
    return w


def bynder(asset_id: str, name: str) -> dict[str, Any]:
    return {"id": asset_id, "name": name, "extension": ["jpg"]}


async def test_a_run_links_what_it_changed_with_evidence(world: World) -> None:
    run = uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), run)
    await world.put("row-1", "ga4", "rows", {"customEvent:asset_id": ASSET_A.upper()}, run)
    await world.put("row-2", "ga4", "rows", {"pagePath": "/lp/spring/hero.jpg?x=1"}, run)

    report = await link_run(world.sessionmaker, run)

    assert await world.links() == {
        (ASSET_A, "row-1", "dimension", ASSET_A.upper()),
        (ASSET_A, "row-2", "page", "/lp/spring/hero.jpg?x=1"),
    }
    assert report.diff.added == 2
    again = await link_run(world.sessionmaker, run)
    assert (again.diff.added, again.diff.removed, again.diff.updated) == (0, 0, 0)


async def test_evidence_is_kept_exactly_whatever_characters_it_holds(world: World) -> None:
    # PostgreSQL receives a batch's evidence as array literals: quotes, backslashes, commas,
    # braces and the word NULL must come back as they were.
    run = uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), run)
    odd = '/lp/a"b\\c,{d} NULL/é ü/hero.jpg?q="x,y"&r=\\'
    await world.put("row", "ga4", "rows", {"pagePath": odd}, run)
    await world.put("null", "ga4", "rows", {"pagePath": "NULL/hero.jpg"}, run)

    await link_run(world.sessionmaker, run)

    assert await world.links() == {
        (ASSET_A, "row", "page", odd),
        (ASSET_A, "null", "page", "NULL/hero.jpg"),
    }


async def test_a_record_that_loses_the_evidence_loses_the_link(world: World) -> None:
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), first)
    await world.put(ASSET_B, "bynder", "media", bynder(ASSET_B, "banner"), first)
    await world.put("row", "ga4", "rows", {"customEvent:asset_id": ASSET_A}, first)
    await link_run(world.sessionmaker, first)

    await world.put("row", "ga4", "rows", {"customEvent:asset_id": ASSET_B}, second)
    await link_run(world.sessionmaker, second)
    assert await world.links() == {(ASSET_B, "row", "dimension", ASSET_B)}

    await world.put("row", "ga4", "rows", {"customEvent:asset_id": "(not set)"}, third)
    report = await link_run(world.sessionmaker, third)
    assert await world.links() == set()
    assert report.diff.removed == 1


async def test_tombstoned_assets_and_records_lose_their_links(world: World) -> None:
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), first)
    await world.put(ASSET_B, "bynder", "media", bynder(ASSET_B, "banner"), first)
    await world.put("row-a", "ga4", "rows", {"customEvent:asset_id": ASSET_A}, first)
    await world.put("row-b", "ga4", "rows", {"customEvent:asset_id": ASSET_B}, first)
    await link_run(world.sessionmaker, first)

    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), second, deleted=True)
    await link_run(world.sessionmaker, second)
    assert await world.links() == {(ASSET_B, "row-b", "dimension", ASSET_B)}

    await world.put("row-b", "ga4", "rows", {"customEvent:asset_id": ASSET_B}, third, deleted=True)
    await link_run(world.sessionmaker, third)
    assert await world.links() == set()


async def test_a_new_asset_is_linked_to_records_that_did_not_change(world: World) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await world.put("row", "ga4", "rows", {"pagePath": "/lp/x/Banner.JPG"}, first)
    await link_run(world.sessionmaker, first)
    assert await world.links() == set()

    await world.put(ASSET_B, "bynder", "media", bynder(ASSET_B, "banner"), second)
    await link_run(world.sessionmaker, second)

    assert await world.links() == {(ASSET_B, "row", "page", "/lp/x/Banner.JPG")}


async def test_a_deal_takes_on_the_links_of_the_campaign_it_names(world: World) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), first)
    await world.put(ASSET_B, "bynder", "media", bynder(ASSET_B, "banner"), first)
    await world.put("camp-1", "hubspot", "campaigns", {"asset_ids": f"{ASSET_A};{ASSET_B}"}, first)
    await world.put("deal-1", "hubspot", "deals", {"campaign": "camp-1"}, first)
    await link_run(world.sessionmaker, first)
    assert {(a, r, rule) for a, r, rule, _v in await world.links() if r == "deal-1"} == {
        (ASSET_A, "deal-1", "deal"),
        (ASSET_B, "deal-1", "deal"),
    }

    # The campaign drops an asset: the deal, unchanged itself, drops it too.
    await world.put("camp-1", "hubspot", "campaigns", {"asset_ids": ASSET_B}, second)
    await link_run(world.sessionmaker, second)
    assert {(a, r) for a, r, _rule, _v in await world.links()} == {
        (ASSET_B, "camp-1"),
        (ASSET_B, "deal-1"),
    }


async def test_a_pass_over_many_batches_links_every_record_once(world: World) -> None:
    # More records than a batch holds, so batches are matched and written while others are
    # read (on PostgreSQL two rewrites are in flight at once); each record gets its links.
    run = uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), run)
    await world.put(ASSET_B, "bynder", "media", bynder(ASSET_B, "banner"), run)
    count = 2 * RECORD_BATCH + 345

    async def rows(session: AsyncSession) -> None:
        records = [
            StoredRecord(
                connection_id=world.connections["ga4"],
                stream="rows",
                external_id=f"row-{i}",
                content_hash="-",
                last_run_id=run,
                data={
                    "customEvent:asset_id": ASSET_A if i % 2 else ASSET_B,
                    "pagePath": f"/lp/{i}/{'hero' if i % 3 else 'none'}.jpg",
                },
            )
            for i in range(count)
        ]
        session.add_all(records)
        await session.flush()
        world.items.update({r.external_id: r.id for r in records})

    await in_unit_of_work(world.sessionmaker, rows)
    report = await link_run(world.sessionmaker, run)

    found = await world.links()
    expected = {(ASSET_A if i % 2 else ASSET_B, f"row-{i}") for i in range(count)}
    expected |= {(ASSET_A, f"row-{i}") for i in range(count) if i % 3}
    assert {(a, r) for a, r, _rule, _v in found} == expected
    assert len(found) == report.diff.added == count + sum(1 for i in range(count) if i % 3)
    assert report.records == count
    again = await link_run(world.sessionmaker, run)
    assert (again.diff.added, again.diff.removed, again.diff.updated) == (0, 0, 0)


async def test_two_passes_over_the_same_records_at_once_write_each_link_once(
    world: World,
) -> None:
    # Inserts carry no ON CONFLICT: a pass holds the links lock from reading a batch's links
    # to its commit, so the second of two concurrent passes reads what the first wrote.
    run = uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), run)
    count = RECORD_BATCH + 200

    async def rows(session: AsyncSession) -> None:
        session.add_all(
            StoredRecord(
                connection_id=world.connections["ga4"],
                stream="rows",
                external_id=f"row-{i}",
                content_hash="-",
                last_run_id=run,
                data={"customEvent:asset_id": ASSET_A, "pagePath": f"/lp/{i}/hero.jpg"},
            )
            for i in range(count)
        )

    await in_unit_of_work(world.sessionmaker, rows)
    first, second = await asyncio.gather(
        relink(world.sessionmaker), link_run(world.sessionmaker, run)
    )

    assert first.diff.added + second.diff.added == 2 * count

    async def stored(session: AsyncSession) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
        return [(r[0], r[1]) for r in await session.execute(select(Link.record_id, Link.rule_id))]

    keys = await in_unit_of_work(world.sessionmaker, stored, write=False)
    assert len(keys) == len(set(keys)) == 2 * count


async def test_deleting_a_connection_deletes_the_links_of_its_assets_and_records(
    world: World,
) -> None:
    # Links keep no foreign keys (they are written by the million): the one hard delete of
    # assets and records, a connection's, must take their links with it.
    run = uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), run)
    await world.put(ASSET_B, "bynder", "media", bynder(ASSET_B, "banner"), run)
    await world.put("row-a", "ga4", "rows", {"customEvent:asset_id": ASSET_A}, run)
    await world.put("row-b", "ga4", "rows", {"customEvent:asset_id": ASSET_B}, run)
    await world.put("camp", "hubspot", "campaigns", {"asset_ids": ASSET_A}, run)
    await link_run(world.sessionmaker, run)
    assert len(await world.links()) == 3

    async def delete(key: str) -> None:
        async def work(session: AsyncSession) -> None:
            connection = await session.get(Connection, world.connections[key])
            assert connection is not None
            await delete_connection(session, context(), connection, actor="test")

        await in_unit_of_work(world.sessionmaker, work)

    await delete("ga4")
    assert await world.links() == {(ASSET_A, "camp", "campaign", ASSET_A)}
    await delete("bynder")
    assert await world.links() == set()


async def test_relink_applies_rule_edits_and_archiving(world: World) -> None:
    run = uuid.uuid4()
    await world.put(ASSET_A, "bynder", "media", bynder(ASSET_A, "hero"), run)
    await world.put("row", "ga4", "rows", {"pagePath": "/lp/hero.jpg", "other": ASSET_A}, run)
    await link_run(world.sessionmaker, run)
    assert {rule for _a, _r, rule, _v in await world.links()} == {"page"}

    async def edit(session: AsyncSession) -> None:
        await update_rule(session, world.rules["dimension"], LinkRulePatch(field_path="other"), "t")
        await archive_rule(session, world.rules["page"], "t")

    await in_unit_of_work(world.sessionmaker, edit)
    report = await relink(world.sessionmaker)

    assert await world.links() == {(ASSET_A, "row", "dimension", ASSET_A)}
    assert (report.diff.added, report.diff.removed) == (1, 1)
    again = await relink(world.sessionmaker)
    assert (again.diff.added, again.diff.removed, again.diff.updated) == (0, 0, 0)


async def test_rule_changes_queue_the_relink_job_whose_handler_is_registered(
    world: World,
) -> None:
    async def jobs(session: AsyncSession) -> list[Job]:
        return list(await session.scalars(select(Job).where(Job.kind == RELINK_JOB)))

    queued = await in_unit_of_work(world.sessionmaker, jobs, write=False)
    assert len(queued) == len(RULES)  # one per rule created by the fixture
    registry = HandlerRegistry()
    register(registry)
    assert registry.kinds == [RELINK_JOB]
    loaded = HandlerRegistry.load()
    assert loaded.get(RELINK_JOB) is registry.get(RELINK_JOB)


@pytest.mark.parametrize(
    ("match", "value", "expected"),
    [
        ("equals", "abc", ["abc"]),
        ("contains", "x;abc, y|z", ["x", "abc", "y", "z"]),
        (
            "contains",
            "https://h/p/abc?u=1&v=abc",
            ["https:", "h", "p", "abc", "u", "1", "v", "abc"],
        ),
        ("path_segment", "https://h/lp/a%20b.jpg?q=1", ["lp", "a b.jpg"]),
        ("url_path", "https://h/lp/a.jpg?q=1", ["/lp/a.jpg"]),
        ("url_path", "not a path", []),
        ("query_parameter", "https://h/?utm_content=abc&utm_source=x", ["abc"]),
    ],
)
def test_candidates_by_match(match: str, value: str, expected: list[str]) -> None:
    parameter = "utm_content" if match == "query_parameter" else None
    assert matching.candidates(value, match, parameter) == expected


_URL_PARTS = [
    *("http", "HTTPS", "s3", "a+b", "1x", "://", ":", "//", "/", "?", "#", "%20", "%"),
    *("[", "]", "@", "host", "h.com:80", "é", " ", "\t", "x", "file.jpg", ";", "="),
]


def _reference_url_path(text: str) -> str:
    try:
        return unquote(urlsplit(text).path)
    except ValueError:
        return ""


@given(
    st.text(alphabet=st.sampled_from("/ab.-_%:?#@[] \t\n\x00\x7fé"), max_size=40)
    | st.from_regex(r"(/[a-z0-9._-]{1,12}){1,5}", fullmatch=True)
    | st.lists(st.sampled_from(_URL_PARTS), max_size=8).map("".join)
)
@example("x://]x")  # a host urlsplit ends where the fast path's host characters stop
@example("s3://h.com:80é?")
@example("https://cdn.example.com/v1/a%20b/hero.jpg?w=1#top")
@settings(max_examples=400)
def test_url_paths_read_fast_equal_urlsplits(value: str) -> None:
    # Plain paths skip urlsplit; every value must still give exactly what urlsplit gives.
    path = _reference_url_path(value)
    assert matching.candidates(value, "url_path") == ([path] if path.startswith("/") else [])
    assert matching.candidates(value, "path_segment") == [s for s in path.split("/") if s]


def test_ids_compare_as_uuids_and_names_case_insensitively() -> None:
    assert matching.normalise("id", ASSET_A.upper()) == ASSET_A.replace("-", "")
    assert matching.normalise("id", ASSET_A.replace("-", "")) == ASSET_A.replace("-", "")
    assert matching.normalise("id", "701Hs0000000001IAA") == "701hs0000000001iaa"
    assert matching.normalise("file_name", "Hero.JPG") == "hero.jpg"
    keys = matching.asset_keys(
        "x", {"name": "hero", "extension": ["jpg"], "secure_url": "https://c/i/v1/f/hero.jpg"}
    )
    assert keys == {"id": {"x"}, "file_name": {"hero.jpg"}, "cdn_path": {"/i/v1/f/hero.jpg"}}

"""A linked page's rows and links as ``syncbridge.sync.pages.write`` leaves them, on both
stores: PostgreSQL inserts the links of new rows in the upsert's own statement and diffs
only the rows it rewrote; SQLite looks the page up first and diffs every row it wrote. Both
must leave exactly the same rows, counts and links (with the run that wrote each link), for
new rows, rewritten ones (changed data, a tombstone that comes back), unchanged ones (left
alone, links and all) and rows no rule links."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connector.types import Page, Record
from syncbridge.linking.matching import AssetIndex, AssetRef, Matcher, RecordView, RuleView, Scope
from syncbridge.linking.pages import PageLinker
from syncbridge.models import Connection, Link, StoredRecord
from syncbridge.models.base import utcnow
from syncbridge.store.ids import id_base
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import pages
from syncbridge.sync.encoding import canonical_json, content_hash
from syncbridge.sync.pages import Counts, Target, prepare
from syncbridge.sync.repository import ItemTable
from tests.sync_support import Sessionmaker

pytest_plugins = ["tests.store_fixtures"]

STREAM = "asset_performance"
#: Three DAM assets: external id, file name and row id.
A1, A2, A3 = (str(uuid.UUID(int=(n << 100) | 0xABCDEF)) for n in (1, 2, 3))
FILES = {A1: "banner.jpg", A2: "poster.png", A3: "clip.mp4"}
ROW_IDS = {A1: 0xA1, A2: 0xA2, A3: 0xA3}
BY_ID = RuleView(id=str(uuid.uuid4()), version=3, connector_key="ga4", field_path="asset",
                 match="equals", asset_key="id")  # fmt: skip
BY_FILE = RuleView(id=str(uuid.uuid4()), version=1, connector_key="ga4", field_path="page",
                   match="path_segment", asset_key="file_name")  # fmt: skip
RULES = {BY_ID.id: "by id", BY_FILE.id: "by file"}
ASSET_NAMES = {row_id: external_id for external_id, row_id in ROW_IDS.items()}

#: A stored link as the test compares it: (record, asset, rule, field, value, run number).
LinkRow = tuple[str, str, str, str, str, int]


class Pages:
    """Writes pages of one connection's analytics stream, each as a run of its own (run
    ``n`` is the ``n``-th page), through a linker of :data:`BY_ID` and :data:`BY_FILE`."""

    def __init__(self, sessionmaker: Sessionmaker, connection_id: uuid.UUID) -> None:
        self.sessionmaker = sessionmaker
        self.connection_id = connection_id
        index = AssetIndex()
        for external_id, row_id in ROW_IDS.items():
            name, extension = FILES[external_id].split(".")
            data = {"id": external_id, "name": name, "extension": [extension]}
            index.add(AssetRef(row_id, "bynder"), external_id, data)
        self.linker = PageLinker(Scope("ga4", connection_id, STREAM), [BY_ID, BY_FILE], index)
        self.runs: list[uuid.UUID] = []

    async def write(
        self, rows: Mapping[str, Mapping[str, Any]], *, gone: tuple[str, ...] = ()
    ) -> Counts:
        run_id = uuid.uuid4()
        self.runs.append(run_id)
        records = [Record(STREAM, key, dict(data)) for key, data in rows.items()]
        records += [Record(STREAM, key, {}, deleted=True) for key in gone]
        page = prepare(Page(records, None))
        if page.live:
            page.matched = self.linker.match(page.data())
        target = Target(self.connection_id, STREAM, ItemTable.of("record"), run_id, full=False,
                        linker=self.linker)  # fmt: skip
        return await in_unit_of_work(
            self.sessionmaker, lambda s: pages.write(s, target, page, utcnow(), keep=10)
        )

    async def stored(self) -> tuple[dict[str, StoredRecord], set[LinkRow]]:
        """The stream's rows by external id, and every link of them."""

        async def read(session: AsyncSession) -> tuple[dict[str, StoredRecord], set[LinkRow]]:
            rows = {
                r.external_id: r
                for r in await session.scalars(
                    select(StoredRecord).where(StoredRecord.connection_id == self.connection_id)
                )
            }
            by_row = {r.id: key for key, r in rows.items()}
            links = {
                (by_row[link.record_id], ASSET_NAMES[link.asset_id.int],
                 RULES[str(link.rule_id)], link.field_path, link.value,
                 self.runs.index(link.run_id) + 1 if link.run_id else 0)
                for link in await session.scalars(select(Link))
            }  # fmt: skip
            return rows, links

        return await in_unit_of_work(self.sessionmaker, read, write=False)


@pytest.fixture
async def linked(sessionmaker: Sessionmaker) -> Pages:
    connection = Connection(connector_key="ga4", name="analytics", settings={}, secrets="")
    async with sessionmaker() as session, session.begin():
        session.add(connection)
    return Pages(sessionmaker, connection.id)


FIRST: dict[str, dict[str, Any]] = {
    "new-1": {"asset": A1, "page": "/lp/banner.jpg"},
    "new-2": {"asset": A2, "page": "/lp/nothing.png"},
    "keep": {"asset": A3},
    "change": {"asset": A1, "page": "/x/poster.png"},
    "gone": {"asset": A3, "page": "/x/clip.mp4"},
    "no-link": {"views": 1},
}


async def test_a_linked_page_writes_its_rows_and_links_the_same_on_both_stores(
    linked: Pages,
) -> None:
    first = await linked.write(FIRST)
    assert (first.inserted, first.updated, first.unchanged) == (6, 0, 0)
    _, links = await linked.stored()
    assert links == {
        ("new-1", A1, "by id", "asset", A1, 1),
        ("new-1", A1, "by file", "page", "/lp/banner.jpg", 1),
        ("new-2", A2, "by id", "asset", A2, 1),
        ("keep", A3, "by id", "asset", A3, 1),
        ("change", A1, "by id", "asset", A1, 1),
        ("change", A2, "by file", "page", "/x/poster.png", 1),
        ("gone", A3, "by id", "asset", A3, 1),
        ("gone", A3, "by file", "page", "/x/clip.mp4", 1),
    }

    deleted = await linked.write({}, gone=("gone",))
    assert deleted.deleted == 1

    third = await linked.write(
        {
            "new-1": FIRST["new-1"],  # unchanged: left alone, links and all
            "keep": FIRST["keep"],
            # Rewritten: the same asset by id named otherwise (evidence updated), the file
            # link moved from A2 to A1.
            "change": {"asset": A1.upper(), "page": "/x/banner.jpg"},
            "new-2": {"asset": A3, "page": "/lp/nothing.png"},  # rewritten: A2 gone, A3 new
            "gone": FIRST["gone"],  # a tombstone that comes back: rewritten, links kept
            "no-link": {"views": 2, "asset": "not-an-asset"},  # rewritten, still no link
            "fresh": {"asset": A2},  # new
        }
    )
    assert (third.inserted, third.updated, third.unchanged) == (1, 4, 2)

    rows, links = await linked.stored()
    assert links == {
        ("new-1", A1, "by id", "asset", A1, 1),
        ("new-1", A1, "by file", "page", "/lp/banner.jpg", 1),
        ("new-2", A3, "by id", "asset", A3, 3),
        ("keep", A3, "by id", "asset", A3, 1),
        ("change", A1, "by id", "asset", A1.upper(), 3),
        ("change", A1, "by file", "page", "/x/banner.jpg", 3),
        ("gone", A3, "by id", "asset", A3, 1),
        ("gone", A3, "by file", "page", "/x/clip.mp4", 1),
        ("fresh", A2, "by id", "asset", A2, 3),
    }
    run = {n + 1: run_id for n, run_id in enumerate(linked.runs)}
    assert {key: r.last_run_id for key, r in rows.items()} == {
        "new-1": run[1], "keep": run[1], "change": run[3], "new-2": run[3], "gone": run[3],
        "no-link": run[3], "fresh": run[3],
    }  # fmt: skip
    assert rows["gone"].deleted_at is None
    assert rows["change"].data == {"asset": A1.upper(), "page": "/x/banner.jpg"}
    assert rows["change"].content_hash == content_hash(
        canonical_json({"asset": A1.upper(), "page": "/x/banner.jpg"})
    )
    # Link evidence carries the rule's version.
    versions = await in_unit_of_work(
        linked.sessionmaker,
        lambda s: s.scalars(select(Link.rule_version).where(Link.rule_id == uuid.UUID(BY_ID.id))),
        write=False,
    )
    assert set(versions) == {3}

    # The same page again writes nothing.
    again = await linked.write({key: dict(data) for key, data in FIRST.items() if key == "keep"})
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    assert (await linked.stored())[1] == links


async def test_rows_and_links_a_page_inserts_get_distinct_time_ordered_ids(
    linked: Pages, db_url: str
) -> None:
    rows = {f"row-{n:04d}": {"asset": A1, "page": "/lp/banner.jpg"} for n in range(300)}
    await linked.write(rows)

    async def ids(session: AsyncSession) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        rows = list(await session.scalars(select(StoredRecord.id)))
        links = list(await session.scalars(select(Link.id)))
        return rows, links

    row_ids, link_ids = await in_unit_of_work(linked.sessionmaker, ids, write=False)
    assert (len(set(row_ids)), len(set(link_ids))) == (300, 600)
    if not db_url.startswith("postgresql"):
        return  # SQLite rows take random ids (its indexes are not where the time goes)
    now = datetime.now(UTC)
    for made in (*row_ids, *link_ids):
        assert (made.version, made.variant) == (7, uuid.RFC_4122)
        ms = int.from_bytes(made.bytes[:6], "big")
        assert abs(datetime.fromtimestamp(ms / 1000, UTC) - now) < timedelta(minutes=5)


def test_an_id_base_counts_up_within_the_random_bits_of_a_uuid7() -> None:
    high, low = id_base()
    made = [uuid.UUID(bytes=high + (low + n).to_bytes(8, "big", signed=True)) for n in (1, 2, 3)]
    assert [(u.version, u.variant) for u in made] == [(7, uuid.RFC_4122)] * 3
    assert made == sorted(made)
    assert len(set(made)) == 3
    # The counter's room: even a batch of 2**61 rows keeps the variant bits.
    last = uuid.UUID(bytes=high + (low + 2**61 - 1).to_bytes(8, "big", signed=True))
    assert last.variant == uuid.RFC_4122
    assert id_base() != id_base()


def test_matching_a_page_as_columns_finds_what_matching_records_finds() -> None:
    index = AssetIndex()
    for external_id, row_id in ROW_IDS.items():
        name, extension = FILES[external_id].split(".")
        index.add(AssetRef(row_id, "bynder"), external_id, {"name": name, "extension": [extension]})
    listed = RuleView(id=str(uuid.uuid4()), version=1, connector_key="ga4", field_path="ids[*]",
                      match="contains", asset_key="id")  # fmt: skip
    rules = [BY_ID, BY_FILE, listed]
    scope = Scope("ga4", uuid.uuid4(), STREAM)
    datas: list[dict[str, Any]] = [
        {"asset": A1, "page": "/a/banner.jpg/clip.mp4", "ids": [f"{A2};{A3}", A2.upper(), A1]},
        {"views": 3},
        {"asset": "nobody", "ids": []},
        {"asset": A3.upper(), "page": "/poster.png", "ids": ["x", f"{A1} {A1}"]},
    ]
    matcher = Matcher(rules, index)
    found = matcher.find(RecordView(n, scope, data) for n, data in enumerate(datas))
    positions, assets, numbers, values = Matcher(rules, index).columns(datas, scope)
    assert len(found) == 9  # each asset once per record and rule
    assert [(f.record_id, f.asset_id, rules.index(f.rule), f.value) for f in found] == list(
        zip(positions, assets, numbers, values, strict=True)
    )

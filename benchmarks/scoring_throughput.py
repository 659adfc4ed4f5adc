"""Scoring throughput: assets scored per second at 100,000 assets (issue 10, item 7).

The store is built directly (no vendor, no sync) from a sandbox ``World``: its assets as
Bynder assets, each classified on its asset type and channel (the default tag rule's
cohorts), and the daily ``views`` and ``key_events`` facts of the world's GA4 rows over the
default rule's 28-day window. The default taxonomy and tag rule are loaded as a first start
loads them. Then it times, on the same store:

- ``core``: the pure scoring core (:func:`syncbridge.scoring.score.score_assets`) over the
  samples read once: KPI, Wilson bound, cohort percentile and tier;
- ``run 1``: :func:`syncbridge.scoring.service.score_all`, reading the window totals and
  cohorts and writing every asset's desired tag (all new);
- ``run 2``: the same over unchanged facts (reads and compares, writes nothing);
- ``preview``: ``POST /v1/tag-rules/preview``'s work for the saved rule, unchanged (reads,
  scores and tallies against the stored tags; writes nothing).

Each figure is assets per second (live assets / wall seconds). The load average is printed
before and after: the machine is shared, so report it with the figures.

    .venv/bin/python benchmarks/scoring_throughput.py                 # both stores, 100,000
    .venv/bin/python benchmarks/scoring_throughput.py --db sqlite --assets 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.db import create_engine, migrate, open_store
from syncbridge.models import Asset, Classification, Concept, Connection, MetricFact, TagRule
from syncbridge.sandbox.world import World
from syncbridge.scoring.score import score_assets
from syncbridge.scoring.service import RuleSnapshot, read_inputs, score_all
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules
from syncbridge.tagging.preview import preview_rule
from syncbridge.tagging.schemas import TagRulePreviewRequest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: World channels whose concept key is not ``channel:<name>``.
CHANNEL_CONCEPTS = {"google-search": "channel:paid-search"}
WINDOW_DAYS = 28
BATCH = 10_000
T = TypeVar("T")
Sessionmaker = async_sessionmaker[AsyncSession]


def _say(line: str) -> None:
    print(line, flush=True)  # noqa: T201


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


async def _insert(sessionmaker: Sessionmaker, model: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):

        async def work(session: AsyncSession, chunk: list[dict[str, Any]] = chunk) -> None:
            await session.execute(insert(model), chunk)

        await in_unit_of_work(sessionmaker, work)


async def _build(sessionmaker: Sessionmaker, world: World) -> int:
    """The store from ``world``; how many facts it holds."""

    async def defaults(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID, dict[str, uuid.UUID]]:
        await load_default_taxonomy(session)
        await load_default_tag_rules(session, "bench")
        ga4 = Connection(connector_key="ga4", name="GA4")
        dam = Connection(connector_key="bynder", name="Bynder")
        session.add_all([ga4, dam])
        await session.flush()
        concepts = {k: i for i, k in await session.execute(select(Concept.id, Concept.key))}
        return ga4.id, dam.id, concepts

    ga4, dam, concepts = await in_unit_of_work(sessionmaker, defaults)
    assets = world.assets()
    ids = [uuid.uuid4() for _ in assets]
    await _insert(
        sessionmaker,
        Asset,
        [
            {
                "id": asset_id,
                "connection_id": dam,
                "stream": "media",
                "external_id": a.id,
                "data": {},
                "content_hash": "h",
            }
            for asset_id, a in zip(ids, assets, strict=True)
        ],
    )
    classifications = []
    for asset_id, a in zip(ids, assets, strict=True):
        keys = (f"asset:{a.asset_type}", CHANNEL_CONCEPTS.get(a.channel, f"channel:{a.channel}"))
        for key in keys:
            if key in concepts:
                classifications.append(
                    {"asset_id": asset_id, "concept_id": concepts[key], "source": "manual"}
                )
    await _insert(sessionmaker, Classification, classifications)
    facts = 0
    for day in world.analytics_days[-WINDOW_DAYS:]:
        rows = [
            {
                "asset_id": ids[row.asset_index],
                "day": day,
                "metric": metric,
                "connection_id": ga4,
                "value": Decimal(value),
                "records": 1,
            }
            for row in world.analytics_rows(day)
            for metric, value in (("views", row.views), ("key_events", row.key_events))
        ]
        await _insert(sessionmaker, MetricFact, rows)
        facts += len(rows)
    return facts


async def _timed(label: str, assets: int, work: Callable[[], Awaitable[T]]) -> T:
    started = time.perf_counter()
    result = await work()
    elapsed = time.perf_counter() - started
    _say(f"  {label:<8} {elapsed:8.2f} s  {assets / elapsed:12,.0f} assets/s")
    return result


async def _measure(url: str, world: World) -> None:
    async with open_store(url) as sessionmaker:
        started = time.perf_counter()
        facts = await _build(sessionmaker, world)
        _say(f"  built: {facts:,} facts in {time.perf_counter() - started:.1f} s")

        async def rule(session: AsyncSession) -> TagRule:
            return (await session.scalars(select(TagRule))).one()

        saved = await in_unit_of_work(sessionmaker, rule, write=False)
        snapshot = RuleSnapshot.of(saved)
        inputs = await in_unit_of_work(
            sessionmaker, lambda s: read_inputs(s, snapshot), write=False
        )
        n = len(inputs.samples)
        scores = await _timed(
            "core", n, lambda: asyncio.to_thread(score_assets, snapshot.spec, inputs.samples)
        )
        ranked = sum(1 for s in scores if s.ranked)
        cohorts = len({s.cohort for s in scores if s.ranked})
        _say(f"  {n:,} assets, {ranked:,} ranked in {cohorts} cohorts")
        [first] = await _timed("run 1", n, lambda: score_all(sessionmaker))
        [second] = await _timed("run 2", n, lambda: score_all(sessionmaker))
        assert (first.changed, second.changed) == (n, 0), (first, second)
        body = TagRulePreviewRequest(rule_id=saved.id)
        shown = await _timed(
            "preview",
            n,
            lambda: in_unit_of_work(sessionmaker, lambda s: preview_rule(s, body), write=False),
        )
        assert shown.changing == 0, shown


async def _pg(sql: str) -> None:
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _run(db: str, world: World) -> None:
    _say(f"{db}: {_load()}")
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="scoring-")
        try:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            migrate(url)
            asyncio.run(_measure(url, world))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        name = f"sbbench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
        try:
            url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
            migrate(url)
            asyncio.run(_measure(url, world))
        finally:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    _say(f"  after: {_load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--assets", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    world = World(assets_count=args.assets)
    world.assets()
    _say(f"world: {args.assets:,} assets in {time.perf_counter() - started:.1f} s")
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        _run(db, world)


if __name__ == "__main__":
    main()

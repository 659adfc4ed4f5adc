"""What the demo's first cycle left in the store, counted, and the short summary it prints."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Group
from rich.table import Table
from rich.text import Text
from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import (
    Asset,
    Classification,
    Concept,
    Connection,
    DesiredTag,
    Link,
    WriteBack,
)

__all__ = ["DemoSummary", "ExampleTrace", "read_summary", "render_summary"]

#: The DAM connectors, whose assets carry the tags.
DAMS = ("bynder", "cloudinary", "localfolder")
#: Owned performance tags start with this (the default tag rule's prefix).
PERF = "perf:"
#: The default tag rule's concept for assets with too little data to rank.
INSUFFICIENT = "perf:insufficient-data"
EXAMPLES = 3


@dataclass(frozen=True)
class ExampleTrace:
    """An asset to look at: its tags and where its trace is."""

    asset_id: uuid.UUID
    connector: str
    external_id: str
    tags: tuple[str, ...]


@dataclass
class DemoSummary:
    """The counts the summary prints."""

    assets: Counter[str] = field(default_factory=Counter)
    classified_assets: int = 0
    classifications: int = 0
    links: int = 0
    linked_assets: int = 0
    scored_assets: int = 0
    written: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    examples: list[ExampleTrace] = field(default_factory=list)


async def read_summary(session: AsyncSession) -> DemoSummary:
    """Count assets per DAM, classifications, links, scored assets, write-backs done per DAM
    and the assets each DAM was read back holding a performance tag; pick the examples."""
    out = DemoSummary()
    live = Asset.deleted_at.is_(None)
    rows = await session.execute(
        select(Connection.connector_key, Asset.data)
        .join(Connection, Connection.id == Asset.connection_id)
        .where(live)
    )
    for connector, data in rows:
        out.assets[str(connector)] += 1
        tags = data.get("tags") if isinstance(data, dict) else None
        if isinstance(tags, list) and any(str(t).startswith(PERF) for t in tags):
            out.held[str(connector)] += 1
    out.classified_assets = await _count(session, distinct(Classification.asset_id))
    out.classifications = await _count(session, Classification.id)
    out.links = await _count(session, Link.id)
    out.linked_assets = await _count(session, distinct(Link.asset_id))
    out.scored_assets = await _count(session, distinct(DesiredTag.asset_id))
    written = await session.execute(
        select(Connection.connector_key, func.count())
        .select_from(WriteBack)
        .join(Connection, Connection.id == WriteBack.connection_id)
        .where(WriteBack.status == "done")
        .group_by(Connection.connector_key)
    )
    out.written.update(dict(written.all()))
    out.examples = await _examples(session)
    return out


async def _count(session: AsyncSession, column: object) -> int:
    return int(await session.scalar(select(func.count(column))) or 0)  # type: ignore[arg-type]


async def _example_asset(session: AsyncSession, connector: str, ranked: bool) -> Asset | None:
    """The first asset (by id) of a ``connector`` DAM that was classified, linked and tagged
    in its DAM; ``ranked``: only one that got a tier (enough data to rank it)."""
    tiered = select(DesiredTag.asset_id).where(DesiredTag.concept != INSUFFICIENT)
    return await session.scalar(
        select(Asset)
        .join(Connection, Connection.id == Asset.connection_id)
        .where(
            Connection.connector_key == connector,
            Asset.deleted_at.is_(None),
            Asset.id.in_(select(WriteBack.asset_id).where(WriteBack.status == "done")),
            Asset.id.in_(select(Link.asset_id)),
            Asset.id.in_(select(Classification.asset_id)),
            *([Asset.id.in_(tiered)] if ranked else []),
        )
        .order_by(Asset.id)
        .limit(1)
    )


async def _examples(session: AsyncSession) -> list[ExampleTrace]:
    """One asset of each DAM, ranked into a tier where one is: its trace shows every step."""
    examples: list[ExampleTrace] = []
    for connector in DAMS:
        asset = await _example_asset(session, connector, ranked=True)
        asset = asset or await _example_asset(session, connector, ranked=False)
        if asset is None:
            continue
        concepts = await session.scalars(
            select(Concept.key)
            .join(Classification, Classification.concept_id == Concept.id)
            .where(Classification.asset_id == asset.id)
            .order_by(Concept.key)
        )
        tiers = await session.scalars(
            select(DesiredTag.concept).where(DesiredTag.asset_id == asset.id)
        )
        examples.append(
            ExampleTrace(
                asset_id=asset.id,
                connector=connector,
                external_id=asset.external_id,
                tags=(*sorted(tiers), *concepts),
            )
        )
    return examples[:EXAMPLES]


def _per_dam(counts: Counter[str]) -> str:
    return ", ".join(f"{dam} {counts[dam]:,}" for dam in DAMS)


def render_summary(summary: DemoSummary, base_url: str, admin_key: str | None) -> Group:
    """The summary the demo prints: counts, example traces, where to look, the admin key."""
    dam_assets = sum(summary.assets[d] for d in DAMS)
    records = sum(n for c, n in summary.assets.items() if c not in DAMS)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("assets synced", f"{dam_assets:,} ({_per_dam(summary.assets)})")
    if records:
        table.add_row("other assets", f"{records:,}")
    table.add_row(
        "classified",
        f"{summary.classified_assets:,} assets, {summary.classifications:,} classifications",
    )
    table.add_row(
        "links found", f"{summary.links:,} record-asset links to {summary.linked_assets:,} assets"
    )
    table.add_row("scored", f"{summary.scored_assets:,} assets have a performance tag")
    table.add_row("tags written", _per_dam(summary.written))
    table.add_row("read back", f"{_per_dam(summary.held)} assets hold a {PERF} tag in their DAM")
    traces = Table.grid(padding=(0, 2))
    traces.add_column(style="bold")
    traces.add_column(overflow="fold")
    for example in summary.examples:
        traces.add_row(example.connector, " ".join(example.tags))
        traces.add_row("", f"GET {base_url}/v1/assets/{example.asset_id}/trace")
    key_line = (
        Text.assemble(("Admin API key (shown once, store it): ", "bold yellow"), admin_key)
        if admin_key
        else Text("No new admin key: this store already had one (syncbridge keys create).")
    )
    return Group(
        Text("syncbridge demo: the first cycle is done", style="bold green"),
        table,
        Text("Example traces (classifications, links, metrics, tags, write-backs):"),
        traces,
        Text(
            f"Where to look next: {base_url}/docs (every endpoint, try it out), "
            f"GET {base_url}/v1/insights?group_by=channel (performance by taxonomy facet), "
            f"GET {base_url}/v1/runs, GET {base_url}/v1/writebacks"
        ),
        key_line,
    )

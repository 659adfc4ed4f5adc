"""The default tag rules: a reviewed data file, loaded at first start, never twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.bootstrap import bootstrap_store, load_default_taxonomy
from syncbridge.db import open_store
from syncbridge.models import AuditEntry
from syncbridge.models.tagging import TagRule
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import (
    default_rules_file,
    load_default_tag_rules,
    read_default_rules,
)
from syncbridge.tagging.service import archive_rule

BUNDLED = default_rules_file()
DEFAULT_KEY = "key-event-rate-by-asset-type-and-channel"


def test_the_bundled_file_holds_the_default_the_taxonomy_describes() -> None:
    # taxonomy/performance-tier.yaml: 28 days, cohorts of asset type and channel, percentile
    # tiers top-10 / top-25 / middle / bottom-25, insufficient data below a minimum sample.
    assert BUNDLED is not None
    [rule] = read_default_rules(BUNDLED)
    assert rule.key == DEFAULT_KEY
    assert (rule.window_days, rule.cohort_by, rule.min_sample) == (
        28,
        ["asset-type", "channel"],
        100,
    )
    assert rule.kpi.model_dump() == {
        "type": "rate",
        "numerator": "key_events",
        "denominator": "views",
    }
    assert rule.smoothing is not None
    assert rule.smoothing.model_dump() == {"method": "wilson", "confidence": 0.95}
    assert [(t.concept, t.from_percentile, t.to_percentile) for t in rule.tiers] == [
        ("perf:top-10", 90, 100),
        ("perf:top-25", 75, 90),
        ("perf:middle", 25, 75),
        ("perf:bottom-25", 0, 25),
    ]
    assert (rule.insufficient_concept, rule.targets) == ("perf:insufficient-data", [])


def test_the_file_ships_in_the_wheel_with_the_taxonomy() -> None:
    # pyproject force-includes the whole taxonomy/ folder as syncbridge/_taxonomy.
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    assert '"taxonomy" = "syncbridge/_taxonomy"' in pyproject.read_text(encoding="utf-8")
    assert BUNDLED is not None
    assert BUNDLED.relative_to(BUNDLED.parents[2]).as_posix() == "taxonomy/tags/tag_rules.yaml"


def test_a_broken_file_names_each_bad_rule(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    tiers = "[{concept: a, from_percentile: 0, to_percentile: 50}]"
    path.write_text(
        "rules:\n"
        f"  - {{key: a, window_days: 0, kpi: {{type: count, metric: views}}, min_sample: 1,"
        f" tiers: {tiers}}}\n"
        f"  - {{key: b, window_days: 7, kpi: {{type: count, metric: clicks}}, min_sample: 1,"
        f" tiers: {tiers}}}\n"
        + 2
        * "  - {key: c, window_days: 7, kpi: {type: count, metric: views}, min_sample: 1,"
        " tiers: [{concept: a, from_percentile: 0, to_percentile: 100}]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="rules\\[0\\]") as raised:
        read_default_rules(path)
    message = str(raised.value)
    assert "rules[1].kpi.metric: no data source" in message
    assert "rules[1].tiers.0.to_percentile: the highest tier must end at 100" in message
    assert "rules[2]" not in message
    assert "rules[3]: key 'c' is used twice" in message


async def counts(settings: Settings) -> tuple[int, int]:
    """Tag rules, and their audit entries."""

    async def work(session: AsyncSession) -> tuple[int, int]:
        rules = await session.scalar(select(func.count()).select_from(TagRule))
        audited = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "tag_rule")
        )
        return int(rules or 0), int(audited or 0)

    async with open_store(settings.database_url) as sessionmaker:
        return await in_unit_of_work(sessionmaker, work, write=False)


async def test_first_start_loads_the_defaults_once(settings: Settings) -> None:
    await bootstrap_store(settings)
    assert await counts(settings) == (1, 1)

    await bootstrap_store(settings)
    assert await counts(settings) == (1, 1)

    async def loaded(session: AsyncSession) -> TagRule | None:
        return await session.scalar(select(TagRule))

    async with open_store(settings.database_url) as sessionmaker:
        rule = await in_unit_of_work(sessionmaker, loaded, write=False)
    assert rule is not None
    assert (rule.default_key, rule.version, rule.enabled) == (DEFAULT_KEY, 1, True)


async def test_an_archived_default_is_not_loaded_again(settings: Settings) -> None:
    async with open_store(settings.database_url) as sessionmaker:
        await in_unit_of_work(sessionmaker, load_default_taxonomy)
        assert await in_unit_of_work(sessionmaker, lambda s: load_default_tag_rules(s, "t")) == 1

        async def archive_it(session: AsyncSession) -> None:
            rule = await session.scalar(select(TagRule).where(TagRule.default_key == DEFAULT_KEY))
            assert rule is not None
            await archive_rule(session, rule.id, "admin")

        await in_unit_of_work(sessionmaker, archive_it)
        again = await in_unit_of_work(sessionmaker, lambda s: load_default_tag_rules(s, "t"))
    assert again == 0
    await bootstrap_store(settings)
    assert await counts(settings) == (1, 2)  # the create and the archive


async def test_a_default_the_store_cannot_take_yet_waits_for_a_later_start(
    settings: Settings,
) -> None:
    # A store without the performance-tier scheme (no taxonomy yet) cannot hold the default:
    # it is skipped, not half-loaded, and arrives once the taxonomy is there.
    async with open_store(settings.database_url) as sessionmaker:
        skipped = await in_unit_of_work(sessionmaker, lambda s: load_default_tag_rules(s, "t"))
        assert skipped == 0
        await in_unit_of_work(sessionmaker, load_default_taxonomy)
        loaded = await in_unit_of_work(sessionmaker, lambda s: load_default_tag_rules(s, "t"))
    assert loaded == 1
    assert await counts(settings) == (1, 1)

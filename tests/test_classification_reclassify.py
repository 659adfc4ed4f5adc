"""Re-classification after mapping and taxonomy changes: the job is queued in the change's
transaction, a real worker runs it, and the history says why each classification came,
changed or went (and who and which job)."""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from syncbridge.classification import classify_run
from syncbridge.classification.jobs import register
from syncbridge.classification.triggers import KIND
from syncbridge.jobs import HandlerRegistry, Job, Outcome, Worker
from syncbridge.mapping.schemas import RulePatch
from syncbridge.mapping.service import archive_rule, update_rule
from syncbridge.models import Asset, Classification
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work
from syncbridge.taxonomy.service import deprecate_concept
from syncbridge.taxonomy.transfer import export_taxonomy, import_taxonomy
from tests.test_classification import (
    ACTOR,
    Sessionmaker,
    Store,
    add_asset,
    changes,
    classifications,
    concepts_of,
    make_rule,
    store,
)

__all__ = ["store"]  # the fixture, re-used

pytest_plugins = ["tests.store_fixtures"]

EDITOR = "key:editor (e)"


async def run_jobs(engine: AsyncEngine) -> list[Outcome]:
    """Run queued re-classification jobs with a real worker until none is left."""
    registry = HandlerRegistry()
    register(registry)
    worker = Worker(engine, registry, listen=False)
    outcomes: list[Outcome] = []
    while done := await worker.run_once():
        outcomes += done
    return outcomes


async def jobs(sm: Sessionmaker) -> list[Job]:
    """The re-classification jobs waiting to run."""

    async def work(session: AsyncSession) -> list[Job]:
        stmt = select(Job).where(Job.kind == KIND, Job.status == "queued")
        return list(await session.scalars(stmt.order_by(Job.created_at, Job.id)))

    return await in_unit_of_work(sm, work, write=False)


async def patch(sm: Sessionmaker, rule_id: uuid.UUID, **fields: object) -> None:
    async def work(session: AsyncSession) -> None:
        await update_rule(session, rule_id, RulePatch.model_validate(fields), EDITOR)

    await in_unit_of_work(sm, work)


async def classified(store: Store, engine: AsyncEngine, *ids: uuid.UUID) -> None:
    """Run the jobs new rules queued, then classify the assets as a sync run that changed
    them would (which then finds nothing left to do)."""
    await run_jobs(engine)
    run = uuid.uuid4()

    async def stamp(session: AsyncSession) -> None:
        await session.execute(update(Asset).where(Asset.id.in_(ids)).values(last_run_id=run))

    await in_unit_of_work(store.sm, stamp)
    await classify_run(store.sm, run)


async def test_a_new_rule_classifies_the_assets_already_stored(
    store: Store, engine: AsyncEngine
) -> None:
    image = await add_asset(store, {"type": "image"}, None)
    other = await add_asset(store, {"type": "image"}, None, stream="collections")
    rule = await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    [job] = await jobs(store.sm)
    assert (job.payload["cause"], job.payload["scopes"]) == (
        "mapping_rule.create",
        [{"connector_key": "bynder", "connection_id": None, "stream": "media"}],
    )

    await run_jobs(engine)

    [row] = await classifications(store.sm, image)
    assert (row.rule_id, row.rule_version, row.run_id) == (rule, 1, None)
    [came] = await changes(store.sm, image)
    assert (came.change, came.job_id, came.actor) == ("added", job.id, ACTOR)
    assert await classifications(store.sm, other) == []


async def test_an_edit_queues_a_job_in_its_transaction_that_removes_and_adds(
    store: Store, engine: AsyncEngine
) -> None:
    rule = await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    image = await add_asset(store, {"type": "image"}, None)
    video = await add_asset(store, {"type": "video"}, None)
    await classified(store, engine, image, video)

    await patch(store.sm, rule, values=["video"])

    [job] = await jobs(store.sm)
    assert (job.status, job.payload["rule_ids"], job.payload["cause"]) == (
        "queued",
        [str(rule)],
        "mapping_rule.update",
    )
    # Nothing changes until the job runs.
    assert len(await classifications(store.sm, image)) == 1
    assert await run_jobs(engine) == [Outcome.done]

    assert await classifications(store.sm, image) == []
    gone = (await changes(store.sm, image))[-1]
    assert (gone.change, gone.reason) == ("removed", "rule 'images' v2 no longer matches (was v1)")
    assert (gone.job_id, gone.actor, gone.run_id) == (job.id, EDITOR, None)
    [row] = await classifications(store.sm, video)
    assert (row.rule_id, row.rule_version, row.value) == (rule, 2, "video")
    [came] = await changes(store.sm, video)
    assert (came.change, came.reason) == ("added", "rule 'images' v2 (type = \"video\") matched")


async def test_an_edit_that_rolls_back_queues_nothing(store: Store) -> None:
    rule = await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    try:
        async with unit_of_work(store.sm) as session:
            await update_rule(session, rule, RulePatch(values=["video"]), EDITOR)
            raise RuntimeError("the request failed after the edit")
    except RuntimeError:
        pass
    assert [job.payload["cause"] for job in await jobs(store.sm)] == ["mapping_rule.create"]


async def test_renaming_a_rule_reclassifies_nothing(store: Store) -> None:
    rule = await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    await patch(store.sm, rule, name="still images")
    assert [job.payload["cause"] for job in await jobs(store.sm)] == ["mapping_rule.create"]


async def test_disabling_a_rule_hands_its_concepts_to_the_next_rule(
    store: Store, engine: AsyncEngine
) -> None:
    first = await make_rule(
        store.sm,
        name="social tag",
        field_path="tags",
        operator="in",
        values=["social-square"],
        concept="channel:social",
        priority=90,
    )
    second = await make_rule(
        store.sm,
        name="images",
        field_path="type",
        values=["image"],
        concept="channel:social",
        priority=10,
    )
    both = await add_asset(store, {"tags": ["social-square"], "type": "image"}, None)
    only_first = await add_asset(store, {"tags": ["social-square"], "type": "video"}, None)
    await classified(store, engine, both, only_first)
    assert [r.rule_id for r in await classifications(store.sm, both)] == [first]

    await patch(store.sm, first, enabled=False)
    await run_jobs(engine)

    [row] = await classifications(store.sm, both)
    assert (row.rule_id, row.field_path) == (second, "type")
    moved = (await changes(store.sm, both))[-1]
    assert moved.change == "changed"
    assert moved.reason == (
        "now from rule 'images' v1 (type = \"image\"); rule 'social tag' disabled"
    )
    assert await classifications(store.sm, only_first) == []
    assert (await changes(store.sm, only_first))[-1].reason == "rule 'social tag' disabled"


async def test_archiving_a_rule_removes_what_it_classified(
    store: Store, engine: AsyncEngine
) -> None:
    rule = await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    asset = await add_asset(store, {"type": "image"}, None)
    await classified(store, engine, asset)

    async def archive(session: AsyncSession) -> None:
        await archive_rule(session, rule, EDITOR)

    await in_unit_of_work(store.sm, archive)
    [job] = await jobs(store.sm)
    assert job.payload["cause"] == "mapping_rule.archive"
    await run_jobs(engine)

    assert await classifications(store.sm, asset) == []
    last = (await changes(store.sm, asset))[-1]
    assert (last.change, last.reason, last.rule_id) == ("removed", "rule 'images' archived", rule)


async def test_deprecating_a_concept_moves_rule_classifications_to_its_replacement(
    store: Store, engine: AsyncEngine
) -> None:
    rule = await make_rule(
        store.sm,
        name="social",
        field_path="tags",
        operator="in",
        values=["social-square"],
        concept="channel:social",
    )
    asset = await add_asset(store, {"tags": ["social-square"]}, None)
    await classified(store, engine, asset)

    async def manual(session: AsyncSession) -> None:
        session.add(
            Classification(
                asset_id=asset,
                concept_id=store.concepts["channel:social"],
                source="manual",
                created_by=ACTOR,
            )
        )

    await in_unit_of_work(store.sm, manual)

    async def deprecate(session: AsyncSession) -> None:
        await deprecate_concept(session, "channel:social", "channel:web", EDITOR)

    await in_unit_of_work(store.sm, deprecate)
    # Retargeting the rule and deprecating the concept queue one job between them.
    [job] = await jobs(store.sm)
    assert job.payload["concept_ids"] == [str(store.concepts["channel:social"])]
    await run_jobs(engine)

    # The rule's classification moved; the person's stays where they put it.
    assert concepts_of(store, await classifications(store.sm, asset)) == {
        ("channel:social", "manual"),
        ("channel:web", "rule"),
    }
    history = [(c.change, c.concept_key, c.reason) for c in await changes(store.sm, asset)]
    assert history[-2:] == [
        (
            "removed",
            "channel:social",
            "concept 'channel:social' deprecated; replaced by 'channel:web'",
        ),
        ("added", "channel:web", "rule 'social' v2 (tags = \"social-square\") matched"),
    ]
    assert rule


async def test_a_priority_edit_lets_a_rule_win_assets_it_did_not_classify(
    store: Store, engine: AsyncEngine
) -> None:
    tags = await make_rule(
        store.sm,
        name="tags",
        field_path="tags",
        operator="in",
        values=["web"],
        concept="channel:web",
        priority=50,
    )
    kind = await make_rule(
        store.sm,
        name="kind",
        field_path="type",
        values=["image"],
        concept="channel:web",
        priority=10,
    )
    asset = await add_asset(store, {"tags": ["web"], "type": "image"}, None)
    await classified(store, engine, asset)
    assert [r.rule_id for r in await classifications(store.sm, asset)] == [tags]

    await patch(store.sm, kind, priority=99)
    await run_jobs(engine)

    [row] = await classifications(store.sm, asset)
    assert (row.rule_id, row.rule_version) == (kind, 2)
    last = (await changes(store.sm, asset))[-1]
    assert last.reason == "now from rule 'kind' v2 (type = \"image\"); rule 'tags' v1 outranked"


async def test_a_second_job_over_the_same_change_changes_nothing(
    store: Store, engine: AsyncEngine
) -> None:
    rule = await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    asset = await add_asset(store, {"type": "video"}, None)
    await classified(store, engine, asset)
    await patch(store.sm, rule, values=["video"])
    await patch(store.sm, rule, operator="in", values=["video", "gif"])
    assert len(await jobs(store.sm)) == 2
    assert await run_jobs(engine) == [Outcome.done, Outcome.done]
    # The first job already saw the second edit; the second finds nothing left to do.
    [came] = await changes(store.sm, asset)
    assert (came.change, came.rule_version) == ("added", 3)


async def test_an_import_that_deprecates_a_concept_queues_its_reclassification(
    store: Store, engine: AsyncEngine
) -> None:
    """A taxonomy import deprecating a concept re-classifies as deprecating it over REST does:
    one job, the rule moved with the concept."""
    await make_rule(
        store.sm,
        name="social",
        field_path="tags",
        operator="in",
        values=["social-square"],
        concept="channel:social",
    )
    asset = await add_asset(store, {"tags": ["social-square"]}, None)
    await classified(store, engine, asset)

    async def deprecate_by_import(session: AsyncSession) -> None:
        taxonomy = await export_taxonomy(session)
        social = taxonomy.concepts["channel:social"]
        taxonomy.concepts["channel:social"] = dataclasses.replace(
            social, status="deprecated", replaced_by="channel:web"
        )
        await import_taxonomy(session, taxonomy, actor=EDITOR)

    await in_unit_of_work(store.sm, deprecate_by_import)
    [job] = await jobs(store.sm)
    assert job.payload["concept_ids"] == [str(store.concepts["channel:social"])]
    await run_jobs(engine)
    assert concepts_of(store, await classifications(store.sm, asset)) == {("channel:web", "rule")}

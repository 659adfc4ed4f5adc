"""Asset queries: the filtered list, and the rows an asset's detail and trace are built from.

Read-only: nothing here writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    Subquery,
    and_,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import (
    Asset,
    Classification,
    ClassificationChange,
    Concept,
    ConceptBroader,
    ConceptLabel,
    ConceptScheme,
    Connection,
    DesiredTag,
    Link,
    LinkRule,
    LinkRuleVersion,
    MappingRule,
    MappingRuleVersion,
    Run,
    StoredRecord,
    TagRule,
    TagRuleVersion,
)

#: The LIKE escape character of text searches.
ESCAPE = "\\"


@dataclass(frozen=True)
class AssetFilter:
    """Which assets a list shows (every field optional; None: no condition)."""

    connection_id: uuid.UUID | None = None
    #: The concept whose assets, with those of its narrower concepts, are listed.
    concept_id: uuid.UUID | None = None
    #: A text searched in the external id and in each connector's ``text_fields``.
    text: str | None = None
    #: Connector key -> the asset data keys its text search reads.
    text_fields: Mapping[str, Sequence[str]] | None = None
    updated_since: datetime | None = None
    include_deleted: bool = False


def _like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` taken literally."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%")
    return "%" + escaped.replace("_", ESCAPE + "_") + "%"


def _contains(column: SQLColumnExpression[str], pattern: ColumnElement[str]) -> ColumnElement[bool]:
    # Both sides through the database's lower(): a search written in an item's own case
    # always matches, whatever the backend folds beyond ASCII.
    return func.lower(column).like(func.lower(pattern), escape=ESCAPE)


def text_condition(text: str, text_fields: Mapping[str, Sequence[str]]) -> ColumnElement[bool]:
    """The asset's external id, or one of its connector's text fields, contains ``text``
    (case-insensitively)."""
    pattern = literal(_like_pattern(text))
    conditions = [_contains(Asset.external_id, pattern)]
    for connector_key, fields in sorted(text_fields.items()):
        if not fields:
            continue
        of_connector = select(Connection.id).where(Connection.connector_key == connector_key)
        matches = [_contains(Asset.data[field].as_string(), pattern) for field in fields]
        conditions.append(and_(Asset.connection_id.in_(of_connector), or_(*matches)))
    return or_(*conditions)


def concept_and_narrower(concept_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """The ids of the concept and of every concept narrower than it, at any depth."""
    tree = select(Concept.id.label("id")).where(Concept.id == concept_id).cte(recursive=True)
    # UNION (not UNION ALL) also ends the walk should the broader graph ever hold a cycle.
    tree = tree.union(
        select(ConceptBroader.concept_id).join(tree, ConceptBroader.broader_id == tree.c.id)
    )
    return select(tree.c.id)


def assets_query(flt: AssetFilter) -> Select[Asset]:
    """Assets as ``flt`` filters them, in the list's order: by external id, then connection
    (the order of the assets' unique index, and one that a sync never reshuffles)."""
    stmt = select(Asset)
    if flt.connection_id is not None:
        stmt = stmt.where(Asset.connection_id == flt.connection_id)
    if flt.concept_id is not None:
        classified = select(Classification.asset_id).where(
            Classification.concept_id.in_(concept_and_narrower(flt.concept_id))
        )
        stmt = stmt.where(Asset.id.in_(classified))
    if flt.text is not None:
        stmt = stmt.where(text_condition(flt.text, flt.text_fields or {}))
    if flt.updated_since is not None:
        stmt = stmt.where(Asset.updated_at >= flt.updated_since)
    if not flt.include_deleted:
        stmt = stmt.where(Asset.deleted_at.is_(None))
    return stmt.order_by(Asset.external_id, Asset.connection_id)


async def connector_keys_in_use(session: AsyncSession) -> list[str]:
    """The connector keys of the stored connections."""
    rows = await session.scalars(select(Connection.connector_key).distinct())
    return sorted(rows)


async def concept_id_of(session: AsyncSession, key_or_id: str | uuid.UUID) -> uuid.UUID | None:
    """The id of the concept with this key (a string) or id (a UUID), or None."""
    if isinstance(key_or_id, uuid.UUID):
        found = select(Concept.id).where(Concept.id == key_or_id)
    else:
        found = select(Concept.id).where(Concept.key == key_or_id)
    return (await session.execute(found)).scalar_one_or_none()


async def connections_by_id(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Connection]:
    if not ids:
        return {}
    rows = await session.scalars(select(Connection).where(Connection.id.in_(set(ids))))
    return {c.id: c for c in rows}


async def concepts_of(session: AsyncSession, asset_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The distinct (concept id, source) pairs of an asset's classifications."""
    rows = await session.execute(
        select(Classification.concept_id, Classification.source)
        .where(Classification.asset_id == asset_id)
        .distinct()
    )
    return [(concept_id, source) for concept_id, source in rows]


async def classifications_of(
    session: AsyncSession, asset_id: uuid.UUID, *, limit: int | None = None
) -> tuple[list[Classification], int]:
    """An asset's classifications, newest first (the first ``limit``), and how many."""
    where = Classification.asset_id == asset_id
    stmt = select(Classification).where(where)
    stmt = stmt.order_by(Classification.created_at.desc(), Classification.id)
    total = await session.scalar(select(func.count()).select_from(Classification).where(where))
    rows = await session.scalars(stmt if limit is None else stmt.limit(limit))
    return list(rows), int(total or 0)


async def links_of(
    session: AsyncSession, asset_id: uuid.UUID, *, limit: int
) -> tuple[list[Link], int]:
    """An asset's links, newest first (the first ``limit``), and how many."""
    where = Link.asset_id == asset_id
    stmt = select(Link).where(where).order_by(Link.created_at.desc(), Link.id).limit(limit)
    total = await session.scalar(select(func.count()).select_from(Link).where(where))
    return list(await session.scalars(stmt)), int(total or 0)


def _classifying_runs(asset_id: uuid.UUID) -> Subquery:
    """The runs named by the asset's classifications and by their history (a run that
    removed a classification touched the asset too)."""
    current = select(Classification.run_id.label("run_id")).where(
        Classification.asset_id == asset_id
    )
    past = select(ClassificationChange.run_id.label("run_id")).where(
        ClassificationChange.asset_id == asset_id
    )
    return current.union(past).subquery()


def _linking_runs(asset_id: uuid.UUID) -> Subquery:
    return select(Link.run_id.label("run_id")).where(Link.asset_id == asset_id).subquery()


def _scoring_runs(asset_id: uuid.UUID) -> Subquery:
    return (
        select(DesiredTag.run_id.label("run_id")).where(DesiredTag.asset_id == asset_id).subquery()
    )


@dataclass(frozen=True)
class RunsTouching:
    """The runs of an asset's trace (newest first), how many there are, and which of them
    classified, linked and scored it."""

    runs: list[Run]
    total: int
    classified: set[uuid.UUID]
    linked: set[uuid.UUID]
    scored: set[uuid.UUID]


async def runs_touching(session: AsyncSession, asset: Asset, *, limit: int) -> RunsTouching:
    """The runs that changed, read, classified, linked or scored ``asset`` (the first
    ``limit``, newest first)."""
    own = [i for i in (asset.last_run_id, asset.seen_run_id) if i is not None]
    classifying, linking = _classifying_runs(asset.id), _linking_runs(asset.id)
    scoring = _scoring_runs(asset.id)
    wanted = or_(
        Run.id.in_(own) if own else false(),
        Run.id.in_(select(classifying.c.run_id)),
        Run.id.in_(select(linking.c.run_id)),
        Run.id.in_(select(scoring.c.run_id)),
    )
    total = await session.scalar(select(func.count()).select_from(Run).where(wanted))
    stmt = select(Run).where(wanted).order_by(Run.created_at.desc(), Run.id).limit(limit)
    runs = list(await session.scalars(stmt))
    ids = [r.id for r in runs]
    classified: set[uuid.UUID] = set(
        await session.scalars(select(classifying.c.run_id).where(classifying.c.run_id.in_(ids)))
    )
    linked: set[uuid.UUID] = set(
        await session.scalars(select(linking.c.run_id).where(linking.c.run_id.in_(ids)))
    )
    scored: set[uuid.UUID] = set(
        await session.scalars(select(scoring.c.run_id).where(scoring.c.run_id.in_(ids)))
    )
    return RunsTouching(runs, int(total or 0), classified, linked, scored)


@dataclass(frozen=True)
class ConceptRow:
    key: str
    scheme: str
    status: str
    pref_label: dict[str, str]


async def concepts_by_id(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, ConceptRow]:
    """Key, scheme, status and preferred labels of the given concepts."""
    if not ids:
        return {}
    wanted = set(ids)
    rows = await session.execute(
        select(Concept.id, Concept.key, ConceptScheme.key, Concept.status)
        .join(ConceptScheme, ConceptScheme.id == Concept.scheme_id)
        .where(Concept.id.in_(wanted))
    )
    labels: dict[uuid.UUID, dict[str, str]] = {i: {} for i in wanted}
    for concept_id, lang, text in await session.execute(
        select(ConceptLabel.concept_id, ConceptLabel.lang, ConceptLabel.text)
        .where(ConceptLabel.concept_id.in_(wanted), ConceptLabel.kind == "pref")
        .order_by(ConceptLabel.lang)
    ):
        labels[concept_id][lang] = text
    return {
        cid: ConceptRow(key=key, scheme=scheme, status=status, pref_label=labels[cid])
        for cid, key, scheme, status in rows
    }


async def records_by_id(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, StoredRecord]:
    if not ids:
        return {}
    rows = await session.scalars(select(StoredRecord).where(StoredRecord.id.in_(set(ids))))
    return {r.id: r for r in rows}


RuleRefs = Collection[tuple[uuid.UUID, int | None]]
RuleNames = dict[tuple[uuid.UUID, int | None], str]


async def _rule_names(
    session: AsyncSession,
    refs: RuleRefs,
    current: type[MappingRule] | type[LinkRule] | type[TagRule],
    frozen: type[MappingRuleVersion] | type[LinkRuleVersion] | type[TagRuleVersion],
) -> RuleNames:
    """The name of each rule at each version asked for (the current name when the version
    is unknown or was never frozen)."""
    if not refs:
        return {}
    rule_ids = {rule_id for rule_id, _ in refs}
    versions = {version for _, version in refs if version is not None}
    named = await session.execute(select(current.id, current.name).where(current.id.in_(rule_ids)))
    now: dict[uuid.UUID, str] = dict(named.all())
    then: RuleNames = {
        (rule_id, version): name
        for rule_id, version, name in await session.execute(
            select(frozen.rule_id, frozen.version, frozen.name).where(
                frozen.rule_id.in_(rule_ids), frozen.version.in_(versions)
            )
        )
    }
    out: RuleNames = {}
    for ref in refs:
        name = then.get(ref) or now.get(ref[0])
        if name is not None:
            out[ref] = name
    return out


async def mapping_rule_names(session: AsyncSession, refs: RuleRefs) -> RuleNames:
    """Mapping rules' names at the given versions (see :func:`_rule_names`)."""
    return await _rule_names(session, refs, MappingRule, MappingRuleVersion)


async def link_rule_names(session: AsyncSession, refs: RuleRefs) -> RuleNames:
    """Link rules' names at the given versions (see :func:`_rule_names`)."""
    return await _rule_names(session, refs, LinkRule, LinkRuleVersion)


async def tag_rule_names(session: AsyncSession, refs: RuleRefs) -> RuleNames:
    """Tag rules' names at the given versions (see :func:`_rule_names`)."""
    return await _rule_names(session, refs, TagRule, TagRuleVersion)


async def tag_rule_versions(
    session: AsyncSession, refs: RuleRefs
) -> dict[tuple[uuid.UUID, int | None], TagRuleVersion]:
    """The given versions of tag rules, those that exist."""
    if not refs:
        return {}
    rows = await session.scalars(
        select(TagRuleVersion).where(
            TagRuleVersion.rule_id.in_({rule_id for rule_id, _ in refs}),
            TagRuleVersion.version.in_({v for _, v in refs if v is not None}),
        )
    )
    found = {(row.rule_id, row.version): row for row in rows}
    return {ref: found[ref] for ref in refs if ref in found}


async def desired_tags_of(
    session: AsyncSession, asset_id: uuid.UUID, *, limit: int
) -> tuple[list[DesiredTag], int]:
    """The asset's desired performance tags, newest first (the first ``limit``), and how
    many there are."""
    mine = DesiredTag.asset_id == asset_id
    total = await session.scalar(select(func.count()).select_from(DesiredTag).where(mine))
    rows = await session.scalars(
        select(DesiredTag)
        .where(mine)
        .order_by(DesiredTag.computed_at.desc(), DesiredTag.id.desc())
        .limit(limit)
    )
    return list(rows), int(total or 0)


async def concepts_by_key(session: AsyncSession, keys: Collection[str]) -> dict[str, ConceptRow]:
    """Key, scheme, status and preferred labels of the given concepts that exist, by key."""
    if not keys:
        return {}
    ids = await session.scalars(select(Concept.id).where(Concept.key.in_(set(keys))))
    return {row.key: row for row in (await concepts_by_id(session, set(ids))).values()}

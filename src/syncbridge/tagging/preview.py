"""Dry-running a tag rule over the current metric facts: how many assets would gain, keep or
lose each tag, against the rule's stored desired tags (none for a new rule). Nothing is
written; scoring and tallying run off the event loop."""

from __future__ import annotations

import heapq
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.errors import Conflict, InvalidInput
from syncbridge.offload import run_cpu
from syncbridge.scoring.score import Score, score_assets
from syncbridge.scoring.service import RuleSnapshot, read_inputs
from syncbridge.tagging import repository
from syncbridge.tagging.schemas import (
    Change,
    PreviewAsset,
    PreviewTag,
    TagRulePatch,
    TagRulePreview,
    TagRulePreviewRequest,
)
from syncbridge.tagging.service import check_rule, get_rule, patched_content, rule_content

__all__ = ["Tally", "preview_rule", "tally"]

#: The id a new rule is scored under (it has none yet).
_DRAFT = uuid.UUID(int=0)
#: An example candidate: its rank, its tie-break key, and its score (or the id of an asset
#: no longer scored).
_Entry = tuple[float, int, Score | uuid.UUID]


@dataclass
class TagTally:
    """One tag's counts, and its example assets per kind of change."""

    gain: int = 0
    keep: int = 0
    lose: int = 0
    examples: dict[Change, list[_Entry]] = field(
        default_factory=lambda: {"gain": [], "keep": [], "lose": []}
    )


@dataclass
class Tally:
    """What the previewed rule changes: per tag, and the assets whose tag changes."""

    tags: dict[str, TagTally]
    changing: int


def _offer(
    bucket: list[_Entry], limit: int, rank: float, item: Score | uuid.UUID, asset_id: uuid.UUID
) -> None:
    """Keep the ``limit`` best items of a bucket (a min-heap of the kept ones): the highest
    ``rank`` first, ties by the smallest asset id."""
    entry = (rank, -asset_id.int, item)
    if len(bucket) < limit:
        heapq.heappush(bucket, entry)
    elif limit and entry[:2] > bucket[0][:2]:
        heapq.heapreplace(bucket, entry)


def tally(
    scores: Sequence[Score], current: Mapping[uuid.UUID, str], order: Sequence[str], examples: int
) -> Tally:
    """Compare ``scores`` (the previewed rule) with ``current`` (asset -> stored tag). Tags
    come in ``order``, then any only ``current`` has. Examples: the best ranked first (a
    lost tag of an asset no longer scored ranks last)."""
    tags: dict[str, TagTally] = {concept: TagTally() for concept in order}
    changing = 0
    scored: set[uuid.UUID] = set()
    for score in scores:
        scored.add(score.asset_id)
        rank = -math.inf if score.smoothed is None else score.smoothed
        before = current.get(score.asset_id)
        after = tags.setdefault(score.concept, TagTally())
        if before == score.concept:
            after.keep += 1
            _offer(after.examples["keep"], examples, rank, score, score.asset_id)
            continue
        changing += 1
        after.gain += 1
        _offer(after.examples["gain"], examples, rank, score, score.asset_id)
        if before is not None:
            lost = tags.setdefault(before, TagTally())
            lost.lose += 1
            _offer(lost.examples["lose"], examples, rank, score, score.asset_id)
    for asset_id, before in current.items():
        if asset_id not in scored:  # deleted in its DAM: its tag goes
            changing += 1
            lost = tags.setdefault(before, TagTally())
            lost.lose += 1
            _offer(lost.examples["lose"], examples, -math.inf, asset_id, asset_id)
    return Tally(tags, changing)


async def _content(
    session: AsyncSession, body: TagRulePreviewRequest
) -> tuple[dict[str, Any], uuid.UUID | None, int | None, str]:
    """The previewed content, the saved rule and version it edits, and the error prefix."""
    if body.rule is not None:
        return rule_content(body.rule), None, None, "rule."
    assert body.rule_id is not None  # the request's validator says so
    rule = await get_rule(session, body.rule_id)
    if rule.archived_at is not None:
        raise Conflict(f"Tag rule {rule.id} is archived and cannot be edited.")
    try:
        content = patched_content(rule, body.changes or TagRulePatch())
        return content, rule.id, rule.version, "changes."
    except InvalidInput as exc:
        raise _prefixed(exc, "changes.", body) from None


def _prefixed(exc: InvalidInput, prefix: str, body: TagRulePreviewRequest) -> InvalidInput:
    """``exc`` with its fields named as in the request: under ``rule.`` or ``changes.``; a
    saved rule's own fault (a field the changes leave alone) names ``rule_id``."""
    given = body.changes.model_fields_set if body.changes is not None else set()
    errors = []
    for error in exc.errors:
        name = str(error["field"])
        if body.rule is None and name.split(".")[0] not in given:
            reason = f"the saved rule's {name}: {error['reason']}"
            errors.append({**error, "field": "rule_id", "reason": reason})
        else:
            errors.append({**error, "field": f"{prefix}{name}"})
    return InvalidInput(exc.detail, errors=errors)


async def preview_rule(session: AsyncSession, body: TagRulePreviewRequest) -> TagRulePreview:
    """What the rule of ``body`` would tag over the current facts; writes nothing. Raises
    InvalidInput (fields prefixed ``rule.`` or ``changes.``), NotFound (unknown rule_id)
    and Conflict (an archived rule)."""
    content, rule_id, version, prefix = await _content(session, body)
    try:
        await check_rule(session, content)
    except InvalidInput as exc:
        raise _prefixed(exc, prefix, body) from None
    snapshot = RuleSnapshot.of_content(rule_id or _DRAFT, version or 1, content)
    inputs = await read_inputs(session, snapshot)
    current = {} if rule_id is None else await repository.desired_concepts(session, rule_id)
    scores = await run_cpu(score_assets, snapshot.spec, inputs.samples)
    order = [t["concept"] for t in content["tiers"]] + [content["insufficient_concept"]]
    result = await run_cpu(tally, scores, current, order, body.examples)
    return TagRulePreview(
        rule_id=rule_id,
        version=version,
        name=content["name"],
        window_start=inputs.window_start,
        window_end=inputs.window_end,
        assets=len(scores),
        changing=result.changing,
        tags=await _tags(session, result, current),
    )


async def _tags(
    session: AsyncSession, result: Tally, current: Mapping[uuid.UUID, str]
) -> list[PreviewTag]:
    picked = [
        (concept, change, item)
        for concept, t in result.tags.items()
        for change, bucket in t.examples.items()
        for _rank, _key, item in sorted(bucket, reverse=True)
    ]
    ids = {item if isinstance(item, uuid.UUID) else item.asset_id for _c, _ch, item in picked}
    refs = await repository.asset_refs(session, ids)
    shown: dict[str, list[PreviewAsset]] = {concept: [] for concept in result.tags}
    for concept, change, item in picked:
        asset_id = item if isinstance(item, uuid.UUID) else item.asset_id
        connection_id, external_id = refs[asset_id]
        score = None if isinstance(item, uuid.UUID) else item
        shown[concept].append(
            PreviewAsset(
                asset_id=asset_id,
                connection_id=connection_id,
                external_id=external_id,
                change=change,
                concept_before=current.get(asset_id),
                concept_after=None if score is None else score.concept,
                cohort=None if score is None else score.cohort,
                cohort_size=None if score is None else score.cohort_size,
                sample=None if score is None else score.sample,
                kpi=None if score is None else score.kpi,
                smoothed=None if score is None else score.smoothed,
                percentile=None if score is None else score.percentile,
            )
        )
    return [
        PreviewTag(
            concept=concept,
            gain=t.gain,
            keep=t.keep,
            lose=t.lose,
            after=t.gain + t.keep,
            examples=shown[concept],
        )
        for concept, t in result.tags.items()
    ]

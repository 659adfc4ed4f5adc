"""Deciding an asset's rule classifications (pure: values in, values out).

Semantics
---------
* **Sources.** An asset is classified from its own data, under the rules of its scope
  (connector, connection, stream), and from the data of each live record linked to it,
  under the rules of that record's scope. Evaluation is mapping's
  (:meth:`syncbridge.mapping.evaluate.RuleSet.evaluate`): per source, one match per concept.
* **Winner.** A concept reached through several rules or sources keeps one provenance: the
  rule mapping evaluation ranks first (higher priority, then the lower rule id in string
  order); for the same rule, the asset's own data before a record, and records in id order.
* **Tombstones.** A deleted asset has no rule classifications.
* **Diff.** Against the asset's current rule classifications: a new concept is *added*, a
  concept no longer reached is *removed*, a concept reached with another rule, rule version,
  record, field or value is *changed* (kept, its provenance rewritten). The run that brought
  the matched data is provenance but not a change. Manual classifications are never input.

Every change carries a reason a person can read (see :func:`removal_reason`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from syncbridge.mapping.evaluate import Match, RuleSet, Scope, TaxonomyView

__all__ = [
    "AssetInput",
    "Change",
    "CurrentRow",
    "Provenance",
    "RuleFact",
    "RuleFacts",
    "Source",
    "decide",
    "desired",
    "explain",
    "removal_reason",
    "rules_named",
]

#: How much of a matched value a reason quotes.
VALUE_CHARS = 120


@dataclass(frozen=True, slots=True)
class Source:
    """Data rules read for one asset: the asset itself (``record_id`` None) or a record."""

    scope: Scope
    data: Mapping[str, Any]
    record_id: uuid.UUID | None = None
    #: The run that last changed this data (provenance, not compared).
    run_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class AssetInput:
    """One asset to classify: its own data and the live records linked to it."""

    asset_id: uuid.UUID
    deleted: bool
    own: Source
    records: tuple[Source, ...] = ()


@dataclass(frozen=True, slots=True)
class Provenance:
    """Why a rule classification holds: the rule (version), the record, the field and value."""

    rule_id: uuid.UUID
    rule_version: int | None
    record_id: uuid.UUID | None
    field_path: str | None
    value: Any
    run_id: uuid.UUID | None = None
    priority: int = 0

    def same(self, other: Provenance) -> bool:
        """Equal provenance, the run and the priority aside."""
        return (
            self.rule_id == other.rule_id
            and self.rule_version == other.rule_version
            and self.record_id == other.record_id
            and self.field_path == other.field_path
            and _json(self.value) == _json(other.value)
        )


@dataclass(frozen=True, slots=True)
class CurrentRow:
    """A stored rule classification."""

    id: uuid.UUID
    asset_id: uuid.UUID
    concept_id: uuid.UUID
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class RuleFact:
    """What reasons say about a saved rule as it is now."""

    name: str
    version: int
    priority: int
    enabled: bool
    archived: bool


RuleFacts = Mapping[uuid.UUID, RuleFact]


@dataclass(frozen=True, slots=True)
class Change:
    """One rule classification added, changed or removed (``reason`` set by :func:`explain`)."""

    change: str
    asset_id: uuid.UUID
    concept_id: uuid.UUID
    #: The provenance after the change (for a removal: the one that went).
    provenance: Provenance
    #: The provenance before a change of provenance.
    previous: Provenance | None = None
    #: The stored row (None for an addition: the writer assigns it).
    row_id: uuid.UUID | None = None
    reason: str = ""


Evaluate = Callable[[Source], Sequence[Match]]


def _rank(match: Match, source: Source) -> tuple[int, str, int, str]:
    origin = (0, "") if source.record_id is None else (1, str(source.record_id))
    return (-match.priority, match.rule_id, *origin)


def desired(asset: AssetInput, evaluate: Evaluate) -> dict[uuid.UUID, Provenance]:
    """The concepts ``asset`` lands on, each with its winning provenance (see module doc)."""
    if asset.deleted:
        return {}
    best: dict[uuid.UUID, tuple[tuple[int, str, int, str], Provenance]] = {}
    for source in (asset.own, *asset.records):
        for match in evaluate(source):
            rank = _rank(match, source)
            held = best.get(match.concept_id)
            if held is None or rank < held[0]:
                best[match.concept_id] = (rank, _provenance(match, source))
    return {concept_id: prov for concept_id, (_rank_, prov) in best.items()}


def _provenance(match: Match, source: Source) -> Provenance:
    return Provenance(
        rule_id=uuid.UUID(match.rule_id),
        rule_version=match.rule_version,
        record_id=source.record_id,
        field_path=match.field_path,
        value=match.matched_value,
        run_id=source.run_id,
        priority=match.priority,
    )


def evaluator(rule_sets: Mapping[Scope, RuleSet]) -> Evaluate:
    """Evaluation of sources under ``rule_sets``, each record evaluated once however many
    assets it is linked to."""
    memo: dict[uuid.UUID, Sequence[Match]] = {}

    def evaluate(source: Source) -> Sequence[Match]:
        rule_set = rule_sets.get(source.scope)
        if rule_set is None or rule_set.rule_count == 0:
            return ()
        if source.record_id is None:
            return rule_set.evaluate(source.data)
        found = memo.get(source.record_id)
        if found is None:
            found = memo[source.record_id] = rule_set.evaluate(source.data)
        return found

    return evaluate


def decide(
    assets: Sequence[AssetInput], current: Iterable[CurrentRow], rule_sets: Mapping[Scope, RuleSet]
) -> list[Change]:
    """The changes that bring ``assets``' rule classifications to what the rules say now
    (``current``: their stored rule classifications); reasons are left to :func:`explain`."""
    evaluate = evaluator(rule_sets)
    held: dict[uuid.UUID, dict[uuid.UUID, CurrentRow]] = {}
    for row in current:
        held.setdefault(row.asset_id, {})[row.concept_id] = row
    changes: list[Change] = []
    for asset in assets:
        want = desired(asset, evaluate)
        have = held.get(asset.asset_id, {})
        for concept_id in sorted(have.keys() - want.keys(), key=str):
            gone = have[concept_id]
            changes.append(
                Change("removed", asset.asset_id, concept_id, gone.provenance, row_id=gone.id)
            )
        for concept_id in sorted(want.keys(), key=str):
            new, kept = want[concept_id], have.get(concept_id)
            if kept is None:
                changes.append(Change("added", asset.asset_id, concept_id, new))
            elif not kept.provenance.same(new):
                changes.append(
                    Change("changed", asset.asset_id, concept_id, new, kept.provenance, kept.id)
                )
    return changes


def rules_named(changes: Iterable[Change]) -> set[uuid.UUID]:
    """The rules :func:`explain` needs facts about."""
    found: set[uuid.UUID] = set()
    for change in changes:
        found.add(change.provenance.rule_id)
        if change.previous is not None:
            found.add(change.previous.rule_id)
    return found


def explain(
    changes: Sequence[Change],
    assets: Mapping[uuid.UUID, AssetInput],
    taxonomy: TaxonomyView,
    facts: RuleFacts,
) -> list[Change]:
    """``changes`` with their reasons, from the state of things now (``facts`` should cover
    :func:`rules_named`; a missing rule reads as gone)."""
    out: list[Change] = []
    for change in changes:
        asset = assets[change.asset_id]
        linked: set[uuid.UUID | None] = {s.record_id for s in asset.records}
        if change.change == "added":
            why = f"{describe(change.provenance, facts)} matched"
        elif change.change == "removed":
            why = removal_reason(
                change.provenance, change.concept_id, asset, linked, taxonomy, facts
            )
        else:
            assert change.previous is not None
            why = change_reason(change.previous, change.provenance, linked, facts)
        out.append(replace(change, reason=why))
    return out


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _rule(rule_id: uuid.UUID, version: int | None, facts: RuleFacts) -> str:
    fact = facts.get(rule_id)
    name = f"rule '{fact.name}'" if fact is not None else f"rule {rule_id}"
    return name if version is None else f"{name} v{version}"


def describe(prov: Provenance, facts: RuleFacts) -> str:
    """``rule 'R' v3 (field = value on record X)``."""
    value = _json(prov.value)
    if len(value) > VALUE_CHARS:
        value = value[: VALUE_CHARS - 3] + "..."
    where = f"{prov.field_path} = {value}"
    if prov.record_id is not None:
        where += f" on linked record {prov.record_id}"
    return f"{_rule(prov.rule_id, prov.rule_version, facts)} ({where})"


def removal_reason(
    old: Provenance,
    concept_id: uuid.UUID,
    asset: AssetInput,
    linked: set[uuid.UUID | None],
    taxonomy: TaxonomyView,
    facts: RuleFacts,
) -> str:
    """Why a rule classification went, from the state of things now (first cause wins)."""
    if asset.deleted:
        return "asset deleted"
    deprecated = _deprecation(concept_id, taxonomy)
    if deprecated is not None:
        return deprecated
    return _why_rule_lost(old, linked, facts)


def _why_rule_lost(old: Provenance, linked: set[uuid.UUID | None], facts: RuleFacts) -> str:
    fact = facts.get(old.rule_id)
    if fact is None:
        return f"rule {old.rule_id} no longer exists"
    name = f"rule '{fact.name}'"
    if fact.archived:
        return f"{name} archived"
    if not fact.enabled:
        return f"{name} disabled"
    if old.record_id is not None and old.record_id not in linked:
        return f"record {old.record_id} no longer linked to the asset (or deleted)"
    was = f" (was v{old.rule_version})" if old.rule_version != fact.version else ""
    return f"{name} v{fact.version} no longer matches{was}"


def _deprecation(concept_id: uuid.UUID, taxonomy: TaxonomyView) -> str | None:
    concept = taxonomy.concepts.get(concept_id)
    if concept is None or concept.status != "deprecated":
        return None
    target = taxonomy.effective(concept_id)
    if target is None:
        return f"concept '{concept.key}' deprecated; no replacement"
    return f"concept '{concept.key}' deprecated; replaced by '{target.key}'"


def change_reason(
    old: Provenance, new: Provenance, linked: set[uuid.UUID | None], facts: RuleFacts
) -> str:
    """Why a kept classification's provenance changed."""
    if old.rule_id == new.rule_id:
        if old.record_id != new.record_id:
            was = "the asset" if old.record_id is None else f"record {old.record_id}"
            return f"{describe(new, facts)} matched; it matched {was} before"
        if old.rule_version != new.rule_version:
            return f"{describe(new, facts)} still matches (was v{old.rule_version})"
        return f"{describe(new, facts)} matches another value"
    fact = facts.get(old.rule_id)
    outranked = (
        fact is not None
        and fact.enabled
        and not fact.archived
        and (-new.priority, str(new.rule_id)) < (-fact.priority, str(old.rule_id))
    )
    if outranked:
        why = f"{_rule(old.rule_id, old.rule_version, facts)} outranked"
    else:
        why = _why_rule_lost(old, linked, facts)
    return f"now from {describe(new, facts)}; {why}"

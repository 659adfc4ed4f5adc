"""Why a tag rule is invalid, field by field.

:func:`rule_errors` checks what the rule says on its own (a KPI's data source, smoothing for
rates only, tiers covering 0..100 without gap or overlap, one target per connection);
:func:`store_errors` checks it against the store (cohort schemes, tier concepts of the
``performance-tier`` scheme that are not deprecated, target connections of a DAM whose
connector takes the mode). Fields are named as in the request (``tiers.2.from_percentile``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.metrics.facts import ANALYTICS_METRICS, DEAL_METRICS
from syncbridge.models import ConceptStatus
from syncbridge.tagging import repository

#: The metrics a KPI may read: those the metric facts provide (``syncbridge.metrics.facts``).
METRICS = frozenset(ANALYTICS_METRICS.values()) | frozenset(DEAL_METRICS)
#: The scheme whose concepts are the tiers.
TIER_SCHEME = "performance-tier"
#: How tags may land, per DAM connector. The folder DAM keeps its tags as XMP keywords.
MODES_BY_CONNECTOR: Mapping[str, frozenset[str]] = {
    "bynder": frozenset({"tags", "bynder_metaproperty"}),
    "cloudinary": frozenset({"tags", "cloudinary_metadata", "cloudinary_context"}),
    "localfolder": frozenset({"xmp_keywords"}),
}

Errors = list[dict[str, str]]

__all__ = ["METRICS", "MODES_BY_CONNECTOR", "TIER_SCHEME", "rule_errors", "store_errors"]


def _error(field: str, reason: str) -> dict[str, str]:
    return {"field": field, "reason": reason}


def _kpi_errors(kpi: Mapping[str, Any], smoothing: Mapping[str, Any] | None) -> Errors:
    errors: Errors = []
    names = ("metric",) if kpi["type"] == "count" else ("numerator", "denominator")
    known = ", ".join(sorted(METRICS))
    for name in names:
        if kpi[name] not in METRICS:
            reason = f"no data source: {kpi[name]!r} is not a metric (one of {known})"
            errors.append(_error(f"kpi.{name}", reason))
    if kpi["type"] == "rate" and kpi["numerator"] == kpi["denominator"]:
        errors.append(_error("kpi.denominator", "the same metric as the numerator"))
    if kpi["type"] == "count" and smoothing is not None:
        errors.append(_error("smoothing", "a count takes no smoothing"))
    if kpi["type"] == "rate" and smoothing is None:
        errors.append(_error("smoothing", "a rate needs smoothing (wilson or bayes)"))
    return errors


def _tier_errors(tiers: list[Mapping[str, Any]], insufficient: str) -> Errors:
    """Each tier a band with a distinct concept; together 0..100 exactly, no gap, no overlap."""
    errors: Errors = []
    seen: dict[str, int] = {}
    for i, tier in enumerate(tiers):
        if tier["concept"] in seen:
            reason = f"also the concept of tiers.{seen[tier['concept']]}"
            errors.append(_error(f"tiers.{i}.concept", reason))
        seen.setdefault(tier["concept"], i)
        if tier["concept"] == insufficient:
            errors.append(_error(f"tiers.{i}.concept", "is the insufficient_concept"))
    empty = [i for i, t in enumerate(tiers) if t["to_percentile"] <= t["from_percentile"]]
    if empty:
        return errors + [
            _error(f"tiers.{i}.to_percentile", "must be above from_percentile") for i in empty
        ]
    return errors + _coverage_errors(tiers)


def _coverage_errors(tiers: list[Mapping[str, Any]]) -> Errors:
    """Bands (each non-empty) that do not cover 0..100 exactly once."""
    errors: Errors = []
    order = sorted(range(len(tiers)), key=lambda i: (tiers[i]["from_percentile"], i))
    if tiers[order[0]]["from_percentile"] != 0:
        errors.append(
            _error(f"tiers.{order[0]}.from_percentile", "the lowest tier must start at 0")
        )
    top = max(range(len(tiers)), key=lambda i: tiers[i]["to_percentile"])
    if tiers[top]["to_percentile"] != 100:
        errors.append(_error(f"tiers.{top}.to_percentile", "the highest tier must end at 100"))
    for below, above in pairwise(order):
        end, start = tiers[below]["to_percentile"], tiers[above]["from_percentile"]
        if start > end:
            reason = f"gap: no tier covers {end:g} to {start:g}"
            errors.append(_error(f"tiers.{above}.from_percentile", reason))
        elif start < end:
            reason = f"overlaps tiers.{below} ({start:g} to {end:g})"
            errors.append(_error(f"tiers.{above}.from_percentile", reason))
    return errors


def rule_errors(content: Mapping[str, Any]) -> Errors:
    """Field-level reasons the rule is invalid on its own (empty when it is valid)."""
    errors = _kpi_errors(content["kpi"], content["smoothing"])
    for i, scheme in enumerate(content["cohort_by"]):
        if scheme in content["cohort_by"][:i]:
            errors.append(_error(f"cohort_by.{i}", f"{scheme!r} is listed twice"))
        elif scheme == TIER_SCHEME:
            errors.append(_error(f"cohort_by.{i}", "the tiers cannot define their own cohorts"))
    errors += _tier_errors(content["tiers"], content["insufficient_concept"])
    seen: set[str] = set()
    for i, target in enumerate(content["targets"]):
        connection = str(target["connection_id"])
        if connection in seen:
            errors.append(_error(f"targets.{i}.connection_id", "a connection has one target"))
        seen.add(connection)
    return errors


async def _concept_errors(session: AsyncSession, content: Mapping[str, Any]) -> Errors:
    wanted = [(f"tiers.{i}.concept", t["concept"]) for i, t in enumerate(content["tiers"])]
    wanted.append(("insufficient_concept", content["insufficient_concept"]))
    found = await repository.concepts_with_scheme(session, [key for _, key in wanted])
    errors: Errors = []
    for field, key in wanted:
        concept = found.get(key)
        if concept is None:
            errors.append(_error(field, f"no concept with key {key!r}"))
        elif concept.scheme_key != TIER_SCHEME:
            reason = f"{key!r} is a concept of {concept.scheme_key!r}, not of {TIER_SCHEME!r}"
            errors.append(_error(field, reason))
        elif concept.status == ConceptStatus.deprecated.value:
            replaced = f" (replaced by {concept.replaced_by!r})" if concept.replaced_by else ""
            errors.append(_error(field, f"the concept is deprecated{replaced}"))
    return errors


async def _target_errors(session: AsyncSession, targets: list[Mapping[str, Any]]) -> Errors:
    ids = [uuid.UUID(str(t["connection_id"])) for t in targets]
    connectors = await repository.connector_keys(session, ids)
    errors: Errors = []
    for i, (target, connection_id) in enumerate(zip(targets, ids, strict=True)):
        connector = connectors.get(connection_id)
        modes = MODES_BY_CONNECTOR.get(connector or "")
        if connector is None:
            errors.append(_error(f"targets.{i}.connection_id", "no such connection"))
        elif modes is None:
            reason = f"a {connector} connection, not a DAM (bynder, cloudinary, localfolder)"
            errors.append(_error(f"targets.{i}.connection_id", reason))
        elif target["mode"] not in modes:
            reason = f"a {connector} connection takes {', '.join(sorted(modes))}"
            errors.append(_error(f"targets.{i}.mode", reason))
    return errors


async def store_errors(session: AsyncSession, content: Mapping[str, Any]) -> Errors:
    """Field-level reasons the rule does not fit the store (empty when it does)."""
    errors: Errors = []
    schemes = await repository.scheme_keys(session)
    for i, scheme in enumerate(content["cohort_by"]):
        if scheme not in schemes:
            errors.append(_error(f"cohort_by.{i}", f"no taxonomy scheme {scheme!r}"))
    errors += await _concept_errors(session, content)
    errors += await _target_errors(session, content["targets"])
    return errors

"""How desired performance tags land in a DAM, and the owned-tag difference (pure).

A tag rule's targets say, per DAM connection, how its tier concept lands (see
``syncbridge.tagging.schemas``): owned prefixed tags (``tags``, ``xmp_keywords``), a Bynder
metaproperty (its options follow the owned tags: the connection's ``owned_metaproperty_id``
names it, so the tier also lands as an owned tag), a Cloudinary structured-metadata field or
context key (the tier's key after ``perf:``, such as ``top-10``). A rule without targets
lands on every DAM connection as owned tags with the prefix ``perf:``; a rule with targets
lands only on the connections it names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The namespace of the performance-tier concept keys.
CONCEPT_PREFIX = "perf:"
DEFAULT_PREFIX = "perf:"
_METADATA_KEY = {"cloudinary_metadata": "field", "cloudinary_context": "key"}


@dataclass(frozen=True)
class OwnedState:
    """The owned tags and metadata of one asset in one DAM (metadata None: cleared)."""

    tags: frozenset[str] = frozenset()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def same_as(self, other: OwnedState) -> bool:
        """Equal tags, and equal metadata once cleared keys are left out."""
        return self.tags == other.tags and _set(self.metadata) == _set(other.metadata)

    def against(self, confirmed: OwnedState) -> OwnedState:
        """This state, with every metadata key ``confirmed`` holds and this one lacks
        cleared (set to None): what to send so nothing owned is left behind."""
        cleared = {k: None for k in _set(confirmed.metadata) if k not in self.metadata}
        return OwnedState(self.tags, {**cleared, **self.metadata})

    def key(self) -> str:
        """A digest of the state, equal exactly when :meth:`same_as` holds."""
        canonical = json.dumps(
            [sorted(self.tags), _set(self.metadata)],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def tag_list(self) -> list[str]:
        return sorted(self.tags)

    def metadata_dict(self) -> dict[str, Any]:
        return dict(sorted(self.metadata.items()))


def _set(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if v is not None}


def tier_suffix(concept: str) -> str:
    """The tier concept's key after ``perf:`` (``perf:top-10`` -> ``top-10``)."""
    return concept.removeprefix(CONCEPT_PREFIX)


def landing(targets: Sequence[Mapping[str, Any]], connection_id: str) -> Mapping[str, Any] | None:
    """The target of a rule for ``connection_id`` (None: the rule does not land there)."""
    if not targets:
        return {"mode": "tags", "prefix": DEFAULT_PREFIX}
    for target in targets:
        if str(target.get("connection_id")) == connection_id:
            return target
    return None


def owned_state(landed: Iterable[tuple[Mapping[str, Any], str]]) -> OwnedState:
    """The owned state of one asset from each rule's ``(target, concept)``; where two rules
    set one metadata key, the first (oldest rule) wins."""
    tags: set[str] = set()
    metadata: dict[str, Any] = {}
    for target, concept in landed:
        mode = str(target.get("mode"))
        key = _METADATA_KEY.get(mode)
        if key is not None:
            metadata.setdefault(str(target[key]), tier_suffix(concept))
        else:
            prefix = str(target.get("prefix") or DEFAULT_PREFIX)
            tags.add(prefix + tier_suffix(concept))
    return OwnedState(frozenset(tags), metadata)


@dataclass(frozen=True)
class OwnedDiff:
    """What to change so an asset holds its desired owned state."""

    add: frozenset[str]
    remove: frozenset[str]
    metadata: Mapping[str, Any]

    @property
    def empty(self) -> bool:
        return not (self.add or self.remove or self.metadata)


def diff(
    desired: OwnedState,
    current_tags: Iterable[str],
    current_metadata: Mapping[str, Any],
    prefix: str,
) -> OwnedDiff:
    """The owned difference: tags in the ``prefix`` namespace to add and remove, and the
    owned metadata keys whose value differs. Tags outside the namespace are never named."""
    owned_now = {t for t in current_tags if t.startswith(prefix)}
    changed = {
        key: value
        for key, value in desired.metadata.items()
        if not same_value(value, current_metadata.get(key))
    }
    return OwnedDiff(
        frozenset(desired.tags - owned_now), frozenset(owned_now - desired.tags), changed
    )


def same_value(wanted: Any, current: Any) -> bool:
    """Whether a metadata value already holds what is wanted (None and "" are empty; a
    one-item list equals its item, as an enum field answers a list)."""
    if isinstance(current, list) and len(current) == 1 and not isinstance(wanted, list):
        current = current[0]
    if wanted is None or wanted == "":
        return current is None or current == "" or current == []
    if isinstance(wanted, list | tuple):
        return isinstance(current, list) and sorted(map(str, wanted)) == sorted(map(str, current))
    return current is not None and str(wanted) == str(current)


def current_metadata(data: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The values of ``keys`` in a DAM record: structured metadata, else context keys."""
    metadata = data.get("metadata")
    context = data.get("context")
    custom = context.get("custom") if isinstance(context, Mapping) else None
    out: dict[str, Any] = {}
    for key in keys:
        if isinstance(metadata, Mapping) and key in metadata:
            out[key] = metadata[key]
        elif isinstance(custom, Mapping) and key in custom:
            out[key] = custom[key]
    return out


def current_tags(data: Mapping[str, Any]) -> list[str]:
    """The tags (keywords) of a DAM record."""
    tags = data.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


__all__ = [
    "DEFAULT_PREFIX",
    "OwnedDiff",
    "OwnedState",
    "current_metadata",
    "current_tags",
    "diff",
    "landing",
    "owned_state",
    "same_value",
    "tier_suffix",
]

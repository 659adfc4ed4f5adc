"""Comparing one page of a DAM's full read with the store (pure: values in, verdicts out).

An asset is **new** when the store lacks it (or holds a tombstone), **changed** when its
content differs from the stored copy in something syncbridge does not own, and its
**owned-tag drift** is a difference between the owned tags and metadata it carries at the
vendor and what syncbridge last confirmed there.

What syncbridge owns is left out of the content comparison (its tag namespace, its metadata
keys and metaproperty) along with the stream's modification stamp (its cursor
field): a write-back changes exactly those, so the echo of syncbridge's own write is not a
change, and a person editing an owned tag is drift, repaired by a write-back, not a change
to fetch. Any difference elsewhere is a change. A drifted asset's stored copy is still
refreshed from the read (``refresh``): the repair is computed from the copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncbridge.sync.encoding import Encoded
from syncbridge.writeback.landing import (
    OwnedState,
    current_metadata,
    current_tags,
    same_value,
)


@dataclass(frozen=True)
class OwnedFields:
    """What syncbridge owns in one DAM connection's records, and the stamp it moves."""

    prefix: str = "perf:"
    #: Owned metadata keys (structured metadata fields, context keys).
    metadata_keys: frozenset[str] = frozenset()
    #: Top-level keys left out of the comparison (Bynder's owned metaproperty).
    keys: frozenset[str] = frozenset()
    #: The stream's modification stamp (its cursor field), moved by every write.
    stamp: str | None = None


def _without_owned_metadata(value: Any, keys: frozenset[str]) -> Any:
    if not isinstance(value, Mapping):
        return value
    return {k: v for k, v in value.items() if k not in keys}


def unowned(data: Mapping[str, Any], owned: OwnedFields) -> dict[str, Any]:
    """``data`` without what syncbridge owns and without the modification stamp; people's
    tags as a sorted list (a tag list is a set: a write may reorder it)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in owned.keys or key == owned.stamp:
            continue
        if key == "tags" and isinstance(value, list):
            value = sorted(str(t) for t in value if not str(t).startswith(owned.prefix))
        elif key == "metadata":
            value = _without_owned_metadata(value, owned.metadata_keys)
        elif key == "context" and isinstance(value, Mapping):
            custom = _without_owned_metadata(value.get("custom"), owned.metadata_keys)
            value = {**value, "custom": custom} if "custom" in value else value
        out[key] = value
    return out


def _plain(value: Any) -> Any:
    """A metadata value as compared and kept: a one-item list as its item."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def observed(data: Mapping[str, Any], owned: OwnedFields, keys: Iterable[str]) -> OwnedState:
    """The owned state a DAM record carries: tags in the namespace, owned metadata set."""
    tags = frozenset(t for t in current_tags(data) if t.startswith(owned.prefix))
    found = current_metadata(data, sorted(set(keys) | owned.metadata_keys))
    metadata = {k: _plain(v) for k, v in found.items() if not same_value(None, v)}
    return OwnedState(tags, metadata)


def differs(confirmed: OwnedState, seen: OwnedState) -> bool:
    """Whether the DAM holds something else than what syncbridge confirmed there."""
    if confirmed.tags != seen.tags:
        return True
    keys = set(confirmed.metadata) | set(seen.metadata)
    return any(
        not same_value(_plain(confirmed.metadata.get(k)), _plain(seen.metadata.get(k)))
        for k in keys
    )


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds of one asset."""

    asset_id: uuid.UUID
    content_hash: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class Confirmed:
    """One (asset, connection) write-back state, as drift detection reads it."""

    tags: frozenset[str]
    metadata: Mapping[str, Any]
    confirmed_key: str
    planned_key: str
    confirmed_at: datetime | None

    @property
    def settled(self) -> bool:
        """No write-back is in flight: the last plan was confirmed (or none was made)."""
        return self.planned_key in ("", self.confirmed_key)

    def state(self) -> OwnedState:
        return OwnedState(self.tags, dict(self.metadata))


@dataclass(frozen=True, slots=True)
class Drift:
    """An asset whose owned state at the vendor is not what syncbridge confirmed."""

    asset_id: uuid.UUID
    external_id: str
    seen: OwnedState
    #: The state's keys as read (None: it has no state): the repair changes it only if
    #: they still hold.
    confirmed_key: str | None
    planned_key: str | None


@dataclass
class PageVerdict:
    """The differences one page shows."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    #: Drifted assets whose stored copy differs from the read in owned fields only: not a
    #: change, but the copy is refreshed from the read (the repair's write-back is computed
    #: from it, and a copy still holding the removed owned tag would make it a no-op).
    refresh: list[str] = field(default_factory=list)
    unchanged: int = 0


@dataclass(frozen=True)
class PageStore:
    """What the store holds of one page's assets: rows, stored data of those whose hash
    differs, and the write-back states of the connection for them."""

    stored: Mapping[str, Stored]
    data: Mapping[str, Mapping[str, Any]]
    states: Mapping[uuid.UUID, Confirmed]


def judge(
    live: Mapping[str, Encoded],
    gone: Iterable[str],
    store: PageStore,
    owned: OwnedFields,
    *,
    drift_before: datetime | None,
) -> PageVerdict:
    """The page's new, changed and deleted assets and its owned-tag drift. Drift is judged
    only where no write-back is in flight and the state was confirmed before
    ``drift_before`` (None: drift is not judged, as on a dry-run connection)."""
    verdict = PageVerdict()
    for external_id, item in live.items():
        row = store.stored.get(external_id)
        if row is None or row.deleted:
            verdict.new.append(external_id)
            continue
        changed = False
        if row.content_hash == item.hash:
            verdict.unchanged += 1
        else:
            before = store.data.get(external_id)
            changed = before is None or unowned(before, owned) != unowned(item.record.data, owned)
            if changed:
                verdict.changed.append(external_id)
            else:
                verdict.unchanged += 1
        if drift_before is not None:
            found = _drift(row, external_id, item.record.data, store, owned, drift_before)
            if found is not None:
                verdict.drift.append(found)
                if row.content_hash != item.hash and not changed:
                    verdict.refresh.append(external_id)
    for external_id in gone:
        row = store.stored.get(external_id)
        if row is not None and not row.deleted:
            verdict.gone.append(external_id)
    return verdict


def _drift(
    row: Stored,
    external_id: str,
    data: Mapping[str, Any],
    store: PageStore,
    owned: OwnedFields,
    before: datetime,
) -> Drift | None:
    state = store.states.get(row.asset_id)
    if state is not None and (not state.settled or _after(state.confirmed_at, before)):
        return None  # a write is in flight, or landed after this page was read
    confirmed = state.state() if state is not None else OwnedState()
    seen = observed(data, owned, confirmed.metadata)
    if not differs(confirmed, seen):
        return None
    return Drift(
        row.asset_id,
        external_id,
        seen,
        state.confirmed_key if state is not None else None,
        state.planned_key if state is not None else None,
    )


def _after(at: datetime | None, before: datetime) -> bool:
    return at is not None and at >= before


__all__ = [
    "Confirmed",
    "Drift",
    "OwnedFields",
    "PageStore",
    "PageVerdict",
    "Stored",
    "differs",
    "judge",
    "observed",
    "unowned",
]

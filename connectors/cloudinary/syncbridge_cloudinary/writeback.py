"""Plan owned-tag, context and metadata writes as few Upload API calls as possible (pure).

Given the changes and what Cloudinary holds now, each asset gets the owned tags it lacks
added and the owned tags it should not carry removed, with ``add``/``remove`` commands that
never touch other tags (``replace`` and ``remove_all`` would erase what people put there).
Identical operations are grouped: one call per (resource type, delivery type, command, tag
set) with up to 1000 public ids, the vendor's batch limit. Context and structured metadata
are written only for the keys the connection owns, with ``add``/``set`` of those keys alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from syncbridge.connector.types import TagChange, WriteOutcome
from syncbridge_cloudinary.pipe_pairs import encode_pairs, encode_value

#: Cloudinary's limit of public ids per tags/context/metadata call.
MAX_PUBLIC_IDS_PER_CALL = 1000
#: The Upload API endpoint a call goes to (``POST /{resource_type}/{action}``).
Action = Literal["tags", "context", "metadata"]


@dataclass(frozen=True)
class UploadCall:
    """One Upload API call and the changes (by index) it serves."""

    action: Action
    resource_type: str
    type: str
    #: ``add``/``remove`` for tags, ``add`` for context, ``set`` for metadata.
    command: str
    #: Comma-joined tags, or ``key=value|...`` for context and metadata.
    value: str
    public_ids: tuple[str, ...]
    changes: tuple[int, ...]


@dataclass
class WritePlan:
    """The calls to make, and the outcomes already known without a call."""

    calls: list[UploadCall] = field(default_factory=list)
    decided: dict[int, WriteOutcome] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)


def _metadata_value(value: Any) -> str:
    if isinstance(value, set | frozenset):
        value = sorted(value)
    return "" if value is None else encode_value(value)


def _same_metadata(wanted: Any, current: Any) -> bool:
    if isinstance(wanted, list | tuple | set | frozenset):
        return isinstance(current, list) and sorted(map(str, wanted)) == sorted(map(str, current))
    if wanted is None or wanted == "":
        return current is None or current == ""
    return str(wanted) == str(current) if current is not None else False


def _refusal(change: TagChange, tag_prefix: str) -> str | None:
    foreign = sorted(t for t in change.desired if not t.startswith(tag_prefix))
    if foreign:
        return f"desired tags outside the owned namespace {tag_prefix!r}: {foreign}"
    if any("," in t for t in change.desired):
        return "a tag contains a comma, which Cloudinary reads as a separator"
    return None


def plan_writes(
    changes: Sequence[TagChange],
    current: Mapping[str, Mapping[str, Any]],
    *,
    tag_prefix: str,
    owned_metadata_field: str | None,
    owned_context_keys: Sequence[str] = (),
    batch_size: int = MAX_PUBLIC_IDS_PER_CALL,
) -> WritePlan:
    """Decide every change: skipped, failed before any call, or served by grouped calls."""
    plan = WritePlan()
    groups: dict[tuple[str, str, Action, str, str], list[tuple[str, int]]] = {}
    last_of = {change.external_id: index for index, change in enumerate(changes)}
    for index, change in enumerate(changes):
        resource = current.get(change.external_id)
        if last_of[change.external_id] != index:
            plan.decided[index] = WriteOutcome(
                change.external_id, "skipped", "superseded by a later change to the same asset"
            )
            continue
        refusal = _refusal(change, tag_prefix)
        if refusal is not None:
            plan.decided[index] = WriteOutcome(change.external_id, "failed", refusal)
            continue
        if resource is None:
            plan.decided[index] = WriteOutcome(change.external_id, "failed", "resource not found")
            continue
        operations = list(
            _operations(change, resource, tag_prefix, owned_metadata_field, owned_context_keys)
        )
        if not operations:
            plan.decided[index] = WriteOutcome(change.external_id, "skipped")
            continue
        plan.pending.add(index)
        where = (str(resource["resource_type"]), str(resource.get("type") or "upload"))
        for action, command, value in operations:
            groups.setdefault((*where, action, command, value), []).append(
                (str(resource["public_id"]), index)
            )
    for (resource_type, type_, action, command, value), members in groups.items():
        for start in range(0, len(members), batch_size):
            chunk = members[start : start + batch_size]
            plan.calls.append(
                UploadCall(
                    action=action,
                    resource_type=resource_type,
                    type=type_,
                    command=command,
                    value=value,
                    public_ids=tuple(public_id for public_id, _ in chunk),
                    changes=tuple(index for _, index in chunk),
                )
            )
    return plan


def _operations(
    change: TagChange,
    resource: Mapping[str, Any],
    tag_prefix: str,
    owned_metadata_field: str | None,
    owned_context_keys: Sequence[str],
) -> Iterator[tuple[Action, str, str]]:
    """``(action, command, value)`` for what this asset needs; nothing when it is in shape."""
    tags = resource.get("tags") or []
    owned_now = {str(t) for t in tags if str(t).startswith(tag_prefix)}
    to_add = sorted(change.desired - owned_now)
    to_remove = sorted(owned_now - change.desired)
    if to_add:
        yield "tags", "add", ",".join(to_add)
    if to_remove:
        yield "tags", "remove", ",".join(to_remove)
    if owned_metadata_field and owned_metadata_field in change.metadata:
        wanted = change.metadata[owned_metadata_field]
        metadata = resource.get("metadata") or {}
        if not _same_metadata(wanted, metadata.get(owned_metadata_field)):
            yield "metadata", "set", f"{owned_metadata_field}={_metadata_value(wanted)}"
    custom = (resource.get("context") or {}).get("custom") or {}
    context = {
        key: _context_text(change.metadata[key])
        for key in sorted(owned_context_keys)
        if key in change.metadata
        and _context_text(change.metadata[key]) != _context_text(custom.get(key))
    }
    if context:
        # People's other context keys are not sent at all. None is sent as an empty value,
        # which the simulator reads as "clear the key" (Cloudinary's reading: UNVERIFIED).
        yield "context", "add", encode_pairs(context)


def _context_text(value: Any) -> str:
    return "" if value is None else str(value)


__all__ = ["MAX_PUBLIC_IDS_PER_CALL", "UploadCall", "WritePlan", "plan_writes"]

"""How the Admin API writes one resource: the listing shape and the details shape.

Listings carry ``tags``, ``context`` and ``metadata`` only when asked (``tags=true``...;
``context`` and ``metadata`` also only when the resource has some). ``fields=a,b`` keeps only
those fields plus ``asset_id`` and ``public_id``; naming ``tags``, ``context`` or ``metadata``
there includes them too (they are in the ``fields`` vocabulary of Cloudinary's API spec; how
they combine with the include flags is UNVERIFIED: here either one includes them). The details
of one resource always carry ``tags``, ``context`` and ``metadata`` when set, and ``derived``
(always empty: the simulator holds no derived assets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from syncbridge_cloudinary.simulator_errors import CloudinaryApiError

#: The ``fields`` names the simulator renders.
RENDERED_FIELDS = frozenset(
    {
        "asset_id",
        "public_id",
        "format",
        "version",
        "resource_type",
        "type",
        "created_at",
        "bytes",
        "width",
        "height",
        "asset_folder",
        "display_name",
        "url",
        "secure_url",
        "tags",
        "context",
        "metadata",
    }
)
#: ``fields`` names of Cloudinary's vocabulary that the simulator holds no data for.
UNSERVED_FIELDS = frozenset(
    {
        "folder",
        "filename",
        "version_id",
        "signature",
        "uploaded_at",
        "backup_bytes",
        "aspect_ratio",
        "access_control",
        "pixels",
        "custom",
        "moderation",
        "status",
        "etag",
    }
)


def iso_z(moment: datetime) -> str:
    """``2026-01-05T09:00:00Z``, as Cloudinary writes ``created_at``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checked_fields(names: list[str]) -> frozenset[str] | None:
    """The ``fields`` of a request (None when none were named); 400 for names not served."""
    wanted = frozenset(n.strip() for raw in names for n in raw.split(",") if n.strip())
    for name in sorted(wanted - RENDERED_FIELDS):
        if name in UNSERVED_FIELDS:
            raise CloudinaryApiError(400, f"fields: {name} is not served by this simulator")
        raise CloudinaryApiError(400, f"fields: unknown field {name}")
    return wanted or None


@dataclass(frozen=True)
class Shape:
    """Which optional parts of a resource an answer carries."""

    tags: bool = False
    context: bool = False
    metadata: bool = False
    fields: frozenset[str] | None = None
    #: The single-resource details shape (tags always, ``derived``).
    details: bool = False

    def includes(self, part: str, flag: bool) -> bool:
        return self.details or flag or (self.fields is not None and part in self.fields)

    @cached_property
    def parts(self) -> tuple[bool, bool, bool]:
        """Whether answers carry ``tags``, ``context`` and ``metadata`` (once per request)."""
        return (
            self.includes("tags", self.tags),
            self.includes("context", self.context),
            self.includes("metadata", self.metadata),
        )

    @cached_property
    def kept(self) -> frozenset[str] | None:
        """The fields an answer keeps (None: all)."""
        return None if self.fields is None else self.fields | {"asset_id", "public_id"}


#: The shape of a details answer.
DETAILS = Shape(details=True)
#: The bare listing shape: no optional part.
BARE = Shape()


def render_fields(
    base: dict[str, Any],
    shape: Shape,
    *,
    tags: list[str],
    context: dict[str, str],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """``base`` (the always-present fields) completed and trimmed as ``shape`` says."""
    with_tags, with_context, with_metadata = shape.parts
    if with_tags:
        base["tags"] = list(tags)
    if context and with_context:
        base["context"] = {"custom": dict(context)}
    if metadata and with_metadata:
        base["metadata"] = dict(metadata)
    if shape.details:
        base["derived"] = []
    keep = shape.kept
    if keep is not None:
        return {key: value for key, value in base.items() if key in keep}
    return base


__all__ = [
    "BARE",
    "DETAILS",
    "RENDERED_FIELDS",
    "UNSERVED_FIELDS",
    "Shape",
    "checked_fields",
    "iso_z",
    "render_fields",
]

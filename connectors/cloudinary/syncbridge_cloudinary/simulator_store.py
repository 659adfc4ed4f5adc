"""The simulator's in-memory product environment: resources, their order, and metadata fields.

World assets become Cloudinary resources: images and videos keep their types, documents
become ``raw`` (whose public id keeps the extension and which have no format or dimensions).
Listings page with keyset cursors over (created_at, asset_id), or over public id when a
``prefix`` is given (as Cloudinary sorts prefix listings), so a page boundary never moves
when tags change or new assets arrive.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from syncbridge.sandbox.world import SandboxAsset, World

RESOURCE_TYPE_OF = {"image": "image", "video": "video", "document": "raw"}
RESOURCE_TYPES = ("image", "video", "raw")
Direction = Literal["asc", "desc"]


class CloudinaryApiError(Exception):
    """An answer in Cloudinary's error shape: ``{"error": {"message": ...}}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def iso_z(moment: datetime) -> str:
    """``2026-01-05T09:00:00Z``, as Cloudinary writes ``created_at``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SimResource:
    """One asset as the simulator holds it (mutable: tags, context, metadata)."""

    asset_id: str
    public_id: str
    resource_type: str
    type: str
    format: str | None
    version: int
    created_at: datetime
    bytes: int
    width: int | None
    height: int | None
    asset_folder: str
    display_name: str
    tags: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def order_key(self) -> tuple[float, str]:
        return (self.created_at.timestamp(), self.asset_id)

    @property
    def name_key(self) -> tuple[str, str]:
        return (self.public_id, self.asset_id)

    def delivery_path(self, cloud_name: str) -> str:
        """``{cloud}/{resource_type}/{type}/v{version}/{public_id}.{format}``."""
        suffix = f".{self.format}" if self.format else ""
        kind = f"{self.resource_type}/{self.type}"
        return f"{cloud_name}/{kind}/v{self.version}/{self.public_id}{suffix}"


def resource_from_asset(asset: SandboxAsset) -> SimResource:
    """The Cloudinary rendering of one sandbox asset."""
    resource_type = RESOURCE_TYPE_OF[asset.asset_type]
    folder = f"{asset.folder}/{asset.campaign_key}"
    raw = resource_type == "raw"
    return SimResource(
        asset_id=asset.id.replace("-", ""),
        public_id=f"{folder}/{asset.filename if raw else asset.name}",
        resource_type=resource_type,
        type="upload",
        format=None if raw else asset.extension,
        version=int(asset.created_at.timestamp()),
        created_at=asset.created_at,
        bytes=asset.file_size,
        width=None if raw else asset.width,
        height=None if raw else asset.height,
        asset_folder=folder,
        display_name=asset.name,
        tags=list(asset.tags),
        context={"alt": asset.name.replace("_", " "), "campaign": asset.campaign_key},
    )


@dataclass(frozen=True)
class MetadataField:
    """A structured metadata field definition (``GET /metadata_fields``)."""

    external_id: str
    label: str
    type: str
    #: (entry external id, display value) for enum/set fields.
    entries: tuple[tuple[str, str], ...] = ()

    def accepts(self, value: str) -> bool:
        if self.type in ("enum", "set"):
            allowed = {entry for entry, _ in self.entries}
            values = json.loads(value) if self.type == "set" and value.startswith("[") else [value]
            return all(v in allowed for v in values)
        return True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "external_id": self.external_id,
            "label": self.label,
            "mandatory": False,
            "default_value": None,
            "validation": None,
        }
        if self.entries:
            out["datasource"] = {
                "values": [
                    {"external_id": entry, "value": value, "state": "active"}
                    for entry, value in self.entries
                ]
            }
        return out


PERFORMANCE_TIER_FIELD = MetadataField(
    external_id="performance_tier",
    label="Performance tier",
    type="enum",
    entries=(
        ("top-10", "Top 10%"),
        ("top-25", "Top 25%"),
        ("middle", "Middle"),
        ("bottom-25", "Bottom 25%"),
        ("insufficient-data", "Insufficient data"),
    ),
)


def encode_cursor(mode: str, key: tuple[Any, ...]) -> str:
    """An opaque hex cursor, as Cloudinary's look (``8edbc610...``)."""
    return json.dumps([mode, *key], separators=(",", ":")).encode().hex()


def decode_cursor(cursor: str, mode: str) -> tuple[Any, ...]:
    try:
        data = json.loads(bytes.fromhex(cursor))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CloudinaryApiError(400, "Invalid next_cursor") from exc
    if not isinstance(data, list) or len(data) != 3 or data[0] != mode:
        raise CloudinaryApiError(400, "Invalid next_cursor")
    return (data[1], data[2])


class ResourceStore:
    """Every resource of one simulated product environment, indexed as the API needs."""

    def __init__(self, cloud_name: str) -> None:
        self.cloud_name = cloud_name
        #: Where delivery URLs point: Cloudinary's CDN, or the simulator's public address.
        self.delivery_base: str | None = None
        self.by_asset_id: dict[str, SimResource] = {}
        self.by_public_id: dict[tuple[str, str, str], SimResource] = {}
        self._by_time: dict[str, list[tuple[float, str]]] = {rt: [] for rt in RESOURCE_TYPES}
        self._by_name: dict[str, list[tuple[str, str]]] = {rt: [] for rt in RESOURCE_TYPES}
        self.metadata_fields: dict[str, MetadataField] = {
            PERFORMANCE_TIER_FIELD.external_id: PERFORMANCE_TIER_FIELD
        }

    @classmethod
    def from_world(cls, world: World, cloud_name: str) -> ResourceStore:
        store = cls(cloud_name)
        for asset in world.assets():
            store.add(resource_from_asset(asset))
        return store

    def add(self, resource: SimResource) -> None:
        """Add (upload) a resource."""
        self.by_asset_id[resource.asset_id] = resource
        key = (resource.resource_type, resource.type, resource.public_id)
        self.by_public_id[key] = resource
        bisect.insort(self._by_time[resource.resource_type], resource.order_key)
        bisect.insort(self._by_name[resource.resource_type], resource.name_key)

    def delete(self, asset_id: str) -> SimResource:
        """Remove a resource (a delete in the console); returns what was removed."""
        resource = self.by_asset_id.pop(asset_id)
        del self.by_public_id[(resource.resource_type, resource.type, resource.public_id)]
        self._by_time[resource.resource_type].remove(resource.order_key)
        self._by_name[resource.resource_type].remove(resource.name_key)
        return resource

    def get(self, resource_type: str, type_: str, public_id: str) -> SimResource | None:
        return self.by_public_id.get((resource_type, type_, public_id))

    def count(self) -> int:
        return len(self.by_asset_id)

    # -- rendering ---------------------------------------------------------------------

    def render(
        self,
        resource: SimResource,
        *,
        tags: bool = False,
        context: bool = False,
        metadata: bool = False,
        fields: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """The Admin API JSON of one resource; include-only fields appear only when asked."""
        out: dict[str, Any] = {"asset_id": resource.asset_id, "public_id": resource.public_id}
        if resource.format is not None:
            out["format"] = resource.format
        out |= {
            "version": resource.version,
            "resource_type": resource.resource_type,
            "type": resource.type,
            "created_at": iso_z(resource.created_at),
            "bytes": resource.bytes,
        }
        if resource.width is not None and resource.height is not None:
            out |= {"width": resource.width, "height": resource.height}
        out |= {
            "asset_folder": resource.asset_folder,
            "display_name": resource.display_name,
            **self.delivery_urls(resource),
        }
        if tags:
            out["tags"] = list(resource.tags)
        if context and resource.context:
            out["context"] = {"custom": dict(resource.context)}
        if metadata and resource.metadata:
            out["metadata"] = dict(resource.metadata)
        if fields:
            keep = fields | {"asset_id", "public_id"}
            out = {key: value for key, value in out.items() if key in keep}
        return out

    def delivery_urls(self, resource: SimResource) -> dict[str, str]:
        """``url`` and ``secure_url``: on res.cloudinary.com, or under ``delivery_base``."""
        path = resource.delivery_path(self.cloud_name)
        if self.delivery_base is not None:
            return {
                "url": f"{self.delivery_base}/{path}",
                "secure_url": f"{self.delivery_base}/{path}",
            }
        return {
            "url": f"http://res.cloudinary.com/{path}",
            "secure_url": f"https://res.cloudinary.com/{path}",
        }

    # -- listing -----------------------------------------------------------------------

    def page(
        self,
        resource_type: str,
        type_: str | None,
        *,
        max_results: int,
        cursor: str | None,
        direction: Direction,
        prefix: str | None,
        start_at: datetime | None,
    ) -> tuple[list[SimResource], str | None]:
        """One page of a listing and the cursor after it (None on the last page)."""
        matches = self._scan(resource_type, type_, cursor, direction, prefix, start_at)
        page: list[SimResource] = []
        for resource in matches:
            if len(page) == max_results:
                last = page[-1]
                mode = "n" if prefix else "t"
                key = last.name_key if prefix else last.order_key
                return page, encode_cursor(mode, key)
            page.append(resource)
        return page, None

    def _scan(
        self,
        resource_type: str,
        type_: str | None,
        cursor: str | None,
        direction: Direction,
        prefix: str | None,
        start_at: datetime | None,
    ) -> Iterator[SimResource]:
        if prefix:
            # Cloudinary sorts prefix listings by public id and ignores ``direction``.
            names = self._by_name[resource_type]
            after = decode_cursor(cursor, "n") if cursor else None
            start = (
                bisect.bisect_right(names, after)
                if after
                else bisect.bisect_left(names, (prefix, ""))
            )
            for public_id, asset_id in names[start:]:
                if not public_id.startswith(prefix):
                    return
                yield from self._typed(asset_id, type_)
            return
        times = self._by_time[resource_type]
        after = decode_cursor(cursor, "t") if cursor else None
        if direction == "asc":
            if after:
                start = bisect.bisect_right(times, after)
            elif start_at:
                start = bisect.bisect_left(times, (start_at.timestamp(), ""))
            else:
                start = 0
            indexes: Iterable[int] = range(start, len(times))
        else:
            if after:
                end = bisect.bisect_left(times, after)
            elif start_at:
                end = bisect.bisect_right(times, (start_at.timestamp(), "~"))
            else:
                end = len(times)
            indexes = range(end - 1, -1, -1)
        for index in indexes:
            yield from self._typed(times[index][1], type_)

    def _typed(self, asset_id: str, type_: str | None) -> Iterator[SimResource]:
        resource = self.by_asset_id[asset_id]
        if type_ is None or resource.type == type_:
            yield resource

    # -- Upload API mutations ------------------------------------------------------------

    def resolve(self, resource_type: str, type_: str, public_ids: list[str]) -> list[SimResource]:
        """The resources named by public id (unknown ones are left out, as Cloudinary does)."""
        found = (self.get(resource_type, type_, pid) for pid in public_ids)
        return [resource for resource in found if resource is not None]

    def apply_tags(
        self, command: str, tags: list[str], resources: list[SimResource], resource_type: str
    ) -> None:
        """One ``/tags`` command on the given resources."""
        for resource in resources:
            if command == "add" or command == "set_exclusive":
                resource.tags += [tag for tag in tags if tag not in resource.tags]
            elif command == "remove":
                resource.tags = [tag for tag in resource.tags if tag not in tags]
            elif command == "replace":
                resource.tags = list(dict.fromkeys(tags))
            elif command == "remove_all":
                resource.tags = []
        if command == "set_exclusive":
            chosen = {resource.asset_id for resource in resources}
            for other in self.by_asset_id.values():
                if other.resource_type == resource_type and other.asset_id not in chosen:
                    other.tags = [tag for tag in other.tags if tag not in tags]

    def set_metadata(self, values: dict[str, str], resources: list[SimResource]) -> None:
        """Set (or clear, with an empty value) structured metadata; validates every value."""
        for external_id, value in values.items():
            definition = self.metadata_fields.get(external_id)
            if definition is None:
                raise CloudinaryApiError(400, f"Metadata field {external_id} does not exist")
            if value and not definition.accepts(value):
                raise CloudinaryApiError(
                    400, f"Value {value} is not valid for metadata field {external_id}"
                )
        for resource in resources:
            for external_id, value in values.items():
                if value:
                    resource.metadata[external_id] = (
                        json.loads(value) if value.startswith("[") else value
                    )
                else:
                    resource.metadata.pop(external_id, None)


__all__ = [
    "PERFORMANCE_TIER_FIELD",
    "RESOURCE_TYPES",
    "CloudinaryApiError",
    "MetadataField",
    "ResourceStore",
    "SimResource",
    "iso_z",
    "resource_from_asset",
]

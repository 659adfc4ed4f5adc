"""The simulator's in-memory product environment: resources, their indexes, metadata fields.

World assets become Cloudinary resources: images and videos keep their types, documents
become ``raw`` (whose public id keeps the extension and which have no format or dimensions).

Every listing is served from a sorted index (:mod:`simulator_index`) that the store keeps
true on each change: resources by creation per resource type (and per delivery type), by
public id per delivery type, by tag, by context key, by context key and value, and by asset
folder (per resource type and across them); plus the sorted tag names of each resource type.
All changes go through the store's methods (:meth:`ResourceStore.add`, ``delete``,
``set_tags``, ``set_context``, ``apply_tags``, ``set_metadata``) so no index goes stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from json.encoder import encode_basestring
from typing import Any

from syncbridge.sandbox.world import SandboxAsset, World
from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_index import IndexFamily, IndexName, NameKey, TimeKey
from syncbridge_cloudinary.simulator_metadata import PERFORMANCE_TIER_FIELD, MetadataField
from syncbridge_cloudinary.simulator_render import BARE, Shape, iso_z, render_fields

RESOURCE_TYPE_OF = {"image": "image", "video": "video", "document": "raw"}
RESOURCE_TYPES = ("image", "video", "raw")
#: Cloudinary's delivery (storage) types; the simulator's resources are all ``upload``.
DELIVERY_TYPES = frozenset(
    {
        "upload",
        "private",
        "authenticated",
        "fetch",
        "facebook",
        "twitter",
        "gravatar",
        "youtube",
        "hulu",
        "vimeo",
        "animoto",
        "worldstarhiphop",
        "dailymotion",
        "list",
    }
)


@dataclass
class SimResource:
    """One asset as the simulator holds it; change it only through :class:`ResourceStore`."""

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

    @cached_property
    def order_key(self) -> TimeKey:
        """Creation order, ties broken by asset id (immutable: so is ``created_at``)."""
        return (self.created_at.timestamp(), self.asset_id)

    @property
    def name_key(self) -> NameKey:
        return (self.public_id, self.asset_id)

    @cached_property
    def created_iso(self) -> str:
        """``created_at`` as the API writes it (cached: listings write it on every read)."""
        return iso_z(self.created_at)

    @cached_property
    def _path_tail(self) -> str:
        suffix = f".{self.format}" if self.format else ""
        return f"{self.resource_type}/{self.type}/v{self.version}/{self.public_id}{suffix}"

    def delivery_path(self, cloud_name: str) -> str:
        """``{cloud}/{resource_type}/{type}/v{version}/{public_id}.{format}``."""
        return f"{cloud_name}/{self._path_tail}"


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
        tags=list(dict.fromkeys(asset.tags)),
        context={"alt": asset.name.replace("_", " "), "campaign": asset.campaign_key},
    )


def index_entries(resource: SimResource) -> Iterator[tuple[IndexName, tuple[Any, ...]]]:
    """Every ``(index name, key)`` under which ``resource`` is listed."""
    rt, key = resource.resource_type, resource.order_key
    yield ("time", rt, None), key
    yield ("time", rt, resource.type), key
    yield ("name", rt, resource.type), resource.name_key
    yield ("folder", resource.asset_folder, None), key
    yield ("folder", resource.asset_folder, rt), key
    for tag in resource.tags:
        yield ("tag", rt, tag), key
    for name, value in resource.context.items():
        yield ("ctx", rt, name), key
        yield ("ctxv", rt, name, value), key


class ResourceStore:
    """Every resource of one simulated product environment, indexed as the API lists them."""

    def __init__(self, cloud_name: str, resources: Iterable[SimResource] = ()) -> None:
        self.cloud_name = cloud_name
        #: Where delivery URLs point: Cloudinary's CDN, or the simulator's public address.
        self.delivery_base: str | None = None
        self.by_asset_id: dict[str, SimResource] = {}
        self.by_public_id: dict[tuple[str, str, str], SimResource] = {}
        self.indexes = IndexFamily()
        #: ``("tags", resource_type)`` -> sorted ``(tag,)`` of the tags in use there.
        self.tag_names = IndexFamily()
        self.metadata_fields: dict[str, MetadataField] = {
            PERFORMANCE_TIER_FIELD.external_id: PERFORMANCE_TIER_FIELD
        }
        for resource in resources:
            self._register(resource)
            for name, key in index_entries(resource):
                self.indexes.append_unsorted(name, key)
        self.indexes.sort_all()
        for name in self.indexes.lists:
            if name[0] == "tag":
                self.tag_names.append_unsorted(("tags", name[1]), (name[2],))
        self.tag_names.sort_all()

    @classmethod
    def from_world(cls, world: World, cloud_name: str) -> ResourceStore:
        return cls(cloud_name, (resource_from_asset(asset) for asset in world.assets()))

    def _register(self, resource: SimResource) -> None:
        named = (resource.resource_type, resource.type, resource.public_id)
        if resource.asset_id in self.by_asset_id or named in self.by_public_id:
            raise ValueError(f"asset id {resource.asset_id} or public id {named} is taken")
        self.by_asset_id[resource.asset_id] = resource
        self.by_public_id[named] = resource

    # -- index upkeep ------------------------------------------------------------------

    def _link(self, name: IndexName, key: tuple[Any, ...]) -> None:
        self.indexes.add(name, key)
        if name[0] == "tag" and len(self.indexes.get(name)) == 1:
            self.tag_names.add(("tags", name[1]), (name[2],))

    def _unlink(self, name: IndexName, key: tuple[Any, ...]) -> None:
        self.indexes.discard(name, key)
        if name[0] == "tag" and not self.indexes.get(name):
            self.tag_names.discard(("tags", name[1]), (name[2],))

    def _edit(self, resource: SimResource, change: Callable[[], None]) -> None:
        """Apply ``change`` to ``resource`` and move it in every index it affects."""
        before = set(index_entries(resource))
        change()
        after = set(index_entries(resource))
        for name, key in before - after:
            self._unlink(name, key)
        for name, key in after - before:
            self._link(name, key)

    # -- resources -----------------------------------------------------------------------

    def add(self, resource: SimResource) -> None:
        """Add (upload) a resource."""
        self._register(resource)
        for name, key in index_entries(resource):
            self._link(name, key)

    def delete(self, asset_id: str) -> SimResource:
        """Remove a resource (a delete in the console); returns what was removed."""
        resource = self.by_asset_id.pop(asset_id)
        del self.by_public_id[(resource.resource_type, resource.type, resource.public_id)]
        for name, key in index_entries(resource):
            self._unlink(name, key)
        return resource

    def get(self, resource_type: str, type_: str, public_id: str) -> SimResource | None:
        return self.by_public_id.get((resource_type, type_, public_id))

    def count(self) -> int:
        return len(self.by_asset_id)

    def resource_types(self) -> list[str]:
        """The resource types that hold at least one resource."""
        return [rt for rt in RESOURCE_TYPES if self.indexes.get(("time", rt, None))]

    # -- edits ---------------------------------------------------------------------------

    def set_tags(self, resource: SimResource, tags: Iterable[str]) -> None:
        """Replace a resource's tags (duplicates dropped, order kept)."""
        new = list(dict.fromkeys(tags))

        def change() -> None:
            resource.tags = new

        self._edit(resource, change)

    def set_context(self, resource: SimResource, context: dict[str, str]) -> None:
        """Replace a resource's contextual metadata."""
        new = dict(context)

        def change() -> None:
            resource.context = new

        self._edit(resource, change)

    def apply_tags(
        self, command: str, tags: list[str], resources: list[SimResource], resource_type: str
    ) -> None:
        """One ``/tags`` command on the given resources."""
        for resource in resources:
            if command in ("add", "set_exclusive"):
                self.set_tags(resource, [*resource.tags, *tags])
            elif command == "remove":
                self.set_tags(resource, [t for t in resource.tags if t not in tags])
            elif command == "replace":
                self.set_tags(resource, tags)
            elif command == "remove_all":
                self.set_tags(resource, [])
        if command == "set_exclusive":
            chosen = {resource.asset_id for resource in resources}
            holders = [key for tag in tags for key in self.indexes.get(("tag", resource_type, tag))]
            for _, asset_id in list(dict.fromkeys(holders)):
                other = self.by_asset_id[asset_id]
                if asset_id not in chosen:
                    self.set_tags(other, [t for t in other.tags if t not in tags])

    def set_metadata(self, values: dict[str, str], resources: list[SimResource]) -> None:
        """Set (or clear, with an empty value) structured metadata; validates every value."""
        parsed: dict[str, Any] = {}
        for external_id, value in values.items():
            definition = self.metadata_fields.get(external_id)
            if definition is None:
                raise CloudinaryApiError(400, f"Metadata field {external_id} does not exist")
            parsed[external_id] = definition.parse(value) if value else None
            if value and parsed[external_id] is None:
                raise CloudinaryApiError(
                    400, f"Value {value} is not valid for metadata field {external_id}"
                )
        for resource in resources:
            for external_id, stored in parsed.items():
                if stored is None:
                    resource.metadata.pop(external_id, None)
                else:
                    resource.metadata[external_id] = stored

    def resolve(self, resource_type: str, type_: str, public_ids: list[str]) -> list[SimResource]:
        """The resources named by public id (unknown ones are left out, as Cloudinary does)."""
        found = (self.get(resource_type, type_, pid) for pid in dict.fromkeys(public_ids))
        return [resource for resource in found if resource is not None]

    # -- rendering ---------------------------------------------------------------------

    def render(self, resource: SimResource, shape: Shape | None = None) -> dict[str, Any]:
        """The Admin API JSON of one resource, in ``shape`` (the bare listing shape)."""
        out: dict[str, Any] = {"asset_id": resource.asset_id, "public_id": resource.public_id}
        if resource.format is not None:
            out["format"] = resource.format
        out |= {
            "version": resource.version,
            "resource_type": resource.resource_type,
            "type": resource.type,
            "created_at": resource.created_iso,
            "bytes": resource.bytes,
        }
        if resource.width is not None and resource.height is not None:
            out |= {"width": resource.width, "height": resource.height}
        out |= {"asset_folder": resource.asset_folder, "display_name": resource.display_name}
        out |= self.delivery_urls(resource)
        return render_fields(
            out,
            shape or BARE,
            tags=resource.tags,
            context=resource.context,
            metadata=resource.metadata,
        )

    def listing_json(self, resource: SimResource, shape: Shape) -> str:
        """``render(resource, shape)`` as the JSON text ``JSONResponse`` would write, for shapes
        without ``fields``: listings write it directly, without building a dict per resource
        and encoding it again (a page then costs about its JSON)."""
        text = encode_basestring
        urls = self.delivery_urls(resource)
        parts = [
            '{"asset_id":',
            text(resource.asset_id),
            ',"public_id":',
            text(resource.public_id),
        ]
        if resource.format is not None:
            parts += (',"format":', text(resource.format))
        parts += (
            f',"version":{resource.version},"resource_type":',
            text(resource.resource_type),
            ',"type":',
            text(resource.type),
            ',"created_at":',
            text(resource.created_iso),
            f',"bytes":{resource.bytes}',
        )
        if resource.width is not None and resource.height is not None:
            parts.append(f',"width":{resource.width},"height":{resource.height}')
        parts += (
            ',"asset_folder":',
            text(resource.asset_folder),
            ',"display_name":',
            text(resource.display_name),
            ',"url":',
            text(urls["url"]),
            ',"secure_url":',
            text(urls["secure_url"]),
        )
        with_tags, with_context, with_metadata = shape.parts
        if with_tags:
            parts += (',"tags":[', ",".join(map(text, resource.tags)), "]")
        if resource.context and with_context:
            pairs = ",".join(f"{text(k)}:{text(v)}" for k, v in resource.context.items())
            parts += (',"context":{"custom":{', pairs, "}}")
        if resource.metadata and with_metadata:
            parts += (',"metadata":', _compact(resource.metadata))
        if shape.details:
            parts.append(',"derived":[]')
        parts.append("}")
        return "".join(parts)

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


def _compact(value: Any) -> str:
    """JSON as Starlette's ``JSONResponse`` writes it (compact, UTF-8 rather than escapes)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


__all__ = [
    "DELIVERY_TYPES",
    "PERFORMANCE_TIER_FIELD",
    "RESOURCE_TYPES",
    "CloudinaryApiError",
    "IndexName",
    "MetadataField",
    "ResourceStore",
    "SimResource",
    "index_entries",
    "iso_z",
    "resource_from_asset",
]

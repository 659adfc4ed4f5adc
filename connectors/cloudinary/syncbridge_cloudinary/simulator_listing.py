"""The listings of the Admin API resources family, each one page of one sorted index.

* all resources of a resource type (optionally of one delivery type), by creation; with
  ``prefix`` (which needs a delivery type) by public id instead, ``direction`` then ignored as
  Cloudinary documents; ``start_at`` lists the resources created since that moment;
* resources with a tag (``/resources/{rt}/tags/{tag}``), with a context key, or a key and a
  value (``/resources/{rt}/context``), in an asset folder (``/resources/by_asset_folder``),
  all by creation (``direction`` desc by default, as Cloudinary);
* the tag names of a resource type (``/tags/{rt}``), alphabetically, optionally by prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_index import (
    NAME_KEY_TYPES,
    TAG_KEY_TYPES,
    TIME_KEY_TYPES,
    Listing,
    page_of,
)
from syncbridge_cloudinary.simulator_store import IndexName, ResourceStore, SimResource

ListingKind = Literal["all", "tag", "context", "folder"]


@dataclass(frozen=True)
class ResourceQuery:
    """One validated resources listing: which resources, in which order."""

    kind: ListingKind = "all"
    #: None only for an asset folder listed across resource types.
    resource_type: str | None = "image"
    #: Delivery type (``all`` listings only); None: every delivery type.
    type: str | None = None
    prefix: str | None = None
    start_at: datetime | None = None
    descending: bool = True
    tag: str = ""
    key: str = ""
    #: None: any value of the context key.
    value: str | None = None
    folder: str = ""

    def __post_init__(self) -> None:
        """Refuse what Cloudinary documents as invalid (400), whoever builds the query."""
        if self.prefix is not None and (self.kind != "all" or self.type is None):
            raise CloudinaryApiError(400, "prefix requires type (the delivery type)")
        if self.start_at is not None and (self.kind != "all" or self.prefix is not None):
            raise CloudinaryApiError(400, "start_at is not supported together with prefix")
        if self.resource_type is None and self.kind != "folder":
            raise CloudinaryApiError(400, "Missing required parameter - resource_type")
        required = {"tag": ("tag", self.tag), "context": ("key", self.key)}
        required["folder"] = ("asset_folder", self.folder)
        if self.kind in required and not required[self.kind][1]:
            raise CloudinaryApiError(400, f"Missing required parameter - {required[self.kind][0]}")

    def index(self) -> IndexName:
        """The name of the index this listing reads."""
        if self.kind == "tag":
            return ("tag", self.resource_type, self.tag)
        if self.kind == "context":
            if self.value is None:
                return ("ctx", self.resource_type, self.key)
            return ("ctxv", self.resource_type, self.key, self.value)
        if self.kind == "folder":
            return ("folder", self.folder, self.resource_type)
        if self.prefix is not None:
            return ("name", self.resource_type, self.type)
        return ("time", self.resource_type, self.type)

    def listing(self) -> Listing:
        """What this listing's cursors are bound to."""
        if self.kind == "all" and self.prefix is not None:
            return Listing("n", NAME_KEY_TYPES, floor=(self.prefix, ""))
        floor = (self.start_at.timestamp(), "") if self.start_at is not None else None
        return Listing("t", TIME_KEY_TYPES, self.descending, floor)


def resources_page(
    store: ResourceStore, query: ResourceQuery, *, max_results: int, cursor: str | None
) -> tuple[list[SimResource], str | None]:
    """One page of ``query`` and the cursor after it (None on the last page)."""
    prefix = query.prefix if query.kind == "all" else None
    keys, next_cursor = page_of(
        store.indexes.get(query.index()),
        query.listing(),
        max_results=max_results,
        cursor=cursor,
        while_=(lambda key: key[0].startswith(prefix)) if prefix is not None else None,
    )
    return [store.by_asset_id[asset_id] for _, asset_id in keys], next_cursor


def tags_page(
    store: ResourceStore,
    resource_type: str,
    *,
    prefix: str | None,
    max_results: int,
    cursor: str | None,
) -> tuple[list[str], str | None]:
    """One page of the tag names in use in ``resource_type``, alphabetically."""
    listing = Listing("g", TAG_KEY_TYPES, floor=(prefix,) if prefix else None)
    keys, next_cursor = page_of(
        store.tag_names.get(("tags", resource_type)),
        listing,
        max_results=max_results,
        cursor=cursor,
        while_=(lambda key: key[0].startswith(prefix)) if prefix else None,
    )
    return [tag for (tag,) in keys], next_cursor


__all__ = ["ListingKind", "ResourceQuery", "resources_page", "tags_page"]

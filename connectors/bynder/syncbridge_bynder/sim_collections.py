"""The simulated portal's collections (API v4 ``/collections/``): state, listing, membership.

Shapes follow Bynder's published examples: a collection carries ``id, name, description,
filename, userId, user{id, name}, dateCreated, dateModified, collectionCount, isPublic, cover,
link, thumbnail, views``, its dates in Bynder's ``"March, 08 2017 14:17:37 +0000"`` style.
Listing takes ``limit`` (default 50, at most 1000), ``page``, ``orderBy`` (``dateCreated|name
asc|desc``), ``ids``, ``keyword``, ``isPublic``, ``minCount``; ``count=1`` (whose answer shape
is not published) is refused. Framework-free: the HTTP side lives in ``sim_collection_routes``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncbridge_bynder.sim_params import (
    BadRequest,
    bynder_id,
    dedupe,
    flag,
    only_known,
    parse_order,
    parse_param,
    split,
)

#: Bynder's ``collectionOptions`` values for sharing.
SHARE_OPTIONS = frozenset({"readOnly", "view", "readAccess", "edit"})
_LIST_PARAMS = frozenset(
    {"limit", "page", "orderBy", "ids", "count", "keyword", "isPublic", "minCount"}
)
_ORDERS = {"dateCreated": "_created", "name": "_name"}


def collection_date(at: datetime) -> str:
    """Bynder's collection date format: ``March, 08 2017 14:17:37 +0000``."""
    return at.strftime("%B, %d %Y %H:%M:%S +0000")


class NotFound(LookupError):
    """The collection does not exist (Bynder answers 404 "Collection not found")."""


@dataclass
class Collection:
    """One collection: its own fields and its ordered members."""

    id: str
    name: str
    description: str
    created: datetime
    modified: datetime
    is_public: bool = False
    thumbnail_media_id: str | None = None
    media: list[str] = field(default_factory=list)
    shares: list[dict[str, str]] = field(default_factory=list)


class CollectionStore:
    """Every collection of a portal, by id."""

    def __init__(self, seed: int, owner: Mapping[str, str]) -> None:
        self.seed = seed
        self.owner = dict(owner)
        self.by_id: dict[str, Collection] = {}
        self._created = 0

    def seed_collection(
        self, key: str, name: str, created: datetime, media: Iterable[str], *, public: bool
    ) -> Collection:
        """Add a collection with a deterministic id (the world's own collections)."""
        cid = bynder_id(self.seed, "collection", key)
        collection = Collection(cid, name, f"{name} assets", created, created, public)
        collection.media = dedupe(list(media))
        self.by_id[cid] = collection
        return collection

    def get(self, cid: str) -> Collection:
        """The collection ``cid``; raises NotFound."""
        try:
            return self.by_id[cid]
        except KeyError:
            raise NotFound(cid) from None

    # -- writes ------------------------------------------------------------------------------

    def create(self, form: Mapping[str, str], now: datetime) -> Collection:
        """``POST /collections/``: ``name`` (required), ``description``."""
        only_known(form, {"name", "description"}, "collection")
        name = form.get("name", "").strip()
        if not name:
            raise BadRequest("Collection name can't be empty")
        self._created += 1
        cid = bynder_id(self.seed, "collection", "created", self._created, name)
        collection = Collection(cid, name, form.get("description", ""), now, now)
        self.by_id[cid] = collection
        return collection

    def modify(
        self, cid: str, form: Mapping[str, str], now: datetime, known_media: Callable[[str], bool]
    ) -> None:
        """``POST /collections/{id}/``: ``name``, ``description``, ``isPublic``,
        ``thumbnailAssetId``."""
        collection = self.get(cid)
        only_known(form, {"name", "description", "isPublic", "thumbnailAssetId"}, "collection")
        if "name" in form and not form["name"].strip():
            raise BadRequest("Collection name can't be empty")
        public = flag(form, "isPublic")
        thumbnail = form.get("thumbnailAssetId")
        if thumbnail is not None and not known_media(thumbnail):
            raise BadRequest(f"thumbnailAssetId {thumbnail!r} is not an asset")
        collection.name = form.get("name", collection.name).strip()
        collection.description = form.get("description", collection.description)
        collection.is_public = collection.is_public if public is None else public
        collection.thumbnail_media_id = thumbnail or collection.thumbnail_media_id
        collection.modified = now

    def delete(self, cid: str) -> None:
        self.get(cid)
        del self.by_id[cid]

    def add_media(
        self, cid: str, data: str, now: datetime, known_media: Callable[[str], bool]
    ) -> None:
        """``POST /collections/{id}/media/`` with ``data=<JSON list of asset ids>``."""
        collection = self.get(cid)
        try:
            ids = json.loads(data)
        except ValueError as exc:
            raise BadRequest("data must be a JSON list of asset ids") from exc
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise BadRequest("data must be a JSON list of asset ids")
        if unknown := [i for i in ids if not known_media(i)]:
            raise BadRequest(f"unknown asset ids: {', '.join(unknown)}")
        collection.media = dedupe([*collection.media, *ids])
        collection.modified = now

    def remove_media(self, cid: str, delete_ids: str, now: datetime) -> None:
        """``DELETE /collections/{id}/media/?deleteIds=<ids>``."""
        collection = self.get(cid)
        gone = set(split(delete_ids))
        if not gone:
            raise BadRequest("deleteIds is required")
        collection.media = [m for m in collection.media if m not in gone]
        collection.modified = now

    def share(self, cid: str, form: Mapping[str, str]) -> None:
        """``POST /collections/{id}/share/``: recorded, as nobody is mailed in a sandbox."""
        collection = self.get(cid)
        known = {"recipients", "groups", "profiles", "collectionOptions", "loginRequired"}
        only_known(form, known | {"dateStart", "dateEnd", "sendMail", "message"}, "share")
        if not any(split(form.get(k, "")) for k in ("recipients", "groups", "profiles")):
            raise BadRequest("Recipients, groups or profiles must contain at least one entry")
        if form.get("collectionOptions") not in SHARE_OPTIONS:
            raise BadRequest(f"collectionOptions must be one of {', '.join(sorted(SHARE_OPTIONS))}")
        for name in ("loginRequired", "sendMail"):
            flag(form, name)
        for name in ("dateStart", "dateEnd"):
            if name in form:
                parse_param(form[name], name)
        collection.shares.append(dict(form))

    def forget_media(self, media_id: str) -> None:
        """A deleted asset leaves every collection."""
        for collection in self.by_id.values():
            if media_id in collection.media:
                collection.media.remove(media_id)

    # -- reads -------------------------------------------------------------------------------

    def members_named(self, needle: str) -> set[str]:
        """Ids of the assets in collections whose name contains ``needle`` (case-folded)."""
        return {
            media_id
            for c in self.by_id.values()
            if needle in c.name.casefold()
            for media_id in c.media
        }

    def listing(self, params: Mapping[str, str]) -> list[Collection]:
        """Every collection matching the list parameters, in ``orderBy`` order."""
        only_known(params, _LIST_PARAMS, "collections")
        if flag(params, "count"):
            raise BadRequest("count=1 is not supported by this simulator (answer shape unknown)")
        found: Iterable[Collection] = self.by_id.values()
        if ids := params.get("ids"):
            wanted = set(split(ids))
            found = [c for c in found if c.id in wanted]
        if keyword := params.get("keyword", "").strip().casefold():
            found = [c for c in found if keyword in c.name.casefold()]
        if flag(params, "isPublic"):
            found = [c for c in found if c.is_public]
        if (minimum := params.get("minCount")) is not None:
            if not minimum.isdigit():
                raise BadRequest("minCount must be a whole number")
            found = [c for c in found if len(c.media) >= int(minimum)]
        field_name, descending = parse_order(params.get("orderBy", "dateCreated desc"), _ORDERS)
        key: Callable[[Collection], Any] = (
            (lambda c: (c.created, c.id))
            if field_name == "dateCreated"
            else (lambda c: (c.name.casefold(), c.id))
        )
        return sorted(found, key=key, reverse=descending)

    def render(
        self, collection: Collection, thumbnails: Callable[[str], dict[str, str]]
    ) -> dict[str, Any]:
        """A collection in Bynder's JSON shape; ``thumbnails`` gives an asset's thumbnail URLs."""
        cover_ids = [collection.thumbnail_media_id] if collection.thumbnail_media_id else []
        cover_ids += [m for m in collection.media[:3] if m not in cover_ids]
        covers = [thumbnails(m) for m in cover_ids[:3]]
        thumbnail = covers[0].get("thul", "") if covers else ""
        return {
            "id": collection.id,
            "name": collection.name,
            "description": collection.description,
            "filename": collection.name.lower().replace(" ", "_"),
            "userId": self.owner["id"],
            "user": dict(self.owner),
            "dateCreated": collection_date(collection.created),
            "dateModified": collection_date(collection.modified),
            "collectionCount": len(collection.media),
            "isPublic": collection.is_public,
            "cover": {
                "thumbnail": thumbnail,
                "thumbnails": [c.get("thul", "") for c in covers],
                "large": covers[0].get("webimage", "") if covers else "",
            },
            "link": f"https://acme.bynder.com/collections/view/{collection.id}/",
            "thumbnail": thumbnail,
            "views": 0,
        }


__all__ = ["SHARE_OPTIONS", "Collection", "CollectionStore", "NotFound", "collection_date"]

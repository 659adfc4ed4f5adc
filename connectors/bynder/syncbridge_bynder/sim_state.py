"""The in-memory Bynder portal behind the simulator: media, metaproperties, brands,
collections, queued writes.

Media are rendered from the sandbox ``World`` in Bynder's API v4 shape: two brands share the
media, media of the world's ``Web`` folder are public, and each folder is a collection. Writes
are queued the way Bynder's ``202 Accepted`` implies and applied once their delay has passed
(checked on every request and by ``apply_due``), bumping ``dateModified``; ``apply_pending``
forces them. ``views``/``downloads`` are kept apart: Bynder shows them only with ``stats=1``.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncbridge.sandbox.world import (
    AUDIENCES,
    CHANNELS,
    FOLDERS,
    PRODUCTS,
    REGIONS,
    SandboxAsset,
    World,
)
from syncbridge_bynder.sim_collections import CollectionStore
from syncbridge_bynder.sim_listing import (
    ORDER_KEYS,
    full_listing,
    listing_page,
    parse_query,
)
from syncbridge_bynder.sim_params import (
    BadRequest,
    bynder_id,
    dedupe,
    flag,
    iso,
    parse_iso,
    parse_param,
    split,
)

#: Metaproperty name -> (label, how an asset's value is found in the world).
METAPROPERTIES: dict[str, tuple[str, Callable[[SandboxAsset], str | None]]] = {
    "Channel": ("Channel", lambda a: a.channel),
    "Region": ("Region", lambda a: a.region),
    "Campaign": ("Campaign", lambda a: a.campaign_key),
    "ProductLine": ("Product line", lambda a: a.product),
    "Audience": ("Audience", lambda a: a.audience),
    "PerformanceTier": ("Performance tier", lambda _a: None),
}
#: Modify-media fields Bynder documents that the simulator refuses: the media JSON they would
#: show up in is not published.
_SCHEDULED = ("archiveDate", "limitedDate", "watermarkDate")
_TEXT_FIELDS = ("name", "description", "copyright")
_FLAGS = ("archive", "limited", "isPublic")
#: The world's folder whose media the portal has published.
_PUBLIC_FOLDER = "Web"


@dataclass
class PendingWrite:
    """One accepted ``POST /api/v4/media/{id}/``, applied when ``due`` has passed."""

    due: float
    media_id: str
    fields: dict[str, Any]
    #: metaproperty id -> option ids (validated when the write was accepted).
    options: dict[str, list[str]]
    tags: list[str] | None


@dataclass
class IpRateLimit:
    """Bynder's per-IP limit: N requests per window, then blocked until quiet for ``block_s``."""

    max_requests: int = 4500
    window_s: float = 300.0
    block_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _blocked_until: dict[str, float] = field(default_factory=dict)

    def allow(self, ip: str) -> bool:
        """Count one request from ``ip``; False while it is over the limit or blocked."""
        now = self.clock()
        if self._blocked_until.get(ip, float("-inf")) > now:
            # Requests during the block extend it: the IP must go quiet for block_s.
            self._blocked_until[ip] = now + self.block_s
            return False
        seen = self._seen.setdefault(ip, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.max_requests:
            self._blocked_until[ip] = now + self.block_s
            seen.clear()
            return False
        seen.append(now)
        return True


class BynderPortal:
    """A portal's asset bank: media, metaproperties, brands, collections and the write queue."""

    def __init__(
        self,
        world: World,
        *,
        write_delay_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        inclusive_date_filters: bool = True,
    ) -> None:
        self.world = world
        self.write_delay_s = write_delay_s
        self.clock = clock
        self.wall_clock = wall_clock
        #: Whether ``dateModified=T`` (and ``dateCreated=T``) keep media at exactly ``T``.
        self.inclusive_date_filters = inclusive_date_filters
        self.brand_id = bynder_id(world.seed, "brand")
        self.brands: dict[str, dict[str, Any]] = {
            self.brand_id: _brand(self.brand_id, "Acme"),
        }
        labs = _brand(bynder_id(world.seed, "brand", "labs"), "Acme Labs")
        self.brands[labs["id"]] = labs
        self.metaproperties: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        #: ``views``/``downloads`` by medium, shown with ``stats=1``.
        self.stats: dict[str, dict[str, int]] = {}
        #: Sorted ``(order key, id)`` lists by order field; cleared whenever media change.
        self._indexes: dict[str, list[tuple[Any, str]]] = {}
        #: Each medium's listing JSON, encoded once per state of the media.
        self._encoded: dict[str, bytes] = {}
        self.pending: list[PendingWrite] = []
        self.applied_writes = 0
        self.collections = CollectionStore(
            world.seed, {"id": bynder_id(world.seed, "user"), "name": "Sandbox Uploader"}
        )
        self._seed_metaproperties(world)
        assets = world.assets()
        for asset in assets:
            self.media[asset.id] = self._render(asset, labs["id"])
            self.stats[asset.id] = {
                "views": asset.index * 7 % 500,
                "downloads": asset.index * 3 % 90,
            }
        self._seed_collections(assets)
        #: The newest ``dateModified`` (same-format ISO strings sort like the instants).
        self._newest = max((m["dateModified"] for m in self.media.values()), default="")

    # -- seeding ---------------------------------------------------------------------------

    def _seed_metaproperties(self, world: World) -> None:
        values: dict[str, Iterable[str]] = {
            "Channel": CHANNELS,
            "Region": REGIONS,
            "Campaign": [c.key for c in world.campaigns],
            "ProductLine": PRODUCTS,
            "Audience": AUDIENCES,
            "PerformanceTier": (),
        }
        for z, (name, (label, _)) in enumerate(METAPROPERTIES.items()):
            mp_id = bynder_id(world.seed, "metaproperty", name)
            self.metaproperties[mp_id] = {
                "id": mp_id,
                "name": name,
                "label": label,
                "type": "select",
                "isMultiselect": 1 if name == "PerformanceTier" else 0,
                "isRequired": 0,
                "isFilterable": 1,
                "isMainfilter": 0,
                "isEditable": 1,
                "zindex": z + 1,
                "options": [],
            }
            for option in values[name]:
                self.add_option(mp_id, option, option.replace("-", " ").title())

    def _seed_collections(self, assets: list[SandboxAsset]) -> None:
        for folder in FOLDERS:
            members = [a for a in assets if a.folder == folder]
            created = min((a.created_at for a in members), default=datetime(2025, 1, 1, tzinfo=UTC))
            self.collections.seed_collection(
                folder, folder, created, [a.id for a in members], public=folder == _PUBLIC_FOLDER
            )

    def add_option(self, mp_id: str, name: str, label: str | None = None) -> dict[str, Any]:
        """Create an option on a metaproperty; raises BadRequest when the name is taken."""
        mp = self.metaproperties[mp_id]
        if not name or any(o["name"] == name for o in mp["options"]):
            raise BadRequest(f"option name {name!r} is empty or already exists")
        option = {
            "id": bynder_id(self.world.seed, "option", mp["name"], name),
            "name": name,
            "label": label or name,
            "displayLabel": label or name,
            "isSelectable": 1,
            "zindex": len(mp["options"]) + 1,
            "linkedOptionIds": [],
            "options": [],
        }
        mp["options"].append(option)
        return option

    def metaproperty_by_name(self, name: str) -> dict[str, Any]:
        return next(mp for mp in self.metaproperties.values() if mp["name"] == name)

    def metaproperty_named(self, name: str) -> dict[str, Any] | None:
        """The metaproperty called ``name``, or None."""
        return next((mp for mp in self.metaproperties.values() if mp["name"] == name), None)

    def _option_id(self, mp_name: str, option_name: str) -> str:
        mp = self.metaproperty_by_name(mp_name)
        return str(next(o["id"] for o in mp["options"] if o["name"] == option_name))

    def _render(self, asset: SandboxAsset, labs_brand_id: str) -> dict[str, Any]:
        rng_hash = bynder_id(self.world.seed, "hash", asset.index).replace("-", "")[:16].lower()
        width, height = asset.width, asset.height
        orientation = (
            "square" if width == height else ("landscape" if width > height else "portrait")
        )
        media: dict[str, Any] = {
            "id": asset.id,
            "idHash": rng_hash,
            "name": asset.name,
            "description": f"{asset.asset_type.title()} for {asset.campaign_key}",
            "copyright": "Acme Corp",
            "type": asset.asset_type,
            "extension": [asset.extension],
            "brandId": labs_brand_id if asset.index % 5 == 4 else self.brand_id,
            "tags": list(asset.tags),
            "propertyOptions": [],
            "dateCreated": iso(asset.created_at),
            "dateModified": iso(asset.modified_at),
            "datePublished": iso(asset.created_at),
            "archive": 0,
            "isPublic": 1 if asset.folder == _PUBLIC_FOLDER else 0,
            "limited": 0,
            "watermarked": 0,
            "width": width,
            "height": height,
            "orientation": orientation,
            "fileSize": asset.file_size,
            "userCreated": "Sandbox Uploader",
            "thumbnails": {
                kind: f"https://acme.bynder.com/m/{rng_hash}/{kind}-{asset.name}.jpg"
                for kind in ("mini", "thul", "webimage")
            },
        }
        if asset.asset_type == "video":
            media["videoPreviewURLs"] = [f"https://acme.bynder.com/m/{rng_hash}/preview.mp4"]
        for mp_name, (_label, value_of) in METAPROPERTIES.items():
            value = value_of(asset)
            if value is not None:
                media[f"property_{mp_name}"] = [value]
                media["propertyOptions"].append(self._option_id(mp_name, value))
        return media

    # -- reads -----------------------------------------------------------------------------

    def edit(self, media_id: str, **fields: Any) -> None:
        """Change a medium's fields directly (as the portal's own UI would), keeping the
        listing indexes true."""
        self.media[media_id].update(fields)
        self._changed()

    def _changed(self) -> None:
        self._indexes.clear()
        self._encoded.clear()

    def index(self, field_name: str) -> list[tuple[Any, str]]:
        """Every medium as ``(order key, id)``, sorted; built once per state of the media."""
        index = self._indexes.get(field_name)
        if index is None:
            key = ORDER_KEYS[field_name]
            index = self._indexes[field_name] = sorted(
                (key(m), m["id"]) for m in self.media.values()
            )
        return index

    def encoded(self, media_id: str) -> bytes:
        """A medium's JSON as a listing sends it (as Starlette's ``JSONResponse`` encodes)."""
        raw = self._encoded.get(media_id)
        if raw is None:
            text = json.dumps(
                self.media[media_id], ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )
            raw = self._encoded[media_id] = text.encode()
        return raw

    def listing_page(
        self, params: Mapping[str, str], page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None, list[dict[str, Any]] | None]:
        """One page of :meth:`listing`, the number of matches when known without a scan (or
        asked for), and every match with ``count=1``/``total=1``. Raises BadRequest."""
        return listing_page(self, parse_query(params, self), page, limit)

    def listing(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every medium matching the v4 list filters, in ``orderBy`` order (ties by id)."""
        return full_listing(self, parse_query(params, self))

    def media_items(self, media_id: str) -> list[dict[str, Any]]:
        """A medium's files (``mediaItems``): the original, version 1, active."""
        media = self.media[media_id]
        return [
            {
                "id": bynder_id(self.world.seed, "item", media_id, 1),
                "type": "original",
                "version": 1,
                "active": 1,
                "fileName": f"{media['name']}.{media['extension'][0]}",
                "dateCreated": media["dateCreated"],
                "size": media["fileSize"],
                "width": media["width"],
                "height": media["height"],
                "thumbnails": dict(media["thumbnails"]),
            }
        ]

    def tag_counts(self) -> Counter[str]:
        return Counter(tag for m in self.media.values() for tag in m["tags"])

    # -- writes ----------------------------------------------------------------------------

    def accept_write(self, media_id: str, form: Mapping[str, str]) -> None:
        """Validate and queue a modify-media form; raises BadRequest, KeyError (unknown id).

        Keys Bynder does not document are ignored, as Bynder ignores them.
        """
        if media_id not in self.media:
            raise KeyError(media_id)
        if scheduled := [k for k in _SCHEDULED if k in form]:
            raise BadRequest(
                f"{scheduled[0]} (scheduled changes) is not supported by the simulator"
            )
        options: dict[str, list[str]] = {}
        for key, value in form.items():
            if key.startswith("metaproperty."):
                options[key.removeprefix("metaproperty.")] = self._valid_options(key, value)
        tags = dedupe(split(form["tags"])) if "tags" in form else None
        fields = self._valid_fields(self.media[media_id], form)
        if tags is None and not options and not fields:
            return
        due = self.clock() + self.write_delay_s
        self.pending.append(PendingWrite(due, media_id, fields, options, tags))

    def _valid_fields(self, media: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
        fields: dict[str, Any] = {k: form[k] for k in _TEXT_FIELDS if k in form}
        if "brandId" in form:
            if form["brandId"] not in self.brands:
                raise BadRequest(f"brandId {form['brandId']!r} is not a brand of this portal")
            fields["brandId"] = form["brandId"]
        if "datePublished" in form:
            fields["datePublished"] = iso(parse_param(form["datePublished"], "datePublished"))
        for name in _FLAGS:
            value = flag(form, name)
            if value is not None:
                fields[name] = int(value)
        if fields.get("isPublic") == 0 and media["isPublic"] == 1:
            raise BadRequest("isPublic cannot be changed back once an asset is public")
        return fields

    def _valid_options(self, key: str, value: str) -> list[str]:
        mp = self.metaproperties.get(key.removeprefix("metaproperty."))
        if mp is None:
            raise BadRequest(f"unknown metaproperty in {key!r}")
        known = {o["id"] for o in mp["options"]}
        chosen = dedupe(split(value))
        if unknown := [o for o in chosen if o not in known]:
            raise BadRequest(f"unknown option ids for {mp['name']}: {', '.join(unknown)}")
        if len(chosen) > 1 and not mp["isMultiselect"]:
            raise BadRequest(f"{mp['name']} takes one option")
        return chosen

    def delete(self, media_id: str) -> None:
        """Delete a medium (``DELETE /api/v4/media/{id}/``); raises KeyError."""
        del self.media[media_id]
        self.stats.pop(media_id, None)
        self.collections.forget_media(media_id)
        self._changed()

    def apply_due(self) -> int:
        """Apply the queued writes whose delay has passed; returns how many were applied."""
        now = self.clock()
        due = [w for w in self.pending if w.due <= now]
        if due:
            self.pending = [w for w in self.pending if w.due > now]
            for write in due:
                self._apply(write)
        return len(due)

    def apply_pending(self) -> int:
        """Apply every queued write now, whatever its delay."""
        queued, self.pending = self.pending, []
        for write in queued:
            self._apply(write)
        return len(queued)

    def _apply(self, write: PendingWrite) -> None:
        media = self.media.get(write.media_id)
        if media is None:
            return
        media.update(write.fields)
        if write.tags is not None:
            media["tags"] = write.tags
        for mp_id, chosen in write.options.items():
            mp = self.metaproperties[mp_id]
            own = {o["id"] for o in mp["options"]}
            kept = [o for o in media["propertyOptions"] if o not in own]
            media["propertyOptions"] = kept + chosen
            names = [o["name"] for o in mp["options"] if o["id"] in chosen]
            if names:
                media[f"property_{mp['name']}"] = names
            else:
                media.pop(f"property_{mp['name']}", None)
        media["dateModified"] = self._newest = iso(self.now())
        self._changed()
        self.applied_writes += 1

    def now(self) -> datetime:
        """The portal's clock: wall time, never behind the newest ``dateModified``.

        The sandbox world dates some assets ahead of the real clock; a write must still move
        its asset to the end of a ``dateModified asc`` listing, as it does on a live portal.
        """
        wall = self.wall_clock().replace(microsecond=0)
        if not self._newest or iso(wall) >= self._newest:
            return wall
        return parse_iso(self._newest)


def _brand(brand_id: str, name: str) -> dict[str, Any]:
    return {
        "id": brand_id,
        "name": name,
        "description": f"{name} brand (sandbox)",
        "image": f"https://acme.bynder.com/brands/{brand_id}/logo.png",
        "subBrands": [],
    }


__all__ = [
    "METAPROPERTIES",
    "BadRequest",
    "BynderPortal",
    "IpRateLimit",
    "PendingWrite",
    "bynder_id",
    "iso",
    "parse_iso",
]

"""The in-memory Bynder portal behind the simulator: media, metaproperties, queued writes.

Media are rendered from the sandbox ``World`` in Bynder's API v4 shape. Writes are queued the
way Bynder's ``202 Accepted`` implies and applied once their delay has passed (checked on
every request and by ``apply_due``), bumping ``dateModified``; ``apply_pending`` forces them.
"""

from __future__ import annotations

import bisect
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncbridge.sandbox.world import AUDIENCES, CHANNELS, PRODUCTS, REGIONS, SandboxAsset, World

_NS = uuid.UUID("6f1c6f54-2f57-4d0e-9a55-0b7f0b1d2a10")

#: Metaproperty name -> (label, how an asset's value is found in the world).
METAPROPERTIES: dict[str, tuple[str, Callable[[SandboxAsset], str | None]]] = {
    "Channel": ("Channel", lambda a: a.channel),
    "Region": ("Region", lambda a: a.region),
    "Campaign": ("Campaign", lambda a: a.campaign_key),
    "ProductLine": ("Product line", lambda a: a.product),
    "Audience": ("Audience", lambda a: a.audience),
    "PerformanceTier": ("Performance tier", lambda _a: None),
}


def bynder_id(*parts: object) -> str:
    """A deterministic id in Bynder's ``8-4-4-16`` upper-case style (metaproperties, options)."""
    raw = str(uuid.uuid5(_NS, ":".join(map(str, parts)))).upper()
    return raw[:23] + raw[24:]


def iso(at: datetime) -> str:
    """Bynder's timestamp format: ISO 8601 in UTC to the second with ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """A Bynder date parameter (``2024-01-02``, ``...T10:00:00Z``, with offset) as aware UTC."""
    at = datetime.fromisoformat(value.strip().replace(" ", "+"))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class BadRequest(ValueError):
    """The request is wrong in a way Bynder answers with 400."""


@dataclass
class PendingWrite:
    """One accepted ``POST /api/v4/media/{id}/``, applied when ``due`` has passed."""

    due: float
    media_id: str
    fields: dict[str, str]
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
    """A portal's asset bank: media by id, metaproperties by id, and the write queue."""

    def __init__(
        self,
        world: World,
        *,
        write_delay_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.world = world
        self.write_delay_s = write_delay_s
        self.clock = clock
        self.wall_clock = wall_clock
        self.brand_id = bynder_id(world.seed, "brand")
        self.metaproperties: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        #: Sorted ``(order key, id)`` lists by order field; cleared whenever media change.
        self._indexes: dict[str, list[tuple[Any, str]]] = {}
        self.pending: list[PendingWrite] = []
        self.applied_writes = 0
        self._seed_metaproperties(world)
        for asset in world.assets():
            self.media[asset.id] = self._render(asset)
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

    def _option_id(self, mp_name: str, option_name: str) -> str:
        mp = self.metaproperty_by_name(mp_name)
        return str(next(o["id"] for o in mp["options"] if o["name"] == option_name))

    def _render(self, asset: SandboxAsset) -> dict[str, Any]:
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
            "brandId": self.brand_id,
            "tags": list(asset.tags),
            "propertyOptions": [],
            "dateCreated": iso(asset.created_at),
            "dateModified": iso(asset.modified_at),
            "datePublished": iso(asset.created_at),
            "archive": 0,
            "isPublic": 0,
            "limited": 0,
            "watermarked": 0,
            "width": width,
            "height": height,
            "orientation": orientation,
            "fileSize": asset.file_size,
            "userCreated": "Sandbox Uploader",
            "views": asset.index * 7 % 500,
            "downloads": asset.index * 3 % 90,
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
        self._indexes.clear()

    def _index(self, field_name: str) -> list[tuple[Any, str]]:
        """Every medium as ``(order key, id)``, sorted; built once per state of the media."""
        index = self._indexes.get(field_name)
        if index is None:
            key = _ORDER_KEYS[field_name]
            index = self._indexes[field_name] = sorted(
                (key(m), m["id"]) for m in self.media.values()
            )
        return index

    def listing_page(
        self, params: Mapping[str, str], page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]] | None]:
        """One page of :meth:`listing`, its total, and (with ``count=1``) every match.

        The common read (no filter but ``dateModified``, in any order) is served from a
        sorted index: a page costs about the page, not the portal.
        """
        filters = {k for k in params if k in _FILTERS}
        if filters <= {"dateModified"} and params.get("count") != "1":
            field_name, descending = _order(params.get("orderBy", "dateCreated desc"))
            index = self._index(field_name)
            since = params.get("dateModified")
            if since and (field_name != "dateModified" or descending):
                return self._page_of(self.listing(params), page, limit)
            start = 0
            if since:
                floor = iso(_parse_param(since, "dateModified"))
                start = bisect.bisect_left(index, (floor, ""))
            offset = (page - 1) * limit
            if descending:
                high = len(index) - offset
                ids = [i for _k, i in reversed(index[max(0, high - limit) : max(0, high)])]
            else:
                ids = [i for _k, i in index[start + offset : start + offset + limit]]
            return [self.media[i] for i in ids], len(index) - start, None
        return self._page_of(self.listing(params), page, limit)

    @staticmethod
    def _page_of(
        items: list[dict[str, Any]], page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
        return items[(page - 1) * limit : page * limit], len(items), items

    def listing(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every medium matching the v4 list filters, in ``orderBy`` order (ties by id)."""
        items: Iterable[dict[str, Any]] = self.media.values()
        if since := params.get("dateModified"):
            floor = iso(_parse_param(since, "dateModified"))
            items = [m for m in items if m["dateModified"] >= floor]
        if kind := params.get("type"):
            items = [m for m in items if m["type"] == kind]
        if ids := params.get("ids"):
            wanted = set(_split(ids))
            items = [m for m in items if m["id"] in wanted]
        if tags := params.get("tags"):
            needed = set(_split(tags))
            items = [m for m in items if needed <= set(m["tags"])]
        if options := params.get("propertyOptionId"):
            needed = set(_split(options))
            items = [m for m in items if needed <= set(m["propertyOptions"])]
        if keyword := params.get("keyword", "").strip().casefold():
            items = [m for m in items if keyword in _haystack(m)]
        return _ordered(list(items), params.get("orderBy", "dateCreated desc"))

    def tag_counts(self) -> Counter[str]:
        return Counter(tag for m in self.media.values() for tag in m["tags"])

    # -- writes ----------------------------------------------------------------------------

    def accept_write(self, media_id: str, form: Mapping[str, str]) -> None:
        """Validate and queue a modify-media form; raises BadRequest, KeyError (unknown id)."""
        if media_id not in self.media:
            raise KeyError(media_id)
        options: dict[str, list[str]] = {}
        for key, value in form.items():
            if key.startswith("metaproperty."):
                options[key.removeprefix("metaproperty.")] = self._valid_options(key, value)
        tags = _dedupe(_split(form["tags"])) if "tags" in form else None
        fields = {k: form[k] for k in ("name", "description", "copyright") if k in form}
        if tags is None and not options and not fields:
            return
        due = self.clock() + self.write_delay_s
        self.pending.append(PendingWrite(due, media_id, fields, options, tags))

    def _valid_options(self, key: str, value: str) -> list[str]:
        mp = self.metaproperties.get(key.removeprefix("metaproperty."))
        if mp is None:
            raise BadRequest(f"unknown metaproperty in {key!r}")
        known = {o["id"] for o in mp["options"]}
        chosen = _dedupe(_split(value))
        if unknown := [o for o in chosen if o not in known]:
            raise BadRequest(f"unknown option ids for {mp['name']}: {', '.join(unknown)}")
        if len(chosen) > 1 and not mp["isMultiselect"]:
            raise BadRequest(f"{mp['name']} takes one option")
        return chosen

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
        self._indexes.clear()
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


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _dedupe(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _parse_param(value: str, name: str) -> datetime:
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise BadRequest(f"{name} is not an ISO 8601 date") from exc


def _haystack(media: Mapping[str, Any]) -> str:
    return " ".join([media["name"], media.get("description", ""), *media["tags"]]).casefold()


_ORDER_KEYS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "dateModified": lambda m: m["dateModified"],
    "dateCreated": lambda m: m["dateCreated"],
    "name": lambda m: m["name"].casefold(),
}


#: The list filters :meth:`BynderPortal.listing` applies.
_FILTERS = frozenset({"dateModified", "type", "ids", "tags", "propertyOptionId", "keyword"})


def _order(order_by: str) -> tuple[str, bool]:
    """``(field, descending)`` of an ``orderBy``; BadRequest when unsupported."""
    field_name, _, direction = order_by.strip().partition(" ")
    if field_name not in _ORDER_KEYS or direction.strip().lower() not in ("asc", "desc"):
        raise BadRequest(f"orderBy {order_by!r} is not supported")
    return field_name, direction.strip().lower() == "desc"


def _ordered(items: list[dict[str, Any]], order_by: str) -> list[dict[str, Any]]:
    field_name, descending = _order(order_by)
    key = _ORDER_KEYS[field_name]
    # The id tie-break keeps pages stable when many media share a timestamp.
    return sorted(items, key=lambda m: (key(m), m["id"]), reverse=descending)


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

"""The query parameters of Admin API reads: every one is honoured or refused, none ignored.

Each route names the parameters it accepts (the ones the official SDKs send to it, from
``cloudinary/api.py``); any other parameter, a scalar given twice, or a value out of its domain
is answered with 400 in Cloudinary's error shape. Parameters documented by Cloudinary that the
simulator cannot honour (moderation data, analyses of the file) are refused the same way when
they ask for something; asking for nothing (``colors=false``) is accepted. An empty value
counts as absent, as the SDKs never send one (``normalize_params`` drops them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from starlette.datastructures import QueryParams

from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_render import Shape, checked_fields

MAX_RESULTS_LIMIT = 500
DEFAULT_MAX_RESULTS = 10
#: The include flags and ``fields`` (``__resources_params`` in the SDK).
INCLUDE = frozenset({"tags", "context", "metadata", "moderations", "fields"})
#: The paging of listings (``__list_resources_params`` in the SDK).
PAGING = frozenset({"next_cursor", "max_results", "direction"})
#: Details flags asking for analyses of the file, which the simulator does not hold.
ANALYSES = frozenset(
    {
        "exif",
        "faces",
        "colors",
        "image_metadata",
        "media_metadata",
        "cinemagraph_analysis",
        "pages",
        "phash",
        "coordinates",
        "quality_analysis",
        "accessibility_analysis",
        "versions",
        "related",
    }
)
#: What ``resource()`` and ``resource_by_asset_id()`` send, plus the listing include flags
#: (which a details answer always satisfies: it carries tags, context and metadata).
DETAILS_PARAMS = ANALYSES | {
    "max_results",
    "derived_next_cursor",
    "related_next_cursor",
    "tags",
    "context",
    "metadata",
}
_TRUE = ("true", "1")
_FALSE = ("false", "0")


class AdminQuery:
    """The query string of one Admin API read, checked against what the route accepts."""

    def __init__(self, params: QueryParams, accepted: Iterable[str]) -> None:
        self.params = params
        allowed = frozenset(accepted)
        for name in params:
            if name not in allowed:
                raise CloudinaryApiError(400, f"Unknown parameter - {name}")

    def text(self, name: str) -> str | None:
        """A scalar parameter (None when absent or empty); 400 when given twice."""
        values = self.params.getlist(name)
        if len(values) > 1:
            raise CloudinaryApiError(400, f"Parameter {name} given more than once")
        return values[0] if values and values[0] else None

    def values(self, name: str) -> list[str]:
        """A list parameter, sent as ``name[]=a&name[]=b`` (the SDKs) or ``name=a&name=b``."""
        return [v for v in [*self.params.getlist(f"{name}[]"), *self.params.getlist(name)] if v]

    def flag(self, name: str) -> bool | None:
        """A boolean parameter (None when absent); 400 for anything but true/false/1/0."""
        raw = self.text(name)
        if raw is None:
            return None
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise CloudinaryApiError(400, f"Invalid value {raw} for parameter {name}")

    def max_results(self) -> int:
        """``max_results``: 1 to 500, default 10."""
        raw = self.text("max_results")
        if raw is None:
            return DEFAULT_MAX_RESULTS
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or int(raw) < 1:
            raise CloudinaryApiError(400, "max_results must be a positive integer")
        if int(raw) > MAX_RESULTS_LIMIT:
            raise CloudinaryApiError(400, f"max_results must be at most {MAX_RESULTS_LIMIT}")
        return int(raw)

    def descending(self) -> bool:
        """``direction``: ``desc`` or ``-1`` (the default), ``asc`` or ``1``."""
        raw = (self.text("direction") or "desc").lower()
        if raw in ("asc", "1"):
            return False
        if raw in ("desc", "-1"):
            return True
        raise CloudinaryApiError(400, "direction must be asc or desc")

    def start_at(self) -> datetime | None:
        """``start_at`` (``yyyy-mm-dd hh:mm:ss``, UTC unless it names an offset)."""
        raw = self.text("start_at")
        if raw is None:
            return None
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise CloudinaryApiError(400, "start_at must be yyyy-mm-dd hh:mm:ss") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def shape(self) -> Shape:
        """The include flags and ``fields`` of a listing."""
        if self.flag("moderations"):
            raise CloudinaryApiError(400, "moderations: the simulator holds no moderation data")
        fields = self.params.getlist("fields")
        return Shape(
            tags=bool(self.flag("tags")),
            context=bool(self.flag("context")),
            metadata=bool(self.flag("metadata")),
            fields=checked_fields(fields) if fields else None,
        )

    def check_details(self) -> None:
        """The parameters of a details call: nothing the simulator cannot answer."""
        for name in sorted(ANALYSES):
            if self.flag(name):
                raise CloudinaryApiError(400, f"{name}: not available in this simulator")
        for name in ("tags", "context", "metadata"):
            if self.flag(name) is False:
                raise CloudinaryApiError(400, f"{name}: details always include {name}")
        for name in ("derived_next_cursor", "related_next_cursor"):
            if self.text(name) is not None:
                raise CloudinaryApiError(400, f"Invalid {name}")
        self.max_results()

    def refuse_with(self, mode: str, *names: str) -> None:
        """400 when any of ``names`` comes together with ``mode`` (``public_ids``...)."""
        for name in names:
            if self.text(name) is not None:
                raise CloudinaryApiError(400, f"{name} is not supported together with {mode}")


__all__ = [
    "ANALYSES",
    "DEFAULT_MAX_RESULTS",
    "DETAILS_PARAMS",
    "INCLUDE",
    "MAX_RESULTS_LIMIT",
    "PAGING",
    "AdminQuery",
]

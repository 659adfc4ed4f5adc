"""The simulated portal's catalogue routes: metaproperties, tags, brands, derivatives.

* ``GET /api/v4/metaproperties/`` (an object keyed by name) with ``count`` (options carry
  ``mediaCount``), ``type`` (counts only media of those types), ``options`` (0 leaves the
  options out) and ``ids``; ``GET .../{id}/`` with ``count``, ``type``, ``options``;
  ``POST .../{id}/options/`` with form field ``data=<JSON>`` (answer shape UNVERIFIED).
* ``GET /api/v4/tags/`` ``[{id, tag, mediaCount}]`` with ``limit``, ``page``, ``orderBy``
  (``tag|mediaCount asc|desc``, default ``tag asc``), ``keyword``, ``mincount``.
* ``GET /api/v4/brands/`` ``[{id, name, description, image, subBrands}]``.
* ``GET /api/v4/account/derivatives/``: the portal's thumbnail derivatives.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncbridge_bynder.sim_http import error, form, paging
from syncbridge_bynder.sim_params import (
    BadRequest,
    bynder_id,
    flag,
    only_known,
    parse_order,
    split,
)
from syncbridge_bynder.sim_state import BynderPortal

_TAG_ORDERS: dict[str, Callable[[dict[str, Any]], tuple[Any, str]]] = {
    "tag": lambda t: (t["tag"], t["tag"]),
    "mediaCount": lambda t: (t["mediaCount"], t["tag"]),
}
_DERIVATIVES = [
    {
        "prefix": prefix,
        "width": size,
        "height": size,
        "isCrop": crop,
        "dpi": -1,
        "allowedTypes": "",
        "isOnTheFly": True,
        "isExtent": False,
        "isPublic": False,
    }
    for prefix, size, crop in (("thul", 250, False), ("webimage", 800, False), ("mini", 80, True))
]
Shown = Callable[[Mapping[str, Any]], dict[str, Any]]


def catalog_routes(portal: BynderPortal) -> list[Route]:
    """The catalogue routes over ``portal``."""

    def shown_as(params: Mapping[str, str]) -> Shown:
        """How a metaproperty is shown under ``count``/``type``/``options``; BadRequest."""
        with_options = flag(params, "options") is not False
        counts: Counter[str] | None = None
        if flag(params, "count"):
            types = set(split(params.get("type", "")))
            counts = Counter(
                o
                for m in portal.media.values()
                if not types or m["type"] in types
                for o in m["propertyOptions"]
            )

        def shown(mp: Mapping[str, Any]) -> dict[str, Any]:
            body = {k: v for k, v in mp.items() if k != "options"}
            if with_options:
                body["options"] = [
                    o if counts is None else {**o, "mediaCount": counts[o["id"]]}
                    for o in mp["options"]
                ]
            return body

        return shown

    async def metaproperties(request: Request) -> Response:
        params = request.query_params
        try:
            only_known(params, ("count", "type", "options", "ids"), "metaproperties")
            shown = shown_as(params)
        except BadRequest as exc:
            return error(400, str(exc))
        wanted = set(split(params["ids"])) if "ids" in params else None
        return JSONResponse(
            {
                mp["name"]: shown(mp)
                for mp in portal.metaproperties.values()
                if wanted is None or mp["id"] in wanted
            }
        )

    async def metaproperty(request: Request) -> Response:
        params = request.query_params
        try:
            only_known(params, ("count", "type", "options"), "metaproperty")
            shown = shown_as(params)
        except BadRequest as exc:
            return error(400, str(exc))
        mp = portal.metaproperties.get(request.path_params["mp_id"])
        if mp is None:
            return error(404, "Metaproperty not found")
        return JSONResponse(shown(mp))

    async def create_option(request: Request) -> Response:
        mp_id = request.path_params["mp_id"]
        if mp_id not in portal.metaproperties:
            return error(404, "Metaproperty not found")
        try:
            data = json.loads((await form(request)).get("data", ""))
            if not isinstance(data, dict) or not isinstance(data.get("name"), str):
                raise BadRequest("data must be a JSON object with a name")
            label = data.get("label")
            option = portal.add_option(
                mp_id, data["name"], label if isinstance(label, str) else None
            )
        except (ValueError, BadRequest) as exc:
            return error(400, str(exc))
        body = {"message": "Created", "statuscode": 201, "id": option["id"]}
        return JSONResponse(body, status_code=201)

    async def tags(request: Request) -> Response:
        params = request.query_params
        try:
            only_known(params, ("limit", "page", "orderBy", "keyword", "mincount"), "tags")
            page, limit = paging(params)
            field_name, descending = parse_order(params.get("orderBy", "tag asc"), _TAG_ORDERS)
            minimum = params.get("mincount", "0")
            if not minimum.isdigit():
                raise BadRequest("mincount must be a whole number")
        except BadRequest as exc:
            return error(400, str(exc))
        keyword = params.get("keyword", "").strip().casefold()
        found = [
            {"id": bynder_id(portal.world.seed, "tag", tag), "tag": tag, "mediaCount": n}
            for tag, n in portal.tag_counts().items()
            if n >= int(minimum) and keyword in tag.casefold()
        ]
        found.sort(key=_TAG_ORDERS[field_name], reverse=descending)
        return JSONResponse(found[(page - 1) * limit : page * limit])

    async def brands(request: Request) -> Response:
        if request.query_params:
            return error(400, "brands: this route takes no parameters")
        return JSONResponse(list(portal.brands.values()))

    async def derivatives(request: Request) -> Response:
        if request.query_params:
            return error(400, "derivatives: this route takes no parameters")
        return JSONResponse(_DERIVATIVES)

    return [
        Route("/api/v4/metaproperties/", metaproperties, methods=["GET"]),
        Route("/api/v4/metaproperties/{mp_id}/", metaproperty, methods=["GET"]),
        Route("/api/v4/metaproperties/{mp_id}/options/", create_option, methods=["POST"]),
        Route("/api/v4/tags/", tags, methods=["GET"]),
        Route("/api/v4/brands/", brands, methods=["GET"]),
        Route("/api/v4/account/derivatives/", derivatives, methods=["GET"]),
    ]


__all__ = ["catalog_routes"]

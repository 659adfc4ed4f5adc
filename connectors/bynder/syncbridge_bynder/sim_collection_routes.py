"""The simulated portal's ``/api/v4/collections/`` routes (those the official SDKs call).

Answers follow Bynder's API reference: create answers 201 ``Created`` with a ``Location``
header (its body carries no id), adding media and sharing answer 202, deletes answer 204,
an unknown collection 404 ``Collection not found``. Modify answers 201 (the reference's
status; its body text is UNVERIFIED).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncbridge_bynder.sim_collections import NotFound
from syncbridge_bynder.sim_http import accepted, error, form, paging
from syncbridge_bynder.sim_params import BadRequest, only_known
from syncbridge_bynder.sim_state import BynderPortal

Handler = Callable[[Request], Awaitable[Response]]


def collection_routes(portal: BynderPortal) -> list[Route]:
    """The collection routes over ``portal``."""
    store = portal.collections

    def thumbnails(media_id: str) -> dict[str, str]:
        media = portal.media.get(media_id)
        return dict(media["thumbnails"]) if media else {}

    def known(media_id: str) -> bool:
        return media_id in portal.media

    def guarded(handler: Handler) -> Handler:
        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFound:
                return error(404, "Collection not found")
            except BadRequest as exc:
                return error(400, str(exc))

        return answer

    async def listing(request: Request) -> Response:
        params = request.query_params
        page, limit = paging(params)
        found = store.listing(params)[(page - 1) * limit : page * limit]
        return JSONResponse([store.render(c, thumbnails) for c in found])

    async def create(request: Request) -> Response:
        collection = store.create(await form(request), portal.now())
        response = accepted(201, "Created")
        response.headers["Location"] = str(request.url_for("collection", cid=collection.id))
        return response

    async def one(request: Request) -> Response:
        only_known(request.query_params, (), "collection")
        return JSONResponse(store.render(store.get(request.path_params["cid"]), thumbnails))

    async def modify(request: Request) -> Response:
        store.modify(request.path_params["cid"], await form(request), portal.now(), known)
        return accepted(201, "Collection modified")

    async def delete(request: Request) -> Response:
        store.delete(request.path_params["cid"])
        return Response(status_code=204)

    async def share(request: Request) -> Response:
        store.share(request.path_params["cid"], await form(request))
        return accepted(202, "accepted")

    async def media(request: Request) -> Response:
        only_known(request.query_params, (), "collection media")
        return JSONResponse(list(store.get(request.path_params["cid"]).media))

    async def add_media(request: Request) -> Response:
        data = (await form(request)).get("data", "")
        store.add_media(request.path_params["cid"], data, portal.now(), known)
        return accepted()

    async def remove_media(request: Request) -> Response:
        params = request.query_params
        only_known(params, ("deleteIds",), "collection media")
        store.remove_media(request.path_params["cid"], params.get("deleteIds", ""), portal.now())
        return Response(status_code=204)

    base = "/api/v4/collections/"
    return [
        Route(base, guarded(listing), methods=["GET"]),
        Route(base, guarded(create), methods=["POST"]),
        Route(base + "{cid}/", guarded(one), methods=["GET"], name="collection"),
        Route(base + "{cid}/", guarded(modify), methods=["POST"]),
        Route(base + "{cid}/", guarded(delete), methods=["DELETE"]),
        Route(base + "{cid}/share/", guarded(share), methods=["POST"]),
        Route(base + "{cid}/media/", guarded(media), methods=["GET"]),
        Route(base + "{cid}/media/", guarded(add_media), methods=["POST"]),
        Route(base + "{cid}/media/", guarded(remove_media), methods=["DELETE"]),
    ]


__all__ = ["collection_routes"]

"""The simulated HubSpot API's routes: CRM objects, properties, associations, campaigns."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncbridge_hubspot.sim_campaigns import ASSET_TYPES, SORTS, CampaignStore
from syncbridge_hubspot.sim_edge import hubspot_error, parse_json_body
from syncbridge_hubspot.sim_objects import (
    ALWAYS,
    ASSOCIATION_TYPES,
    DEFAULT_PROPERTIES,
    TYPE_IDS,
    CrmStore,
    SimObject,
    hubspot_time,
)
from syncbridge_hubspot.sim_properties import (
    MODIFIED,
    PROPERTY_DEFINITIONS,
    SINGULAR,
    property_definitions,
)
from syncbridge_hubspot.sim_search import SearchError, SearchLimits, parse_request, run

LIST_MAX = 100
LIST_DEFAULT = 10
BATCH_READ_MAX = 100
V4_BATCH_MAX = 1000
V4_PAGE_MAX = 500
CAMPAIGN_LIST_MAX = 100
CAMPAIGN_LIST_DEFAULT = 50
ASSETS_DEFAULT = 10
ASSETS_MAX = 100
_KIND_BY_NAME = {
    **{k: k for k in TYPE_IDS},
    **{v: k for k, v in TYPE_IDS.items()},
    **{v: k for k, v in SINGULAR.items()},
}
_DEFINED = {kind: frozenset(d[0] for d in defs) for kind, defs in PROPERTY_DEFINITIONS.items()}


class BadRequest(ValueError):
    """A request HubSpot answers with 400 ``VALIDATION_ERROR``."""


def _kind(name: str) -> str:
    kind = _KIND_BY_NAME.get(name.lower())
    if kind is None:
        raise BadRequest(f"Unable to infer object type from: {name}")
    return kind


def _names(params: QueryParams, key: str) -> list[str] | None:
    """A list parameter, repeated (the SDK's ``multi``) or comma-separated; None if absent."""
    if key not in params:
        return None
    return [n.strip() for v in params.getlist(key) for n in v.split(",") if n.strip()]


def _int_param(params: QueryParams, key: str, default: int, low: int, high: int) -> int:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{key} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{key} must be between {low} and {high}")
    return value


def _bool_param(params: QueryParams, key: str) -> bool:
    raw = params.get(key, "false").lower()
    if raw not in ("true", "false"):
        raise BadRequest(f"{key} must be true or false")
    return raw == "true"


def _no_history(names: list[str] | None) -> None:
    if names:
        raise BadRequest("propertiesWithHistory is not supported by this simulator")


class Routes:
    """Request handlers over one portal's stores."""

    def __init__(
        self,
        crm: CrmStore,
        campaigns: CampaignStore,
        account: Mapping[str, Any],
        limits: SearchLimits,
    ) -> None:
        self.crm = crm
        self.campaigns = campaigns
        self.account = dict(account)
        self.search_limits = limits

    def routes(self) -> list[Route]:
        crm, v4, mkt = "/crm/v3/objects/{kind}", "/crm/v4", "/marketing/v3/campaigns"
        handlers = [
            ("/account-info/v3/details", self.account_info, "GET"),
            ("/crm/v3/properties/{kind}", self.properties, "GET"),
            ("/crm/v3/properties/{kind}/{name}", self.property, "GET"),
            (crm, self.list_objects, "GET"),
            (crm + "/search", self.search, "POST"),
            (crm + "/batch/read", self.batch_read, "POST"),
            (crm + "/{object_id}", self.read_object, "GET"),
            (v4 + "/associations/{kind}/{to}/batch/read", self.v4_batch, "POST"),
            (v4 + "/objects/{kind}/{object_id}/associations/{to}", self.v4_page, "GET"),
            (mkt, self.list_campaigns, "GET"),
            (mkt + "/{guid}", self.read_campaign, "GET"),
            (mkt + "/{guid}/assets/{asset_type}", self.campaign_assets, "GET"),
        ]
        return [Route(path, _guarded(fn), methods=[m]) for path, fn, m in handlers]

    # ----- account and properties ---------------------------------------------------------

    async def account_info(self, _request: Request) -> Response:
        return JSONResponse(self.account)

    async def properties(self, request: Request) -> Response:
        kind = _kind(request.path_params["kind"])
        if _bool_param(request.query_params, "archived"):
            return JSONResponse({"results": []})
        return JSONResponse({"results": property_definitions(kind, self.crm.industries)})

    async def property(self, request: Request) -> Response:
        kind, name = _kind(request.path_params["kind"]), request.path_params["name"]
        for definition in property_definitions(kind, self.crm.industries):
            if definition["name"] == name:
                return JSONResponse(definition)
        return hubspot_error(404, f"Property {name} does not exist")

    # ----- objects ------------------------------------------------------------------------

    def render(self, kind: str, record: SimObject, names: list[str] | None) -> dict[str, Any]:
        wanted = DEFAULT_PROPERTIES[kind] if names is None else names
        defined, props = _DEFINED[kind], record.properties
        shown = {n: props.get(n) for n in (*wanted, *ALWAYS, MODIFIED[kind]) if n in defined}
        # The create and modification dates are kept rendered in the properties.
        out: dict[str, Any] = {
            "id": record.id,
            "properties": shown,
            "createdAt": props["createdate"],
            "updatedAt": props[MODIFIED[kind]],
            "archived": record.archived,
        }
        if record.archived_at is not None:
            out["archivedAt"] = hubspot_time(record.archived_at)
        return out

    def embed(self, out: dict[str, Any], kind: str, record_id: str, to_kinds: list[str]) -> None:
        """Add the ``associations`` block of a list/read answer (types with none left out)."""
        block = {}
        for to_kind in to_kinds:
            ids = self.crm.associated(kind, record_id, to_kind)
            if ids:
                name = ASSOCIATION_TYPES[(kind, to_kind)][1]
                block[to_kind] = {"results": [{"id": i, "type": name} for i in ids]}
        if block:
            out["associations"] = block

    def _association_kinds(self, kind: str, params: QueryParams) -> list[str]:
        kinds = [_kind(n) for n in _names(params, "associations") or []]
        for to_kind in kinds:
            if (kind, to_kind) not in ASSOCIATION_TYPES:
                raise BadRequest(f"No association from {kind} to {to_kind}")
        return kinds

    async def list_objects(self, request: Request) -> Response:
        kind, params = _kind(request.path_params["kind"]), request.query_params
        limit = _int_param(params, "limit", LIST_DEFAULT, 1, LIST_MAX)
        after = params.get("after")
        if after is not None and not (after.isascii() and after.isdigit()):
            raise BadRequest("after must be the id to continue from")
        _no_history(_names(params, "propertiesWithHistory"))
        names, to_kinds = _names(params, "properties"), self._association_kinds(kind, params)
        table = self.crm.tables[kind]
        ids, following = table.page(
            archived=_bool_param(params, "archived"), after=after, limit=limit
        )
        results = []
        for record_id in ids:
            item = self.render(kind, table.records[record_id], names)
            if to_kinds:
                self.embed(item, kind, record_id, to_kinds)
            results.append(item)
        body: dict[str, Any] = {"results": results}
        if following is not None:
            link = request.url.include_query_params(after=following)
            body["paging"] = {"next": {"after": following, "link": str(link)}}
        return JSONResponse(body)

    async def read_object(self, request: Request) -> Response:
        kind, params = _kind(request.path_params["kind"]), request.query_params
        _no_history(_names(params, "propertiesWithHistory"))
        record = self._find(kind, request.path_params["object_id"], params.get("idProperty"))
        if record is None or record.archived != _bool_param(params, "archived"):
            return hubspot_error(404, "Object not found.  objectId are usually numeric.")
        item = self.render(kind, record, _names(params, "properties"))
        self.embed(item, kind, record.id, self._association_kinds(kind, params))
        return JSONResponse(item)

    def _find(self, kind: str, key: str, id_property: str | None) -> SimObject | None:
        records = self.crm.tables[kind].records
        if id_property in (None, "hs_object_id"):
            return records.get(key)
        if kind == "contacts" and id_property == "email":
            return next((r for r in records.values() if r.properties.get("email") == key), None)
        raise BadRequest(f"{id_property} is not a unique property of {kind}")

    async def batch_read(self, request: Request) -> Response:
        kind = _kind(request.path_params["kind"])
        body = await _json(request)
        inputs = _batch_inputs(body, BATCH_READ_MAX)
        names = body.get("properties")
        _no_history(body.get("propertiesWithHistory"))
        archived = _bool_param(request.query_params, "archived")
        started = _now()
        found, missing = [], []
        for item in inputs:
            record = self._find(kind, str(item["id"]), body.get("idProperty"))
            if record is None or record.archived != archived:
                missing.append(str(item["id"]))
            else:
                found.append(self.render(kind, record, names if isinstance(names, list) else None))
        answer: dict[str, Any] = {"status": "COMPLETE", "results": found, "startedAt": started}
        answer["completedAt"] = _now()
        if not missing:
            return JSONResponse(answer)
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {SINGULAR[kind].upper()} objects, they may be "
                "deleted or not exist. Check that ids are valid.",
                "context": {"ids": missing},
            }
        ]
        return JSONResponse(answer, status_code=207)

    async def search(self, request: Request) -> Response:
        kind = _kind(request.path_params["kind"])
        try:
            query = parse_request(kind, await _json(request), self.search_limits)
        except SearchError as exc:
            raise BadRequest(str(exc)) from exc
        page, total = run(self.crm.tables[kind], query)
        body: dict[str, Any] = {
            "total": total,
            "results": [self.render(kind, r, query.properties) for r in page],
        }
        following = query.offset + query.limit
        if following < total:  # even past the cap: following it answers 400, as HubSpot does
            body["paging"] = {"next": {"after": str(following)}}
        return JSONResponse(body)

    # ----- associations v4 ----------------------------------------------------------------

    def _pair(self, request: Request) -> tuple[str, str]:
        kind, to_kind = _kind(request.path_params["kind"]), _kind(request.path_params["to"])
        if (kind, to_kind) not in ASSOCIATION_TYPES:
            raise BadRequest(f"No association from {kind} to {to_kind}")
        return kind, to_kind

    def _targets(self, kind: str, to_kind: str, ids: list[str]) -> list[dict[str, Any]]:
        type_id = ASSOCIATION_TYPES[(kind, to_kind)][0]
        types = [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]
        return [{"toObjectId": int(i), "associationTypes": types} for i in ids]

    async def v4_batch(self, request: Request) -> Response:
        kind, to_kind = self._pair(request)
        inputs = _batch_inputs(await _json(request), V4_BATCH_MAX)
        results, errors = [], []
        for item in inputs:
            from_id = str(item["id"])
            ids = self.crm.associated(kind, from_id, to_kind)
            if ids:
                shown = ids[:V4_PAGE_MAX]
                result = {"from": {"id": from_id}, "to": self._targets(kind, to_kind, shown)}
                if len(ids) > V4_PAGE_MAX:
                    # The rest is read from the single-record endpoint, from this offset.
                    result["paging"] = {"next": {"after": str(V4_PAGE_MAX)}}
                results.append(result)
            else:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No {to_kind} is associated with {SINGULAR[kind]} {from_id}.",
                        "context": {"fromObjectId": [from_id], "toObjectType": [to_kind]},
                    }
                )
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        answer.update(startedAt=_now(), completedAt=_now())
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
        return JSONResponse(answer, status_code=207 if errors else 200)

    async def v4_page(self, request: Request) -> Response:
        kind, to_kind = self._pair(request)
        params = request.query_params
        limit = _int_param(params, "limit", V4_PAGE_MAX, 1, V4_PAGE_MAX)
        offset = _int_param(params, "after", 0, 0, 10**9)
        ids = self.crm.associated(kind, request.path_params["object_id"], to_kind)
        body: dict[str, Any] = {
            "results": self._targets(kind, to_kind, ids[offset : offset + limit])
        }
        if offset + limit < len(ids):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return JSONResponse(body)

    # ----- campaigns ----------------------------------------------------------------------

    async def list_campaigns(self, request: Request) -> Response:
        params = request.query_params
        limit = _int_param(params, "limit", CAMPAIGN_LIST_DEFAULT, 1, CAMPAIGN_LIST_MAX)
        sort = params.get("sort", "hs_name")
        if sort.removeprefix("-") not in SORTS:
            raise BadRequest(f"sort must be one of {', '.join(SORTS)}, optionally prefixed by -")
        offset = _offset(params.get("after"))
        guids = self.campaigns.ordered(sort)
        name = params.get("name")
        if name:
            needle = name.lower()
            records = self.campaigns.campaigns
            guids = [g for g in guids if needle in records[g].properties["hs_name"].lower()]
        names = _names(params, "properties")
        chunk = guids[offset : offset + limit]
        body: dict[str, Any] = {
            "total": len(guids),
            "results": [self.campaigns.campaigns[g].public(names) for g in chunk],
        }
        if offset + limit < len(guids):
            after = base64.b64encode(f"{offset + limit}\n".encode()).decode()
            link = request.url.include_query_params(after=after)
            body["paging"] = {"next": {"after": after, "link": str(link)}}
        return JSONResponse(body)

    async def read_campaign(self, request: Request) -> Response:
        params = request.query_params
        if "startDate" in params or "endDate" in params:
            raise BadRequest("startDate/endDate (campaign metrics) are not simulated")
        campaign = self.campaigns.campaigns.get(request.path_params["guid"])
        if campaign is None:
            return hubspot_error(404, "Campaign not found")
        return JSONResponse(campaign.public(_names(params, "properties")))

    async def campaign_assets(self, request: Request) -> Response:
        params = request.query_params
        asset_type = request.path_params["asset_type"]
        if asset_type not in ASSET_TYPES:
            raise BadRequest(f"Unknown asset type: {asset_type}")
        if "startDate" in params or "endDate" in params:
            raise BadRequest("startDate/endDate (asset metrics) are not simulated")
        campaign = self.campaigns.campaigns.get(request.path_params["guid"])
        if campaign is None:
            return hubspot_error(404, "Campaign not found")
        limit = _int_param(params, "limit", ASSETS_DEFAULT, 1, ASSETS_MAX)
        offset = _offset(params.get("after"))
        assets = self.campaigns.assets(campaign.id, asset_type)
        chunk = assets[offset : offset + limit]
        body: dict[str, Any] = {"results": [{"id": i, "name": n} for i, n in chunk]}
        if offset + limit < len(assets):
            after = base64.b64encode(f"{offset + limit}\n".encode()).decode()
            body["paging"] = {
                "next": {"after": after, "link": str(request.url.include_query_params(after=after))}
            }
        return JSONResponse(body)


def _offset(after: str | None) -> int:
    """The offset in a campaign ``after`` token (base64 of the decimal offset, as HubSpot's)."""
    if after is None:
        return 0
    try:
        text = base64.b64decode(after, validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest("after is not a paging cursor") from None
    if not text.isdigit():
        raise BadRequest("after is not a paging cursor")
    return int(text)


async def _json(request: Request) -> Any:
    body, error = parse_json_body(await request.body())
    if error is not None:
        raise BadRequest(error)
    return body


def _batch_inputs(body: Any, cap: int) -> list[dict[str, Any]]:
    """The ``inputs`` of a batch body: a list of at most ``cap`` ``{id}`` objects."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i for i in inputs):
        raise BadRequest("inputs must be a list of {id}")
    if len(inputs) > cap:
        raise BadRequest(f"at most {cap} inputs")
    return inputs


def _now() -> str:
    return hubspot_time(datetime.now(UTC))


def _guarded(handler: Any) -> Any:
    """Turn ``BadRequest`` into HubSpot's 400 ``VALIDATION_ERROR`` answer."""

    async def endpoint(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except BadRequest as exc:
            return hubspot_error(400, str(exc))
        return response

    return endpoint


__all__ = ["BadRequest", "Routes"]

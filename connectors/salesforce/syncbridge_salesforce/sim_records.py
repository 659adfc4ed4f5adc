"""The simulated org's record resources: describe, sObject retrieve, collection retrieve.

``sobjects`` (describe global), ``sobjects/{object}`` (basic info), ``sobjects/{object}/
describe``, ``sobjects/{object}/{id}[?fields=]`` (404 ``NOT_FOUND``, or
``ENTITY_IS_DELETED`` for a row in the recycle bin) and ``composite/sobjects/{object}`` by GET
(``ids``, ``fields``) or POST (``{"ids", "fields"}``): at most 2,000 ids, and null for an id
that is unknown, malformed, of another object or deleted, as the REST guide documents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncbridge_salesforce.ids import canonical_id, is_id
from syncbridge_salesforce.sim_org import KEY_PREFIXES, SCHEMA, Org, describe
from syncbridge_salesforce.sim_soql import SoqlError

MAX_COLLECTION_IDS = 2000


def sf_error(status: int, code: str, message: str) -> JSONResponse:
    """Salesforce's REST error answer: ``[{"message": ..., "errorCode": ...}]``."""
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status)


class SObjectResources:
    """The record resources of one org (``SoqlError`` for unknown fields, as 400s)."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def sobjects(self, request: Request, tail: list[str], version: str, root: str) -> Response:
        """``sobjects[/{object}[/describe|/{id}]]`` (``tail`` is the path after ``sobjects``)."""
        if not tail:
            return JSONResponse(
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [_brief(name, version, root) for name in SCHEMA],
                }
            )
        sobject = tail[0]
        if sobject not in SCHEMA:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(tail) == 1:
            return JSONResponse(
                {"objectDescribe": _brief(sobject, version, root), "recentItems": []}
            )
        if tail[1:] == ["describe"]:
            return JSONResponse(describe(sobject, version, root))
        if len(tail) == 2:
            fields = _field_list(sobject, request.query_params.get("fields"))
            return self.retrieve(sobject, tail[1], fields, version, root)
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def retrieve(
        self, sobject: str, record_id: str, fields: Sequence[str], version: str, root: str
    ) -> Response:
        """One record by id (15 or 18 characters) with the ``fields`` asked for."""
        row = self.row(sobject, record_id, include_deleted=True)
        if row is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if row["IsDeleted"]:
            return sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
        return JSONResponse(_render(sobject, row, fields, version, root))

    async def collection(self, request: Request, sobject: str, version: str, root: str) -> Response:
        """sObject Collections retrieve (GET with ``ids``/``fields``, or POST with a body)."""
        if sobject not in SCHEMA:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        ids: Any = None
        fields: Any = None
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
            except (ValueError, RecursionError):
                return sf_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
            if isinstance(body, dict):
                ids, fields = body.get("ids"), body.get("fields")
        else:
            params = request.query_params
            ids = params["ids"].split(",") if params.get("ids") else None
            fields = params["fields"].split(",") if params.get("fields") else None
        if not _strings(ids) or not _strings(fields):
            return sf_error(400, "JSON_PARSER_ERROR", "ids and fields are required lists")
        if len(ids) > MAX_COLLECTION_IDS:
            return sf_error(400, "EXCEEDED_ID_LIMIT", "more than 2000 ids")
        names = _field_list(sobject, ",".join(fields))
        out = []
        for record_id in ids:
            row = self.row(sobject, record_id, include_deleted=False)
            out.append(None if row is None else _render(sobject, row, names, version, root))
        return JSONResponse(out)

    def row(
        self, sobject: str, record_id: str, *, include_deleted: bool
    ) -> Mapping[str, Any] | None:
        """The JSON form of a row of ``sobject`` (None: unknown, malformed or deleted)."""
        if not is_id(record_id) or not record_id.startswith(KEY_PREFIXES[sobject]):
            return None
        row = self.org.tables[sobject].json.get(canonical_id(record_id))
        if row is None or (row["IsDeleted"] and not include_deleted):
            return None
        return row


def _strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _field_list(sobject: str, raw: str | None) -> list[str]:
    """Describe-spelled field names of a ``fields`` parameter (all fields when absent)."""
    types = SCHEMA[sobject]
    if not raw:
        return list(types)
    by_lower = {name.lower(): name for name in types}
    out = []
    for name in (part.strip() for part in raw.split(",")):
        canonical = by_lower.get(name.lower())
        if canonical is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'.")
        out.append(canonical)
    return out


def _render(
    sobject: str, row: Mapping[str, Any], fields: Sequence[str], version: str, root: str
) -> dict[str, Any]:
    url = f"{root}/services/data/{version}/sobjects/{sobject}/{row['Id']}"
    return {"attributes": {"type": sobject, "url": url}, **{f: row[f] for f in fields}}


def _brief(sobject: str, version: str, root: str) -> dict[str, Any]:
    base = f"{root}/services/data/{version}/sobjects/{sobject}"
    return {
        "name": sobject,
        "label": sobject,
        "keyPrefix": KEY_PREFIXES[sobject],
        "custom": False,
        "queryable": True,
        "retrieveable": True,
        "urls": {"sobject": base, "describe": f"{base}/describe"},
    }


__all__ = ["MAX_COLLECTION_IDS", "SObjectResources", "sf_error"]

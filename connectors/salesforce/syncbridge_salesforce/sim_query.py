"""Query execution for the Salesforce simulator: results, batches and query locators.

A query's rows are fixed when it runs (a snapshot of their JSON form) and served in batches
of ``batchSize`` (``Sforce-Query-Options``; 200 to 2,000, default 2,000) or fewer: Salesforce
does not guarantee the size, and ``batch_cap`` makes the simulator answer smaller batches the
way a busy org may. An unfinished result gets a query locator; ``nextRecordsUrl`` is
``/services/data/vXX.X/query/<locator>-<offset>`` and any offset inside the result may be
asked for. A user has at most ``max_open`` locators (the oldest is dropped, as Salesforce
caps open cursors); a dropped or unknown locator answers 400 ``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncbridge_salesforce.sim_org import SCHEMA, Org, sf_id
from syncbridge_salesforce.sim_soql import OrderKey, Query, SoqlError, parse, sort_key

DEFAULT_BATCH = 2000
MIN_BATCH = 200
#: Orders the ``(SystemModstamp, Id)`` index serves without sorting.
_INDEXED_ORDERS = (
    (OrderKey("SystemModstamp"),),
    (OrderKey("SystemModstamp"), OrderKey("Id")),
)


@dataclass
class Result:
    """The rows of one query (JSON snapshots) and how they are served."""

    sobject: str
    fields: tuple[str, ...]
    rows: list[Mapping[str, Any]]
    batch: int
    resource: str  # "query" or "queryAll"


def batch_size(header: str | None, cap: int) -> int:
    """The batch size of ``Sforce-Query-Options``; raises SoqlError on a malformed header."""
    size = DEFAULT_BATCH
    if header:
        options = dict(part.strip().partition("=")[::2] for part in header.split(","))
        raw = options.get("batchSize")
        if raw is not None:
            if not raw.strip().isdigit():
                raise SoqlError("INVALID_HEADER_TYPE", "batchSize must be an integer")
            # The documented range; Salesforce does not guarantee the size it asks for.
            size = min(DEFAULT_BATCH, max(MIN_BATCH, int(raw)))
    return max(1, min(size, cap))


class QueryService:
    """Runs queries against the org and serves their batches through locators."""

    def __init__(self, org: Org, *, batch_cap: int = DEFAULT_BATCH, max_open: int = 10) -> None:
        self.org = org
        self.batch_cap = batch_cap
        self.max_open = max_open
        self.locators: OrderedDict[str, Result] = OrderedDict()
        self.queries = 0
        self._counter = 0

    def run(self, soql: str, *, include_deleted: bool, batch: int) -> tuple[Result, str | None]:
        """Run ``soql``; the result and its locator (None when one batch holds it all)."""
        query = parse(soql, SCHEMA)
        self.queries += 1
        table = self.org.tables[query.sobject]
        result = Result(
            query.sobject,
            query.fields,
            [table.json[i] for i in self._ids(query, include_deleted)],
            batch,
            "queryAll" if include_deleted else "query",
        )
        if len(result.rows) <= batch:
            return result, None
        self._counter += 1
        locator = sf_id("QueryLocator", self._counter)
        self.locators[locator] = result
        while len(self.locators) > self.max_open:
            self.locators.popitem(last=False)
        return result, locator

    def _ids(self, query: Query, include_deleted: bool) -> list[str]:
        table = self.org.tables[query.sobject]
        indexed = query.order in _INDEXED_ORDERS
        ordered = table.from_stamp(query.modstamp_floor) if indexed else iter(list(table.rows))
        out = []
        for record_id in ordered:
            row = table.rows[record_id]
            if (include_deleted or not row["IsDeleted"]) and (
                query.where is None or query.where(row)
            ):
                out.append(record_id)
                if indexed and query.limit is not None and len(out) >= query.limit:
                    break
        if not indexed and query.order:
            key = sort_key(query.order, table.types)
            out.sort(key=lambda record_id: key(table.rows[record_id]))
        return out if query.limit is None else out[: query.limit]

    def result(self, locator: str) -> Result:
        """The result behind a locator; raises SoqlError INVALID_QUERY_LOCATOR."""
        found = self.locators.get(locator)
        if found is None:
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        self.locators.move_to_end(locator)
        return found

    def expire_all(self) -> None:
        """Drop every open locator (as an idle timeout would)."""
        self.locators.clear()

    def page(
        self, result: Result, locator: str | None, offset: int, *, version: str, root: str
    ) -> dict[str, Any]:
        """The answer for the batch of ``result`` starting at ``offset``."""
        end = min(len(result.rows), offset + result.batch)
        base = f"{root}/services/data/{version}"
        records = [
            {
                "attributes": {
                    "type": result.sobject,
                    "url": f"{base}/sobjects/{result.sobject}/{row['Id']}",
                },
                **{name: row[name] for name in result.fields},
            }
            for row in result.rows[offset:end]
        ]
        body: dict[str, Any] = {
            "totalSize": len(result.rows),
            "done": end >= len(result.rows),
            "records": records,
        }
        if not body["done"]:
            body["nextRecordsUrl"] = f"{base}/{result.resource}/{locator}-{end}"
        elif locator is not None:
            self.locators.pop(locator, None)
        return body


__all__ = ["DEFAULT_BATCH", "MIN_BATCH", "QueryService", "Result", "batch_size"]

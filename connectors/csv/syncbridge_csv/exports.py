"""The CSV sandbox: the world written as the exports people drop into a folder.

There is no vendor API, so no HTTP simulator: :func:`materialize` writes files into a folder
and returns the settings of a connection reading them (the sandbox spec's ``materialize``).

What it writes (the same world always gives the same bytes):

* ``analytics/ga4-pages-YYYYMMDD.csv``: a web-analytics export per day for the last
  ``ANALYTICS_EXPORT_DAYS`` days of the world's window, one row per live asset
  (``world.analytics_rows(day)``): date, page path, asset id (a custom dimension), source /
  medium, campaign, views, sessions, event count, key events, revenue. Days alternate
  between what the two usual tools write: UTF-8 with a byte-order mark and commas (a
  spreadsheet's "CSV UTF-8"), and UTF-16 little-endian with tabs (Excel's "Unicode text"),
  so a connection with ``encoding`` and ``delimiter`` on ``auto`` meets both.
* ``crm/deals.csv``: a CRM deal report from a European spreadsheet: semicolons, ``1.234,50``
  amounts, ``31.12.2026`` dates, ``ja``/``nein`` flags and ``Europe/Berlin`` modification
  times with their offset (a local time without one is ambiguous for an hour each autumn),
  Windows-1252 (pure ASCII here, so it is detected as UTF-8: the same bytes);
  ``role: crm``.

Left out: the other CRM objects (contacts, companies), GA4's late revisions of recent days
(an export is a snapshot), and files with errors (tests write those themselves).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from datetime import UTC, date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from syncbridge.sandbox.world import AnalyticsRow, Deal, World

ANALYTICS_EXPORT_DAYS = 7
ANALYTICS_FOLDER = "analytics"
DEALS_FILE = "crm/deals.csv"
DEALS_ZONE = ZoneInfo("Europe/Berlin")

ANALYTICS_HEADER = (
    "Date",
    "Page path",
    "Asset ID",
    "Session source / medium",
    "Session campaign",
    "Views",
    "Sessions",
    "Event count",
    "Key events",
    "Total revenue",
)
DEALS_HEADER = (
    "Deal ID",
    "Deal name",
    "Amount",
    "Currency",
    "Stage",
    "Won",
    "Close date",
    "Campaign",
    "Company ID",
    "Last modified",
)


def materialize(world: World, folder: Path) -> dict[str, Any]:
    """Write the exports into ``folder`` (overwriting them); the settings reading them."""
    for day in analytics_export_days(world):
        write_analytics_day(world, folder, day)
    write_deals(folder, world.deals)
    return connection_settings(folder)


def analytics_export_days(world: World) -> list[date]:
    """The days that get an export file."""
    return world.analytics_days[-ANALYTICS_EXPORT_DAYS:]


def analytics_file(day: date) -> str:
    """The relative path of a day's export."""
    return f"{ANALYTICS_FOLDER}/ga4-pages-{day:%Y%m%d}.csv"


def analytics_id(row: AnalyticsRow) -> str:
    """The external id the connection gives a row (its key fields joined)."""
    return f"{row.date.isoformat()}|{row.asset_id}"


def write_analytics_day(
    world: World, folder: Path, day: date, rows: Iterable[AnalyticsRow] | None = None
) -> Path:
    """Write one day's export (``rows``: the world's by default); its path."""
    lines = [
        (
            f"{row.date:%Y%m%d}",
            row.page_path,
            row.asset_id,
            row.source_medium,
            row.campaign_key,
            str(row.views),
            str(row.sessions),
            str(row.event_count),
            str(row.key_events),
            f"{row.revenue:.2f}",
        )
        for row in (world.analytics_rows(day) if rows is None else rows)
    ]
    utf16 = day.toordinal() % 2 == 1
    data = _csv_text(ANALYTICS_HEADER, lines, "\t" if utf16 else ",")
    encoded = data.encode("utf-16") if utf16 else data.encode("utf-8-sig")
    return _write(folder / analytics_file(day), encoded)


def write_deals(folder: Path, deals: Iterable[Deal]) -> Path:
    """Write the deal report; its path."""
    lines = [
        (
            deal.id,
            deal.name,
            _european(deal.amount),
            deal.currency,
            deal.stage,
            "ja" if deal.is_won else "nein",
            f"{deal.close_date:%d.%m.%Y}",
            deal.campaign_key,
            deal.company_id,
            f"{deal.modified_at.astimezone(DEALS_ZONE):%d.%m.%Y %H:%M:%S %z}",
        )
        for deal in deals
    ]
    data = _csv_text(DEALS_HEADER, lines, ";")
    return _write(folder / DEALS_FILE, data.encode("cp1252"))


def expected_analytics(row: AnalyticsRow) -> dict[str, Any]:
    """The fields a record of ``row`` carries, typed as the connection reads them."""
    return {
        "date": row.date.isoformat(),
        "asset_id": row.asset_id,
        "page_path": row.page_path,
        "views": row.views,
        "key_events": row.key_events,
        "revenue": f"{row.revenue:.2f}",
    }


def expected_deal(deal: Deal) -> dict[str, Any]:
    """The fields a record of ``deal`` carries, typed as the connection reads them."""
    modified = deal.modified_at.astimezone(UTC).replace(microsecond=0)
    return {
        "deal_id": deal.id,
        "amount": f"{deal.amount:.2f}",
        "stage": deal.stage,
        "is_won": deal.is_won,
        "close_date": deal.close_date.isoformat(),
        "modified_at": modified.isoformat(),
    }


def connection_settings(folder: Path) -> dict[str, Any]:
    """The settings of a connection reading the exports in ``folder``."""
    return {
        "root": str(folder),
        "streams": {"ga4_pages": _analytics_stream(), "deals": _deals_stream()},
    }


def _analytics_stream() -> dict[str, Any]:
    def integer(field: str) -> dict[str, Any]:
        return {"field": field, "type": "integer", "required": True}

    return {
        "pattern": [f"{ANALYTICS_FOLDER}/ga4-pages-*.csv"],
        "primary_key": ["date", "asset_id"],
        "role": "analytics",
        "updated_at_field": "date",
        "columns": {
            "Date": {"field": "date", "type": "date", "format": "%Y%m%d"},
            "Page path": {"field": "page_path"},
            "Asset ID": {"field": "asset_id"},
            "Session source / medium": {"field": "source_medium"},
            "Session campaign": {"field": "campaign"},
            "Views": integer("views"),
            "Sessions": integer("sessions"),
            "Event count": integer("event_count"),
            "Key events": integer("key_events"),
            "Total revenue": {"field": "revenue", "type": "decimal", "required": True},
        },
    }


def _deals_stream() -> dict[str, Any]:
    return {
        "pattern": [DEALS_FILE],
        "primary_key": ["deal_id"],
        "role": "crm",
        "updated_at_field": "modified_at",
        "columns": {
            "Deal ID": {"field": "deal_id"},
            "Deal name": {"field": "name", "required": True},
            "Amount": {
                "field": "amount",
                "type": "decimal",
                "decimal_separator": ",",
                "thousands_separator": ".",
            },
            "Currency": {"field": "currency"},
            "Stage": {"field": "stage", "required": True},
            "Won": {
                "field": "is_won",
                "type": "boolean",
                "true_values": ["ja"],
                "false_values": ["nein"],
            },
            "Close date": {"field": "close_date", "type": "date", "format": "%d.%m.%Y"},
            "Campaign": {"field": "campaign"},
            "Company ID": {"field": "company_id"},
            "Last modified": {
                "field": "modified_at",
                "type": "datetime",
                "format": "%d.%m.%Y %H:%M:%S %z",
            },
        },
    }


def _european(amount: Any) -> str:
    """``1234.5`` -> ``1.234,50``."""
    return f"{amount:,.2f}".replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def _csv_text(header: Iterable[str], rows: Iterable[Iterable[str]], delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _write(path: Path, data: bytes) -> Path:
    """Write atomically (a temporary hidden sibling, then a rename), as exports should be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    part.write_bytes(data)
    os.replace(part, path)
    return path

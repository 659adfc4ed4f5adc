"""The CSV-exports connector: a folder of CSV files (analytics rows, CRM deals) as streams."""

from __future__ import annotations

from syncbridge.connector.spec import ConnectorSpec
from syncbridge.connector.types import Capability, SystemKind
from syncbridge_csv.connector import CsvConnector, create_connector
from syncbridge_csv.errors import CsvRowError, UploadRefused, UploadTooLarge
from syncbridge_csv.settings import CsvSettings

# One kind per connector, and exports are mostly analytics (ad-platform and web-analytics
# reports); a stream of CRM rows declares ``role: crm``, which each record carries as _role.
spec = ConnectorSpec(
    key="csv",
    display_name="CSV exports",
    kind=SystemKind.analytics,
    settings_model=CsvSettings,
    capabilities=frozenset({Capability.read, Capability.incremental, Capability.uploads}),
    factory=create_connector,
    description=(
        "CSV exports in a folder (or uploaded): typed columns by a declared column map, "
        "encoding detected, strict formats, a bad file refused whole; re-imports change nothing."
    ),
)

__all__ = [
    "CsvConnector",
    "CsvRowError",
    "CsvSettings",
    "UploadRefused",
    "UploadTooLarge",
    "spec",
]

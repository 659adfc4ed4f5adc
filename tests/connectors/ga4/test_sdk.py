"""The official ``google-analytics-data`` client against the simulator: proof of the shapes.

The simulator runs under uvicorn in a thread on plain HTTP (``tests/connectors/serving.py``;
the REST transport takes an ``http://`` endpoint, reference/vendor-apis.md section 10). The
client signs in the way it does against Google: ``google.oauth2.service_account.Credentials``
from the sandbox key file, which the REST transport turns into self-signed JWTs;
``google-auth``'s own token exchange (``refresh``) is proven against the simulator's token
endpoint too. The client asks for ``$alt=json;enum-encoding=int``, so enums travel as numbers
both ways.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import google.auth.transport.requests
import pytest
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import (
    DateRange,
    Dimension,
    Filter,
    FilterExpression,
    GetMetadataRequest,
    Metric,
    MetricAggregation,
    MetricType,
    OrderBy,
    RunReportRequest,
)
from google.api_core import exceptions as google_errors
from google.auth import exceptions as auth_errors
from google.oauth2 import credentials as oauth_credentials
from google.oauth2 import service_account
from syncbridge_ga4.connector import Ga4Connector
from syncbridge_ga4.report import METRIC_TYPE_NAMES
from syncbridge_ga4.sim_filters import MATCH_TYPES, OPERATIONS
from syncbridge_ga4.sim_query import AGGREGATIONS, ORDER_TYPES
from syncbridge_ga4.sim_schema import METRIC_TYPE_NUMBERS

from syncbridge.connector.http import create_http_client
from syncbridge.connector.testing import read_all

from ..serving import serving
from .support import (
    DIMENSIONS,
    METRICS,
    STREAM,
    expected_records,
    make_simulator,
    stranger,
)
from .support import settings_for as _settings_for

READONLY = ["https://www.googleapis.com/auth/analytics.readonly"]


@dataclass
class Served:
    base: str
    property: str
    key_file: dict[str, str]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    sim = make_simulator()
    with serving(sim) as base:
        key_file = sim.key_file(token_uri=f"{base}/token")
        yield Served(base, f"properties/{sim.property_id}", key_file)


def sa_credentials(info: dict[str, str], scopes: list[str]) -> service_account.Credentials:
    """``google-auth``'s service-account credentials from a key file (untyped library)."""
    made: service_account.Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=scopes
    )
    return made


def exchange(credentials: service_account.Credentials) -> None:
    """``google-auth``'s own assertion exchange at the key file's token URI."""
    credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]


def token_credentials(token: str) -> oauth_credentials.Credentials:
    made: oauth_credentials.Credentials = oauth_credentials.Credentials(  # type: ignore[no-untyped-call]
        token=token
    )
    return made


def sdk(served: Served, credentials: Any = None) -> BetaAnalyticsDataClient:
    credentials = credentials or sa_credentials(served.key_file, scopes=READONLY)
    return BetaAnalyticsDataClient(
        credentials=credentials,
        transport="rest",
        client_options={"api_endpoint": served.base},
    )


def asset_request(served: Served, **fields: Any) -> RunReportRequest:
    """The request the connector sends for its default stream, built with the SDK's types."""
    return RunReportRequest(
        property=served.property,
        dimensions=[Dimension(name=d) for d in DIMENSIONS],
        metrics=[Metric(name=m) for m in METRICS],
        date_ranges=[DateRange(start_date="90daysAgo", end_date="today")],
        order_bys=[
            OrderBy(
                dimension=OrderBy.DimensionOrderBy(
                    dimension_name=d, order_type=OrderBy.DimensionOrderBy.OrderType.ALPHANUMERIC
                )
            )
            for d in DIMENSIONS
        ],
        **fields,
    )


def parsed_rows(response: Any) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
    """Rows as (dimension values, metric values parsed by the header's MetricType)."""
    parse = {MetricType.TYPE_INTEGER: int, MetricType.TYPE_CURRENCY: Decimal}
    parsers = [parse[h.type_] for h in response.metric_headers]
    return [
        (
            tuple(v.value for v in row.dimension_values),
            tuple(p(v.value) for p, v in zip(parsers, row.metric_values, strict=True)),
        )
        for row in response.rows
    ]


def test_the_sdk_pages_the_report_by_offset(served: Served) -> None:
    client = sdk(served)
    first = client.run_report(asset_request(served, limit=500, offset=0))
    assert first.row_count == len(expected_records(make_simulator()))
    assert len(first.rows) == 500
    assert [h.type_ for h in first.metric_headers] == [MetricType.TYPE_INTEGER] * 4 + [
        MetricType.TYPE_CURRENCY
    ]
    rest = client.run_report(asset_request(served, limit=500, offset=500))
    assert rest.row_count == first.row_count
    assert parsed_rows(first)[-1] < parsed_rows(rest)[0], "pages continue in order"


async def test_the_sdk_reads_the_same_rows_as_the_connector(served: Served) -> None:
    client = sdk(served)
    sdk_rows: list[tuple[tuple[str, ...], tuple[Any, ...]]] = []
    offset = 0
    while True:
        page = client.run_report(asset_request(served, limit=1000, offset=offset))
        sdk_rows += parsed_rows(page)
        offset += len(page.rows)
        if offset >= page.row_count:
            break
    http = create_http_client()
    try:
        settings = _settings_for(make_simulator(), base_url=served.base, page_size=1000)
        settings = settings.model_copy(
            update={"token_url": f"{served.base}/token", "property_id": served.property[11:]}
        )
        connector = Ga4Connector(settings, http)
        pages = await read_all(connector, STREAM)
    finally:
        await http.aclose()
    read = [
        (
            tuple(r.data[d].replace("-", "") if d == "date" else r.data[d] for d in DIMENSIONS),
            tuple(r.data[m] for m in METRICS),
        )
        for p in pages
        for r in p.records
    ]
    assert read == sdk_rows
    assert len(read) > 2000


def test_google_auths_token_exchange_works_against_the_token_endpoint(served: Served) -> None:
    credentials = sa_credentials(served.key_file, scopes=READONLY)
    exchange(credentials)
    assert credentials.token
    assert credentials.token.startswith("ya29.")
    issued = token_credentials(credentials.token)
    answer = sdk(served, issued).run_report(asset_request(served, limit=1))
    assert len(answer.rows) == 1


def test_a_forged_key_is_refused_with_googles_oauth_error(served: Served) -> None:
    forged = stranger().key_file(token_uri=f"{served.base}/token")
    credentials = sa_credentials(forged, scopes=READONLY)
    with pytest.raises(auth_errors.RefreshError, match="invalid_grant"):
        exchange(credentials)
    with pytest.raises(google_errors.Unauthorized):
        sdk(served, sa_credentials(forged, scopes=READONLY)).run_report(
            asset_request(served, limit=1)
        )


def test_sdk_filters_in_numbers_and_aggregates(served: Served) -> None:
    expected = expected_records(make_simulator())
    asset = next(iter(expected.values()))["customEvent:asset_id"]
    exact = Filter.StringFilter(match_type=Filter.StringFilter.MatchType.EXACT, value=asset)
    answer = sdk(served).run_report(
        asset_request(
            served,
            dimension_filter=FilterExpression(
                filter=Filter(field_name="customEvent:asset_id", string_filter=exact)
            ),
            metric_aggregations=[MetricAggregation.TOTAL],
        )
    )
    want = [d for d in expected.values() if d["customEvent:asset_id"] == asset]
    assert answer.row_count == len(want)
    assert {r.dimension_values[4].value for r in answer.rows} == {asset}
    total = sum(d["screenPageViews"] for d in want)
    assert answer.totals[0].metric_values[0].value == str(total)
    assert answer.totals[0].dimension_values[0].value == "RESERVED_TOTAL"


def test_sdk_sees_googles_errors(served: Served) -> None:
    client = sdk(served)
    bad = asset_request(served, limit=1)
    bad.dimensions.append(Dimension(name="browserColour"))
    with pytest.raises(google_errors.BadRequest, match="browserColour is not a valid"):
        client.run_report(bad)
    other = asset_request(served, limit=1)
    other.property = "properties/1"
    with pytest.raises(google_errors.Forbidden):
        client.run_report(other)


def test_sdk_reads_the_property_metadata(served: Served) -> None:
    metadata = sdk(served).get_metadata(GetMetadataRequest(name=f"{served.property}/metadata"))
    assert {"date", "customEvent:asset_id"} <= {d.api_name for d in metadata.dimensions}
    types = {m.api_name: m.type_ for m in metadata.metrics}
    assert types["totalRevenue"] == MetricType.TYPE_CURRENCY


def test_sdk_gets_the_property_quota(served: Served) -> None:
    answer = sdk(served).run_report(asset_request(served, limit=1, return_property_quota=True))
    quota = answer.property_quota
    assert quota.tokens_per_hour.consumed >= 1
    assert quota.tokens_per_hour.remaining + quota.tokens_per_hour.consumed == 40_000
    assert quota.concurrent_requests.remaining >= 1


def test_the_enum_numbers_match_the_sdks() -> None:
    assert {n: MetricType(n).name for n in METRIC_TYPE_NAMES} == METRIC_TYPE_NAMES
    assert all(getattr(MetricType, name).value == n for name, n in METRIC_TYPE_NUMBERS.items())
    match = Filter.StringFilter.MatchType
    assert {n: match(n).name for n in MATCH_TYPES} == MATCH_TYPES
    operation = Filter.NumericFilter.Operation
    assert {n: operation(n).name for n in OPERATIONS} == OPERATIONS
    order = OrderBy.DimensionOrderBy.OrderType
    assert {n: order(n).name for n in ORDER_TYPES if n} == {
        k: v for k, v in ORDER_TYPES.items() if k
    }
    assert {n: MetricAggregation(n).name for n in AGGREGATIONS} == AGGREGATIONS

"""``simple-salesforce`` against the simulator served over TLS: proof of the shapes.

The SDK always builds ``https://`` URLs, so the simulator runs under uvicorn with a
certificate from a throwaway ``trustme`` CA (``serving_in_child``). The connector reads the same
served org over the same TLS, and what the SDK's ``query``/``query_more``/``query_all``,
``get`` and ``describe`` return must be what the connector reads.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import pytest
import requests
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest
from syncbridge_salesforce import SalesforceConnector, SalesforceSettings
from syncbridge_salesforce.simulator import SalesforceSimulator

from syncbridge.connector.http import create_http_client
from syncbridge.connector.testing import read_all
from syncbridge.connector.types import Record, Ref
from syncbridge.sandbox.world import World

from ..serving import serving_in_child
from .support import BATCH_CAP, FAST_RETRY

ASSETS = 200
BUILD = """
from syncbridge.sandbox.world import World
from syncbridge_salesforce.simulator import SalesforceSimulator
app = SalesforceSimulator(World(seed=42, assets_count=int(args[0])), batch_cap=int(args[1]))
"""
SOQL = (
    "SELECT Id, Name, Type, Status, StartDate, BudgetedCost, IsActive, SystemModstamp, "
    "UTM_Campaign__c FROM Campaign ORDER BY SystemModstamp, Id"
)


@dataclass
class Served:
    #: A local twin of the served org (same world): credentials and expected ids.
    twin: SalesforceSimulator
    origin: str
    ca_file: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    twin = SalesforceSimulator(World(seed=42, assets_count=ASSETS), batch_cap=BATCH_CAP)
    with serving_in_child(BUILD, str(ASSETS), str(BATCH_CAP), tls=True) as child:
        assert child.ca_file is not None
        yield Served(twin, child.origin, child.ca_file)


def _token(served: Served, session: requests.Session) -> str:
    answer = session.post(
        f"{served.origin}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": served.twin.app.client_id,
            "client_secret": served.twin.app.client_secret,
        },
    )
    answer.raise_for_status()
    value: str = answer.json()["access_token"]
    return value


def tls_session(served: Served, monkeypatch: pytest.MonkeyPatch) -> requests.Session:
    """A requests session trusting the test CA (requests lets REQUESTS_CA_BUNDLE override a
    session's own ``verify``, so the variable is what must point at it)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", served.ca_file)
    session = requests.Session()
    session.verify = served.ca_file
    return session


@pytest.fixture
def sdk(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[Salesforce]:
    session = tls_session(served, monkeypatch)
    sf = Salesforce(
        instance_url=served.origin,
        session_id=_token(served, session),
        version="62.0",
        session=session,
    )
    yield sf
    session.close()


@pytest.fixture
async def connector(served: Served) -> AsyncIterator[SalesforceConnector]:
    context = ssl.create_default_context(cafile=served.ca_file)
    transport = httpx.AsyncHTTPTransport(verify=context)
    async with create_http_client(transport=transport) as client:
        settings = SalesforceSettings(**served.twin.connection_settings(served.origin))
        yield SalesforceConnector(settings, client, retry=FAST_RETRY)


def sobject(sdk: Salesforce, name: str) -> SFType:
    """``sdk.<name>``: the SDK's REST handle of one object."""
    handle = getattr(sdk, name)
    assert isinstance(handle, SFType)
    return handle


def as_read(value: Any, like: Any) -> Any:
    """The SDK's JSON value in the type the connector gives ``like`` (parsed here, apart)."""
    if value is None or isinstance(like, bool | str):
        return value
    if isinstance(like, datetime):
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    if isinstance(like, date):
        return date.fromisoformat(value)
    if isinstance(like, float):
        return float(value)
    return value


def same(sdk_record: dict[str, Any], record: Record) -> bool:
    assert "attributes" in sdk_record
    fields = [name for name in sdk_record if name != "attributes"]
    return all(as_read(sdk_record[f], record.data[f]) == record.data[f] for f in fields)


async def test_query_and_query_more_page_as_the_connector_reads(
    served: Served, sdk: Salesforce, connector: SalesforceConnector
) -> None:
    first = sdk.query(SOQL)
    assert first["done"] is False
    assert len(first["records"]) == BATCH_CAP
    assert first["totalSize"] == len(served.twin.org.live_ids("Campaign"))
    second = sdk.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    sdk_records = first["records"] + second["records"]
    read = [r for p in await read_all(connector, "Campaign") for r in p.records]
    assert [r["Id"] for r in sdk_records] == [r.external_id for r in read][: len(sdk_records)]
    for sdk_record, record in zip(sdk_records, read, strict=False):
        assert same(sdk_record, record), record.external_id


async def test_query_all_returns_every_row_the_connector_reads(
    served: Served, sdk: Salesforce, connector: SalesforceConnector
) -> None:
    everything = sdk.query_all(
        "SELECT Id, CampaignId, ContactId, Status, HasResponded, FirstRespondedDate, "
        "SystemModstamp FROM CampaignMember ORDER BY SystemModstamp, Id"
    )
    read = [r for p in await read_all(connector, "CampaignMember") for r in p.records]
    assert everything["totalSize"] == len(read) == len(served.twin.org.live_ids("CampaignMember"))
    assert [r["Id"] for r in everything["records"]] == [r.external_id for r in read]
    assert all(same(s, r) for s, r in zip(everything["records"], read, strict=True))


async def test_a_record_retrieve_matches_the_connector_fetch(
    served: Served, sdk: Salesforce, connector: SalesforceConnector
) -> None:
    opportunity = sorted(served.twin.org.live_ids("Opportunity"))[3]
    retrieved = sobject(sdk, "Opportunity").get(opportunity)
    (fetched,) = await connector.fetch([Ref("Opportunity", opportunity)])
    assert retrieved["CampaignId"] == fetched.data["CampaignId"]
    assert same(
        {k: v for k, v in retrieved.items() if k in fetched.data or k == "attributes"}, fetched
    )


async def test_describe_types_are_the_ones_the_connector_parses_by(
    sdk: Salesforce, connector: SalesforceConnector
) -> None:
    fields = {f["name"]: f["type"] for f in sobject(sdk, "Opportunity").describe()["fields"]}
    shape = await connector.shape("Opportunity")
    assert {name: fields[name] for name in shape.fields} == dict(shape.types)


def test_the_sdk_reads_the_usage_header_and_the_error_array(sdk: Salesforce) -> None:
    sdk.query("SELECT Id FROM Contact LIMIT 1")
    usage = sdk.api_usage["api-usage"]
    assert usage.total == 100_000
    assert usage.used >= 1
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sdk.query("SELECT Nope FROM Contact")
    errors: Any = caught.value.content  # typed bytes; the SDK hands over the parsed array
    assert errors[0]["errorCode"] == "INVALID_FIELD"


def test_the_sdk_sees_a_bad_session_as_expired(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = tls_session(served, monkeypatch)
    sf = Salesforce(
        instance_url=served.origin, session_id="00Dbogus!x", version="62.0", session=session
    )
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Contact")
    session.close()
    errors: Any = caught.value.content
    assert errors[0]["errorCode"] == "INVALID_SESSION_ID"

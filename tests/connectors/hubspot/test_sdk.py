"""The official ``hubspot-api-client`` against the simulator: proof of the shapes.

The SDK talks urllib3 (and ``requests`` for ``Client.api_request``), so the simulator runs
under uvicorn on a free loopback port; ``Client.create(host=..., base_url=...)`` points the
generated API clients (``Configuration.host``) and the generic request builder at it
(vendor-apis.md section 10). The SDK 12 has no Campaigns API module: campaigns go through its
generic ``api_request``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hubspot
import pytest
from hubspot.crm.contacts.exceptions import UnauthorizedException
from hubspot.crm.objects import (
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
)
from syncbridge_hubspot.simulator import HubSpotSimulator

from ..serving import serving
from .support import make_simulator


@pytest.fixture(scope="module")
def sim() -> HubSpotSimulator:
    return make_simulator()


@pytest.fixture(scope="module")
def origin(sim: HubSpotSimulator) -> Iterator[str]:
    with serving(sim) as served:
        yield served


@pytest.fixture
def client(sim: HubSpotSimulator, origin: str) -> Any:
    return hubspot.Client.create(access_token=sim.token, host=origin, base_url=origin)


def test_sdk_pages_contacts_and_reads_them_all(sim: HubSpotSimulator, client: Any) -> None:
    page = client.crm.contacts.basic_api.get_page(limit=7, properties=["email", "lifecyclestage"])
    assert len(page.results) == 7
    first = page.results[0]
    held = sim.record("contacts", first.id).properties
    assert first.properties["email"] == held["email"]
    assert first.properties["lifecyclestage"] == held["lifecyclestage"]
    assert first.updated_at is not None
    second = client.crm.contacts.basic_api.get_page(limit=7, after=page.paging.next.after)
    ids = [c.id for c in page.results + second.results]
    assert ids == sorted(ids, key=int)
    assert len(set(ids)) == 14
    everything = client.crm.contacts.get_all(properties=["email"])
    assert {c.id for c in everything} == sim.ids("contacts")


def test_sdk_reads_deals_with_their_contacts(sim: HubSpotSimulator, client: Any) -> None:
    page = client.crm.deals.basic_api.get_page(limit=4, associations=["contacts"])
    for deal in page.results:
        linked = [a.id for a in deal.associations["contacts"].results]
        assert linked == sim.crm.associated("deals", deal.id, "contacts")
    one = client.crm.deals.basic_api.get_by_id(
        page.results[0].id, properties=["amount", "hs_campaign"]
    )
    assert one.properties["hs_campaign"] in sim.ids("campaigns")


def test_sdk_searches_with_filters_sorts_and_paging(sim: HubSpotSimulator, client: Any) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="amount", operator="GT", value="20000")])
        ],
        sorts=[{"propertyName": "amount", "direction": "DESCENDING"}],
        properties=["amount", "dealname"],
        limit=3,
    )
    answer = client.crm.deals.search_api.do_search(public_object_search_request=request)
    amounts = [float(d.properties["amount"]) for d in answer.results]
    held = sorted(
        (float(sim.record("deals", i).properties["amount"] or 0) for i in sim.ids("deals")),
        reverse=True,
    )
    assert amounts == held[:3]
    assert answer.total == sum(a > 20000 for a in held)
    assert answer.paging.next.after == "3"


def test_sdk_batch_reads_with_a_missing_id(sim: HubSpotSimulator, client: Any) -> None:
    known = sorted(sim.ids("companies"))[0]
    request = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=known), SimplePublicObjectId(id="1")],
        properties=["name"],
        properties_with_history=[],
    )
    answer = client.crm.companies.batch_api.read(batch_read_input_simple_public_object_id=request)
    assert [r.id for r in answer.results] == [known]
    assert answer.num_errors == 1
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"


def test_sdk_reads_property_types(client: Any) -> None:
    types = {p.name: p.type for p in client.crm.properties.core_api.get_all("deals").results}
    assert types["amount"] == "number"
    assert types["closedate"] == "datetime"
    assert types["hs_is_closed_won"] == "bool"


def test_sdk_reads_associations_v4(sim: HubSpotSimulator, client: Any) -> None:
    deal = sorted(sim.ids("deals"))[0]
    page = client.crm.associations.v4.basic_api.get_page("deals", deal, "contacts")
    assert [str(r.to_object_id) for r in page.results] == sim.crm.associated(
        "deals", deal, "contacts"
    )
    batch = client.crm.associations.v4.batch_api.get_page(
        "deals",
        "contacts",
        batch_input_public_fetch_associations_batch_request={"inputs": [{"id": deal}, {"id": "5"}]},
    )
    assert [r._from.id for r in batch.results] == [deal]
    assert batch.num_errors == 1


def test_sdk_lists_campaigns_and_their_assets(sim: HubSpotSimulator, client: Any) -> None:
    answer = client.api_request(
        {"path": "/marketing/v3/campaigns", "qs": {"limit": 4, "properties": "hs_name,hs_utm"}}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == len(sim.ids("campaigns"))
    guid = body["results"][0]["id"]
    held = sim.campaigns.campaigns[guid]
    assert body["results"][0]["properties"] == {
        "hs_name": held.properties["hs_name"],
        "hs_utm": held.properties["hs_utm"],
    }
    assets = client.api_request(
        {"path": f"/marketing/v3/campaigns/{guid}/assets/EXTERNAL_WEB_URL", "qs": {"limit": 100}}
    ).json()
    assert [a["id"] for a in assets["results"]] == [
        i for i, _ in sim.campaigns.assets(guid, "EXTERNAL_WEB_URL")
    ]


def test_sdk_sees_a_wrong_token_as_401(origin: str) -> None:
    wrong = hubspot.Client.create(access_token="pat-na1-wrong", host=origin)
    with pytest.raises(UnauthorizedException) as caught:
        wrong.crm.contacts.basic_api.get_page()
    assert caught.value.status == 401
    assert '"category":"INVALID_AUTHENTICATION"' in caught.value.body

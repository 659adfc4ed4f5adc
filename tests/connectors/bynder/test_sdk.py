"""The official ``bynder-sdk`` against the simulator served over TLS: proof of the shapes.

The SDK always builds ``https://{domain}/api/...`` URLs, so the simulator runs under uvicorn
with a certificate from a throwaway ``trustme`` CA (``serving_in_child``), and ``requests``
trusts that CA through ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
from bynder_sdk import BynderClient
from syncbridge_bynder.simulator import BynderSimulator

from ..serving import serving_in_child
from .support import make_simulator

BUILD = """
from syncbridge.sandbox.world import World
from syncbridge_bynder.simulator import BynderSimulator
app = BynderSimulator(World(seed=42, assets_count=int(args[0])), write_delay_s=0.2)
"""


@dataclass
class Served:
    #: A local twin of the served portal (same world), to compare what the SDK reads.
    twin: BynderSimulator
    domain: str
    ca_file: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    twin = make_simulator()
    with serving_in_child(BUILD, str(len(twin.portal.media)), tls=True) as child:
        assert child.ca_file is not None
        yield Served(twin, child.origin.removeprefix("https://"), child.ca_file)


@pytest.fixture
def sdk(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[BynderClient]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", served.ca_file)
    client = BynderClient(domain=served.domain, permanent_token=served.twin.sandbox_info["token"])
    yield client
    # Closing the keep-alive connections lets uvicorn shut down at once.
    client.session.close()


def test_sdk_lists_media_page_by_page(served: Served, sdk: BynderClient) -> None:
    bank = sdk.asset_bank_client
    first = bank.media_list({"limit": 20, "page": 1, "orderBy": "dateModified asc"})
    rest = bank.media_list({"limit": 20, "page": 2, "orderBy": "dateModified asc"})
    assert len(first) == 20
    ids = [m["id"] for m in first + rest]
    assert len(set(ids)) == 40
    assert set(ids) <= set(served.twin.portal.media)
    counted = bank.media_list({"count": 1, "limit": 1})
    assert counted["count"]["total"] == len(served.twin.portal.media)


def test_sdk_reads_one_medium_as_the_simulator_holds_it(served: Served, sdk: BynderClient) -> None:
    media_id = sorted(served.twin.portal.media)[1]
    info = sdk.asset_bank_client.media_info(media_id)
    assert info == served.twin.media(media_id)
    with_stats = sdk.asset_bank_client.media_info(media_id, {"stats": 1})
    assert with_stats == {**info, **served.twin.portal.stats[media_id]}


def test_sdk_reads_metaproperties_and_tags(served: Served, sdk: BynderClient) -> None:
    metaproperties = sdk.asset_bank_client.meta_properties()
    assert "PerformanceTier" in metaproperties
    tags = sdk.asset_bank_client.tags({"limit": 1000})
    assert {t["tag"] for t in tags} == set(served.twin.portal.tag_counts())


def test_sdk_write_is_accepted_and_lands_after_the_delay(served: Served, sdk: BynderClient) -> None:
    media_id = sorted(served.twin.portal.media)[2]
    tags = [*served.twin.media(media_id)["tags"], "perf:top-10"]
    bank = sdk.asset_bank_client
    answer = bank.set_media_properties(media_id, {"tags": ",".join(tags)})
    assert answer == {"message": "Accepted", "statuscode": 202}
    deadline = time.monotonic() + 10
    while "perf:top-10" not in bank.media_info(media_id)["tags"]:
        assert time.monotonic() < deadline, "the accepted write never landed"
        time.sleep(0.05)
    assert bank.media_info(media_id)["tags"] == tags


def test_sdk_sees_a_wrong_token_as_401(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", served.ca_file)
    wrong = BynderClient(domain=served.domain, permanent_token="wrong")
    with pytest.raises(requests.HTTPError) as caught:
        wrong.asset_bank_client.media_list()
    wrong.session.close()
    response = caught.value.response
    assert response is not None
    assert response.status_code == 401
    assert response.json()["statuscode"] == 401


# ----- issue 7, item 6: every parameter the SDK sends is honoured or refused ---------------


def test_sdk_filters_media_by_a_metaproperty_option_name(served: Served, sdk: BynderClient) -> None:
    listed = sdk.asset_bank_client.media_list({"property_Region": "apac", "limit": 1000})
    expected = {i for i, m in served.twin.portal.media.items() if m["property_Region"] == ["apac"]}
    assert expected
    assert {m["id"] for m in listed} == expected


def test_sdk_filters_media_by_is_public(served: Served, sdk: BynderClient) -> None:
    listed = sdk.asset_bank_client.media_list({"isPublic": 1, "limit": 1000})
    expected = {i for i, m in served.twin.portal.media.items() if m["isPublic"] == 1}
    assert expected
    assert expected != set(served.twin.portal.media)
    assert {m["id"] for m in listed} == expected


def test_sdk_filters_media_by_collection(sdk: BynderClient) -> None:
    collections = sdk.collection_client.collections({"limit": 1000})
    assert collections
    for collection in collections:
        members = sdk.collection_client.collection_media_ids(collection["id"])
        listed = sdk.asset_bank_client.media_list({"collectionId": collection["id"], "limit": 1000})
        assert sorted(m["id"] for m in listed) == sorted(members)
        assert len(members) == collection["collectionCount"]


def test_sdk_filters_media_by_brand(served: Served, sdk: BynderClient) -> None:
    brands = sdk.asset_bank_client.brands()
    assert len(brands) >= 2
    seen: list[str] = []
    for brand in brands:
        listed = sdk.asset_bank_client.media_list({"brandId": brand["id"], "limit": 1000})
        assert listed
        assert {m["brandId"] for m in listed} == {brand["id"]}
        seen += [m["id"] for m in listed]
    assert sorted(seen) == sorted(served.twin.portal.media)


def test_sdk_media_info_with_versions_has_media_items(served: Served, sdk: BynderClient) -> None:
    media_id = sorted(served.twin.portal.media)[1]
    info = sdk.asset_bank_client.media_info(media_id, {"versions": 1})
    (original,) = info["mediaItems"]
    assert original["type"] == "original"
    assert original["active"] == 1
    assert original["version"] == 1
    assert (original["width"], original["height"]) == (info["width"], info["height"])
    assert "mediaItems" not in sdk.asset_bank_client.media_info(media_id)


@pytest.mark.parametrize(
    "call",
    [
        lambda sdk: sdk.pim_client.metaproperties(),
        lambda sdk: sdk.workflow_client.users(),
        lambda sdk: sdk.asset_bank_client.usage(),
        lambda sdk: sdk.session.get("/v4/no-such-thing/"),
    ],
    ids=["pim", "workflow", "usage", "unknown"],
)
def test_sdk_sees_routes_the_simulator_leaves_out_as_bynder_json_errors(
    sdk: BynderClient, call: Callable[[BynderClient], object]
) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        call(sdk)
    response = caught.value.response
    assert response is not None
    assert response.status_code in (404, 501)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["statuscode"] == response.status_code


def test_sdk_reads_counted_metaproperties_and_ordered_tags(
    served: Served, sdk: BynderClient
) -> None:
    counted = sdk.asset_bank_client.meta_properties({"count": 1, "type": "image"})
    images = [m for m in served.twin.portal.media.values() if m["type"] == "image"]
    assert sum(o["mediaCount"] for o in counted["Region"]["options"]) == len(images)
    tags = sdk.asset_bank_client.tags({"orderBy": "mediaCount desc", "mincount": 2})
    counts = [t["mediaCount"] for t in tags]
    assert counts == sorted(counts, reverse=True)
    assert min(counts) >= 2


def test_sdk_collection_life_cycle(served: Served, sdk: BynderClient) -> None:
    collections = sdk.collection_client
    assert collections.create_collection("SDK launch", {"description": "made by the SDK"}) == {
        "message": "Created",
        "statuscode": 201,
    }
    (made,) = collections.collections({"keyword": "SDK launch"})
    picked = sorted(served.twin.portal.media)[:3]
    assert collections.add_media_to_collection(made["id"], picked)["statuscode"] == 202
    assert collections.collection_media_ids(made["id"]) == picked
    assert collections.remove_media_from_collection(made["id"], picked[:1]) is None
    assert collections.collection_info(made["id"])["collectionCount"] == 2
    shared = collections.share_collection(made["id"], "view", ["someone@example.com"])
    assert shared == {"message": "accepted", "statuscode": 202}
    assert collections.delete_collection(made["id"]) is None
    with pytest.raises(requests.HTTPError) as caught:
        collections.collection_info(made["id"])
    assert caught.value.response is not None
    assert caught.value.response.json() == {"message": "Collection not found", "statuscode": 404}


def test_sdk_downloads_then_deletes_a_medium(served: Served, sdk: BynderClient) -> None:
    # Last in this module: the served portal loses a medium its twin keeps.
    bank = sdk.asset_bank_client
    media_id = sorted(served.twin.portal.media)[-1]
    (item,) = served.twin.portal.media_items(media_id)
    assert bank.media_download_url(media_id)["s3_file"].endswith(item["fileName"])
    assert bank.delete_media(media_id) is None
    with pytest.raises(requests.HTTPError) as caught:
        bank.media_info(media_id)
    assert caught.value.response is not None
    assert caught.value.response.status_code == 404

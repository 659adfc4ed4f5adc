"""Proof of fidelity: the official ``cloudinary`` SDK, unmodified, against the simulator.

The simulator is served by uvicorn on 127.0.0.1 (a free port) in a background thread, and
the SDK is pointed at it with ``upload_prefix``. Its global configuration is restored after
each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cloudinary
import cloudinary.api
import cloudinary.exceptions
import cloudinary.uploader
import cloudinary.utils
import pytest
from syncbridge_cloudinary.simulator import CloudinarySimulator
from syncbridge_cloudinary.simulator_store import SimResource

from ..serving import serving
from .support import make_simulator


@pytest.fixture
def sdk() -> Iterator[Callable[..., CloudinarySimulator]]:
    """``sdk(**simulator_options)``: a served simulator the SDK's global config points at."""
    saved = dict(vars(cloudinary.config()))
    with_stack: list[Any] = []

    def point_at(**options: Any) -> CloudinarySimulator:
        sim = make_simulator(**options)
        serve = serving(sim)
        origin = serve.__enter__()
        with_stack.append(serve)
        info = sim.sandbox_info
        cloudinary.config(
            cloud_name=info["cloud_name"],
            api_key=info["api_key"],
            api_secret=info["api_secret"],
            upload_prefix=origin,
            signature_algorithm=options.get("signature_algorithm", "sha1"),
        )
        return sim

    try:
        yield point_at
    finally:
        for serve in reversed(with_stack):
            serve.__exit__(None, None, None)
        config = cloudinary.config()
        vars(config).clear()
        vars(config).update(saved)


def _all_pages(resource_type: str, **options: Any) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = cloudinary.api.resources(
            resource_type=resource_type, next_cursor=cursor, max_results=7, **options
        )
        resources += page["resources"]
        cursor = page.get("next_cursor")
        if not cursor:
            return resources


def test_sdk_pages_through_every_asset_with_tags_and_context(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    seen = [r for rt in ("image", "video", "raw") for r in _all_pages(rt, tags=True, context=True)]
    assert sorted(r["asset_id"] for r in seen) == sorted(sim.store.by_asset_id)
    for resource in seen:
        held = sim.store.by_asset_id[resource["asset_id"]]
        assert resource["public_id"] == held.public_id
        assert resource["tags"] == held.tags
        assert resource["context"] == {"custom": held.context}
        assert "metadata" not in resource


def test_sdk_reads_rate_limit_headers_and_omits_unrequested_fields(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sdk()
    page = cloudinary.api.resources()
    assert len(page["resources"]) == 10, "max_results defaults to 10"
    assert page.rate_limit_allowed == 500
    assert page.rate_limit_remaining == 499
    assert page.rate_limit_reset_at is not None
    assert page.request_id
    assert all("tags" not in r and "context" not in r for r in page["resources"])


def test_sdk_single_resource_lookups_and_not_found(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    held = next(r for r in sim.store.by_asset_id.values() if r.resource_type == "image")
    assert cloudinary.api.resource(held.public_id)["asset_id"] == held.asset_id
    by_ids = cloudinary.api.resources_by_asset_ids([held.asset_id], tags=True)
    assert [r["public_id"] for r in by_ids["resources"]] == [held.public_id]
    with pytest.raises(cloudinary.exceptions.NotFound, match="Resource not found"):
        cloudinary.api.resource("no/such/asset")


def test_sdk_ping_usage_and_metadata_fields(sdk: Callable[..., CloudinarySimulator]) -> None:
    sdk()
    assert cloudinary.api.ping()["status"] == "ok"
    assert cloudinary.api.usage()["plan"] == "Free"
    fields = cloudinary.api.list_metadata_fields()["metadata_fields"]
    assert [f["external_id"] for f in fields] == ["performance_tier"]


def test_sdk_add_and_remove_tag_are_verified_and_applied(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    images = sorted(
        (r for r in sim.store.by_asset_id.values() if r.resource_type == "image"),
        key=lambda r: r.public_id,
    )[:3]
    public_ids = [r.public_id for r in images]
    before = {r.public_id: list(r.tags) for r in images}
    added = cloudinary.uploader.add_tag("perf:top-10", public_ids)
    assert sorted(added["public_ids"]) == sorted(public_ids)
    assert all(r.tags == [*before[r.public_id], "perf:top-10"] for r in images)
    cloudinary.uploader.remove_tag("perf:top-10", public_ids[:2])
    assert [r.tags for r in images] == [
        before[public_ids[0]],
        before[public_ids[1]],
        [*before[public_ids[2]], "perf:top-10"],
    ]
    cloudinary.uploader.add_tag(["perf:a", "perf:b"], public_ids[:1])
    assert images[0].tags == [*before[public_ids[0]], "perf:a", "perf:b"]
    assert sim.calls["upload:tags"] == 3


def test_sdk_context_and_structured_metadata_writes(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    target = next(r for r in sim.store.by_asset_id.values() if r.resource_type == "image")
    cloudinary.uploader.add_context({"note": "a=b|c"}, [target.public_id])
    assert target.context["note"] == "a=b|c"
    cloudinary.uploader.update_metadata({"performance_tier": "top-25"}, [target.public_id])
    assert target.metadata == {"performance_tier": "top-25"}
    with pytest.raises(cloudinary.exceptions.BadRequest):
        cloudinary.uploader.update_metadata({"performance_tier": "bogus"}, [target.public_id])


def test_sdk_signature_version_1_and_sha256_accounts_are_accepted(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk(signature_algorithm="sha256")
    target = next(r for r in sim.store.by_asset_id.values() if r.resource_type == "image")
    cloudinary.uploader.add_tag("perf:middle", [target.public_id])
    cloudinary.config(signature_version=1)
    cloudinary.uploader.add_tag("perf:rising", [target.public_id])
    assert {"perf:middle", "perf:rising"} <= set(target.tags)


def test_sdk_wrong_secret_is_refused_by_both_apis(sdk: Callable[..., CloudinarySimulator]) -> None:
    sim = sdk()
    cloudinary.config(api_secret="not-the-secret")
    target = next(iter(sim.store.by_asset_id.values()))
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired):
        cloudinary.api.ping()
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired, match="Invalid Signature"):
        cloudinary.uploader.add_tag("perf:top-10", [target.public_id])
    assert "perf:top-10" not in target.tags


def test_sdk_sees_a_spent_admin_budget_as_rate_limited(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sdk(admin_rate_limit=2)
    cloudinary.api.ping()
    assert cloudinary.api.ping().rate_limit_remaining == 0
    with pytest.raises(cloudinary.exceptions.RateLimited):
        cloudinary.api.ping()


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_sdk_verifies_the_simulators_notifications(
    sdk: Callable[..., CloudinarySimulator], algorithm: str
) -> None:
    sim = sdk(signature_algorithm=algorithm)
    target = next(iter(sim.store.by_asset_id.values()))
    headers, body = sim.notification("upload", target.public_id, resource_type=target.resource_type)
    assert cloudinary.utils.verify_notification_signature(
        body.decode(), headers["X-Cld-Timestamp"], headers["X-Cld-Signature"], algorithm=algorithm
    )
    assert not cloudinary.utils.verify_notification_signature(
        body.decode() + " ", headers["X-Cld-Timestamp"], headers["X-Cld-Signature"]
    )


# ---- the resources family: each listing answers only what was asked (issue 7, item 6) ----


def _images(sim: CloudinarySimulator) -> list[SimResource]:
    return [r for r in sim.store.by_asset_id.values() if r.resource_type == "image"]


def _by_creation(resources: list[SimResource], direction: str = "desc") -> list[str]:
    ordered = sorted(resources, key=lambda r: (r.created_at, r.asset_id))
    return [r.asset_id for r in (reversed(ordered) if direction == "desc" else ordered)]


def _every_page(call: Callable[..., Any], *args: Any, **options: Any) -> list[Any]:
    """Every item of a cursor-paged SDK listing, following ``next_cursor`` to its end."""
    key = options.pop("key", "resources")
    items: list[Any] = []
    cursor = None
    while True:
        page = call(*args, next_cursor=cursor, **options)
        items += page[key]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def test_sdk_resources_by_ids_returns_only_the_requested_existing_resources(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    wanted = sorted(_images(sim), key=lambda r: r.public_id)[:2]
    asked = [wanted[0].public_id, "no/such/asset", wanted[1].public_id]
    found = cloudinary.api.resources_by_ids(asked, tags=True)["resources"]
    assert sorted(r["public_id"] for r in found) == sorted(r.public_id for r in wanted)
    assert all(r["tags"] == sim.store.by_asset_id[r["asset_id"]].tags for r in found)
    assert cloudinary.api.resources_by_ids(["no/such/asset", "nor/this"])["resources"] == []


def test_sdk_resources_by_ids_refuses_more_than_a_hundred(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sdk()
    with pytest.raises(cloudinary.exceptions.BadRequest):
        cloudinary.api.resources_by_ids([f"p{i}" for i in range(101)])


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sdk_resources_by_context_key_and_value_page_through_the_matches(
    sdk: Callable[..., CloudinarySimulator], direction: str
) -> None:
    sim = sdk()
    images = _images(sim)
    by_key = _every_page(
        cloudinary.api.resources_by_context, "campaign", max_results=4, direction=direction
    )
    assert [r["asset_id"] for r in by_key] == _by_creation(images, direction)
    value = images[0].context["campaign"]
    by_value = _every_page(
        cloudinary.api.resources_by_context, "campaign", value, max_results=3, context=True
    )
    holders = [r for r in images if r.context.get("campaign") == value]
    assert [r["asset_id"] for r in by_value] == _by_creation(holders)
    assert all(r["context"]["custom"]["campaign"] == value for r in by_value)
    assert cloudinary.api.resources_by_context("no_such_key")["resources"] == []


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sdk_resources_by_tag_page_through_the_tagged_resources(
    sdk: Callable[..., CloudinarySimulator], direction: str
) -> None:
    sim = sdk()
    tagged = [r for r in _images(sim) if "email" in r.tags]
    assert len(tagged) > 3
    listed = _every_page(
        cloudinary.api.resources_by_tag, "email", max_results=3, direction=direction, tags=True
    )
    assert [r["asset_id"] for r in listed] == _by_creation(tagged, direction)
    assert all("email" in r["tags"] for r in listed)
    videos = [r for r in sim.store.by_asset_id.values() if r.resource_type == "video"]
    as_videos = _every_page(cloudinary.api.resources_by_tag, "email", resource_type="video")
    assert [r["asset_id"] for r in as_videos] == _by_creation(
        [r for r in videos if "email" in r.tags]
    )


def test_sdk_resources_by_tag_follows_a_tag_written_through_the_upload_api(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    chosen = sorted(_images(sim), key=lambda r: r.public_id)[:2]
    cloudinary.uploader.add_tag("perf:top-10", [r.public_id for r in chosen])
    listed = cloudinary.api.resources_by_tag("perf:top-10")["resources"]
    assert sorted(r["asset_id"] for r in listed) == sorted(r.asset_id for r in chosen)
    cloudinary.uploader.remove_tag("perf:top-10", [chosen[0].public_id])
    listed = cloudinary.api.resources_by_tag("perf:top-10")["resources"]
    assert [r["asset_id"] for r in listed] == [chosen[1].asset_id]


def test_sdk_tags_lists_every_tag_of_a_resource_type_in_pages(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    expected = sorted({t for r in _images(sim) for t in r.tags})
    assert _every_page(cloudinary.api.tags, max_results=5, key="tags") == expected
    assert cloudinary.api.tags()["tags"] == expected[:10]
    assert cloudinary.api.tags(prefix="s", max_results=500)["tags"] == [
        t for t in expected if t.startswith("s")
    ]
    held = sim.store.by_asset_id.values()
    raw = sorted({t for r in held if r.resource_type == "raw" for t in r.tags})
    assert cloudinary.api.tags(resource_type="raw", max_results=500)["tags"] == raw


def test_sdk_resource_types_and_asset_folder_listing(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    assert sorted(cloudinary.api.resource_types()["resource_types"]) == ["image", "raw", "video"]
    folder = next(iter(sim.store.by_asset_id.values())).asset_folder
    listed = _every_page(cloudinary.api.resources_by_asset_folder, folder, max_results=2)
    inside = [r for r in sim.store.by_asset_id.values() if r.asset_folder == folder]
    assert [r["asset_id"] for r in listed] == _by_creation(inside)


def test_sdk_resource_details_always_carry_the_tags(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    held = sorted(_images(sim), key=lambda r: r.public_id)[0]
    details = cloudinary.api.resource(held.public_id)
    assert details["tags"] == held.tags
    assert details["context"] == {"custom": held.context}
    assert cloudinary.api.resource_by_asset_id(held.asset_id)["tags"] == held.tags


def test_sdk_parameters_the_simulator_cannot_honour_are_refused(
    sdk: Callable[..., CloudinarySimulator],
) -> None:
    sim = sdk()
    held = sorted(_images(sim), key=lambda r: r.public_id)[0]
    with pytest.raises(cloudinary.exceptions.BadRequest, match="type"):
        cloudinary.api.resources(prefix="Web/")
    with pytest.raises(cloudinary.exceptions.BadRequest):
        cloudinary.api.resources(moderations=True)
    with pytest.raises(cloudinary.exceptions.BadRequest):
        cloudinary.api.resources_by_moderation("manual", "pending")
    with pytest.raises(cloudinary.exceptions.BadRequest):
        cloudinary.api.resource(held.public_id, colors=True)
    with pytest.raises(cloudinary.exceptions.BadRequest):
        cloudinary.uploader.add_tag("x", [held.public_id], notification_url="http://x.test/")
    with pytest.raises(cloudinary.exceptions.BadRequest):
        cloudinary.api.resources(max_results=501)
    assert "x" not in held.tags

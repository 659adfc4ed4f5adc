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

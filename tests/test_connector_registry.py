"""Connector discovery: lazy entry points, caching, and clear errors for broken plugins."""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import EntryPoint

import pytest

from syncbridge.connector.errors import ConnectorLoadError, ConnectorNotFound
from syncbridge.connector.registry import ENTRY_POINT_GROUP, ConnectorRegistry
from tests.plugins import sample


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def registry() -> ConnectorRegistry:
    return ConnectorRegistry(
        [
            ep("sample", "tests.plugins.sample:spec"),
            ep("broken", "tests.plugins.broken:spec"),
            ep("notaspec", "tests.plugins.sample:not_a_spec"),
            ep("other", "tests.plugins.sample:spec"),
            ep("missing", "tests.plugins.sample:nothing_here"),
        ]
    )


def test_installed_first_party_connectors_are_listed_without_loading() -> None:
    keys = ConnectorRegistry.from_entry_points().keys()
    assert {"bynder", "cloudinary", "localfolder"} <= set(keys)
    assert keys == sorted(keys)


def test_keys_are_sorted_and_known_without_importing(registry: ConnectorRegistry) -> None:
    assert registry.keys() == ["broken", "missing", "notaspec", "other", "sample"]
    assert "broken" in registry
    assert "nope" not in registry


def test_get_loads_the_spec_and_caches_it(registry: ConnectorRegistry) -> None:
    spec = registry.get("sample")
    assert spec is sample.spec
    assert registry.get("sample") is spec


def test_unknown_key_names_what_is_installed(registry: ConnectorRegistry) -> None:
    with pytest.raises(ConnectorNotFound) as caught:
        registry.get("hubspot")
    assert caught.value.detail == (
        "unknown connector 'hubspot'; installed: broken, missing, notaspec, other, sample"
    )


def test_a_failing_import_names_key_and_cause(registry: ConnectorRegistry) -> None:
    with pytest.raises(ConnectorLoadError) as caught:
        registry.get("broken")
    assert "connector 'broken'" in caught.value.detail
    assert "ImportError: syncbridge_missing_sdk is not installed" in caught.value.detail
    assert isinstance(caught.value.__cause__, ImportError)


def test_a_missing_attribute_is_a_load_error(registry: ConnectorRegistry) -> None:
    with pytest.raises(ConnectorLoadError, match=r"'missing'.*AttributeError") as caught:
        registry.get("missing")
    assert isinstance(caught.value.__cause__, AttributeError)


def test_an_object_that_is_not_a_spec_is_refused(registry: ConnectorRegistry) -> None:
    with pytest.raises(ConnectorLoadError, match="is a dict, not a ConnectorSpec"):
        registry.get("notaspec")


def test_the_spec_key_must_equal_the_entry_point_name(registry: ConnectorRegistry) -> None:
    with pytest.raises(ConnectorLoadError, match=r"'other'.*declares key 'sample'"):
        registry.get("other")


def test_a_broken_plugin_does_not_hide_the_others(registry: ConnectorRegistry) -> None:
    loaded = registry.load_all()
    assert loaded["sample"] is sample.spec
    assert {k for k, v in loaded.items() if isinstance(v, ConnectorLoadError)} == {
        "broken",
        "missing",
        "notaspec",
        "other",
    }


def test_a_failed_load_is_not_cached(registry: ConnectorRegistry) -> None:
    for _ in range(2):
        with pytest.raises(ConnectorLoadError):
            registry.get("broken")


def test_register_adds_an_in_process_spec() -> None:
    registry = ConnectorRegistry()
    registry.register(sample.spec)
    assert registry.keys() == ["sample"]
    assert registry.get("sample") is sample.spec


def test_register_refuses_a_taken_key_unless_replacing(registry: ConnectorRegistry) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register(sample.spec)
    renamed = replace(sample.spec, display_name="Sample DAM v2")
    registry.register(renamed, replace=True)
    assert registry.get("sample") is renamed


def test_duplicate_entry_points_keep_the_first() -> None:
    registry = ConnectorRegistry(
        [ep("sample", "tests.plugins.sample:spec"), ep("sample", "tests.plugins.broken:spec")]
    )
    assert registry.get("sample") is sample.spec

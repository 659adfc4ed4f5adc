"""Where job handlers come from: code, entry points and the modules named in settings."""

from __future__ import annotations

import pytest

from syncbridge.jobs import HandlerLoadError, HandlerRegistry, JobContext


async def nothing(_ctx: JobContext) -> None:
    pass


def test_a_kind_has_one_handler() -> None:
    registry = HandlerRegistry()
    registry.register("sync", nothing)
    with pytest.raises(ValueError, match="'sync' is already registered"):
        registry.register("sync", nothing)
    assert registry.kinds == ["sync"]
    assert registry.get("sync") is nothing
    assert registry.get("other") is None


def test_modules_named_in_settings_register_their_handlers() -> None:
    registry = HandlerRegistry.load(["tests.jobs_handlers"])
    assert {"test.echo", "test.slow", "test.drain"} <= set(registry.kinds)


def test_a_module_that_is_missing_or_has_no_register_function_is_refused() -> None:
    with pytest.raises(HandlerLoadError, match=r"'tests\.no_such_module' not found"):
        HandlerRegistry.load(["tests.no_such_module"])
    with pytest.raises(HandlerLoadError, match="has no register"):
        HandlerRegistry.load(["tests.jobs_support"])


def test_an_entry_point_group_without_entries_gives_no_handlers() -> None:
    # The entry-point group is read (an unknown group yields nothing, not an error).
    assert HandlerRegistry.load(entry_point_group="syncbridge.no_such_group").kinds == []

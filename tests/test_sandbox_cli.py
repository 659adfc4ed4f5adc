"""`syncbridge connectors list` and `syncbridge sandbox serve`, through the real CLI."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import httpx
import pytest
from typer.testing import CliRunner

from syncbridge.cli.main import app
from syncbridge.connector.registry import ENTRY_POINT_GROUP, ConnectorRegistry
from syncbridge.sandbox.cli import build_simulator
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.spec import SANDBOX_ENTRY_POINT_GROUP, SandboxRegistry, SandboxSpec
from syncbridge.sandbox.world import World
from tests.plugins.sample.sandbox import sandbox as sample_sandbox

#: Wide enough that each table row stays on one line.
runner = CliRunner(env={"COLUMNS": "200"})


def registry_of(**values: str) -> ConnectorRegistry:
    return ConnectorRegistry(
        EntryPoint(name=k, value=v, group=ENTRY_POINT_GROUP) for k, v in values.items()
    )


def sandboxes_of(**values: str) -> SandboxRegistry:
    return SandboxRegistry(
        EntryPoint(name=k, value=v, group=SANDBOX_ENTRY_POINT_GROUP) for k, v in values.items()
    )


def test_list_shows_each_connector_and_its_capabilities() -> None:
    result = runner.invoke(
        app, ["connectors", "list"], obj=registry_of(sample="tests.plugins.sample:spec")
    )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "Sample DAM" in line)
    for cell in ("sample", "dam", "incremental, read, webhooks, write_back", "ok"):
        assert cell in row


def test_list_shows_the_load_error_of_a_broken_connector_and_fails() -> None:
    registry = registry_of(sample="tests.plugins.sample:spec", broken="tests.plugins.broken:spec")
    result = runner.invoke(app, ["connectors", "list"], obj=registry)
    assert result.exit_code == 1
    assert "syncbridge_missing_sdk is not installed" in result.output
    assert "Sample DAM" in result.output


def test_list_says_when_nothing_is_installed() -> None:
    result = runner.invoke(app, ["connectors", "list"], obj=ConnectorRegistry())
    assert result.exit_code == 0
    assert "No connectors installed" in result.output


def test_serve_an_unknown_connector_names_the_installed_ones() -> None:
    registry = sandboxes_of(sample="tests.plugins.sample.sandbox:sandbox")
    result = runner.invoke(app, ["sandbox", "serve", "nope"], obj=registry)
    assert result.exit_code == 2
    assert "unknown sandbox 'nope'; installed: sample" in result.output


def test_serve_a_broken_sandbox_shows_its_load_error() -> None:
    result = runner.invoke(
        app, ["sandbox", "serve", "broken"], obj=sandboxes_of(broken="tests.plugins.broken:spec")
    )
    assert result.exit_code == 2
    assert "sandbox 'broken' failed to load" in result.output


def test_a_sandbox_entry_point_must_be_a_sandbox_spec() -> None:
    registry = sandboxes_of(sample="tests.plugins.sample:spec")
    result = runner.invoke(app, ["sandbox", "serve", "sample"], obj=registry)
    assert result.exit_code == 2
    assert "is a ConnectorSpec, not a SandboxSpec" in result.output


def test_serve_a_file_based_sandbox_is_refused() -> None:
    registry = SandboxRegistry()
    registry.register(SandboxSpec(key="files", materialize=lambda _world, _folder: {}))
    result = runner.invoke(app, ["sandbox", "serve", "files"], obj=registry)
    assert result.exit_code == 2
    assert "ships no simulator" in result.output


def test_a_sandbox_spec_is_either_a_simulator_or_files() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SandboxSpec(key="neither")


def test_serve_refuses_a_fault_rate_above_one() -> None:
    result = runner.invoke(app, ["sandbox", "serve", "sample", "--rate-429", "1.5"])
    assert result.exit_code == 2
    assert "rate-429" in result.output


async def test_the_served_simulator_answers_with_its_sandbox_credentials() -> None:
    simulator = build_simulator(sample_sandbox, World(seed=42, assets_count=12), FaultKnobs())
    info = simulator.connection_settings("http://sandbox")
    assert info["api_token"]
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {info['api_token']}"})
        refused = await client.get("/api/me")
    assert me.json()["assets"] == 12
    assert refused.status_code == 401


async def test_the_served_simulator_injects_the_faults_asked_for() -> None:
    simulator = build_simulator(
        sample_sandbox, World(seed=42, assets_count=12), FaultKnobs(rate_429=1.0, retry_after_s=3)
    )
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        response = await client.get("/api/assets")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"

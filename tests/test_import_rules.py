"""Import rules: connectors and the connector toolkit stay free of the service's insides.

A connector turns vendor JSON into plain records and back (DESIGN: Connector contract); it
does no database work and serves no HTTP. So nothing under ``connectors/`` or
``syncbridge.connector`` may import SQLAlchemy, FastAPI, the models, the store, the API or the
app; web frameworks are allowed only in a connector's simulator modules, which only its
sandbox entry point loads. Checked twice: statically over every module's imports, and in a
fresh interpreter that loads every installed connector the way production does.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLKIT = ROOT / "src" / "syncbridge" / "connector"

#: Never imported by a connector or the toolkit.
FORBIDDEN = (
    "sqlalchemy",
    "alembic",
    "syncbridge.models",
    "syncbridge.store",
    "syncbridge.api",
    "syncbridge.db",
    "syncbridge.app",
    "syncbridge.connections",
    "syncbridge.mapping",
    "syncbridge.taxonomy",
    "syncbridge.auth",
    "syncbridge.audit",
)
#: Imported only by simulator modules (and the sandbox entry point that loads them).
WEB = ("fastapi", "starlette", "uvicorn", "syncbridge.sandbox.embedded")
#: The contract suite is test support (it needs pytest and the fault knobs of the sandbox);
#: production never imports it.
TEST_SUPPORT = {TOOLKIT / "testing.py"}


def _matches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _is_simulator(path: Path) -> bool:
    return path.name in ("sandbox.py",) or path.stem.startswith(("simulator", "sim_"))


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _connector_modules() -> list[Path]:
    packages = sorted(ROOT.glob("connectors/*/syncbridge_*"))
    assert packages, "no connector packages found"
    return [p for package in packages for p in sorted(package.rglob("*.py"))]


def violations(paths: list[Path], root: Path = ROOT) -> list[str]:
    """Each import that breaks the rules, as ``path:line: module`` (relative to ``root``)."""
    out = []
    for path in paths:
        for line, module in _imports(path):
            web_ok = _is_simulator(path) or path in TEST_SUPPORT
            if _matches(module, FORBIDDEN) or (_matches(module, WEB) and not web_ok):
                out.append(f"{path.relative_to(root)}:{line}: {module}")
    return out


def test_connector_modules_import_nothing_of_the_service() -> None:
    assert violations(_connector_modules()) == []


def test_the_toolkit_imports_nothing_of_the_service() -> None:
    assert violations(sorted(TOOLKIT.glob("*.py"))) == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    # The checker itself must see a forbidden import, a web import outside a simulator, and
    # allow the simulator's own.
    connector = tmp_path / "connector.py"
    connector.write_text("import sqlalchemy\nfrom fastapi import FastAPI\n", encoding="utf-8")
    simulator = tmp_path / "simulator.py"
    simulator.write_text("from starlette.routing import Route\n", encoding="utf-8")
    assert violations([connector, simulator], root=tmp_path) == [
        "connector.py:1: sqlalchemy",
        "connector.py:2: fastapi",
    ]


LOAD_AS_PRODUCTION = """
import json, sys
from syncbridge.connector.registry import ConnectorRegistry
import syncbridge.connector.http, syncbridge.connector.ratelimit, syncbridge.connector.paging
loaded = ConnectorRegistry.from_entry_points().load_all()
print(json.dumps({
    "connectors": sorted(k for k, v in loaded.items() if not isinstance(v, Exception)),
    "broken": sorted(k for k, v in loaded.items() if isinstance(v, Exception)),
    "modules": sorted(sys.modules),
}))
"""


@pytest.fixture(scope="module")
def production_load() -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AS_PRODUCTION],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded: dict[str, list[str]] = json.loads(done.stdout)
    return loaded


def test_loading_every_connector_imports_no_service_web_or_simulator_module(
    production_load: dict[str, list[str]],
) -> None:
    assert production_load["broken"] == []
    assert {"bynder", "cloudinary", "localfolder"} <= set(production_load["connectors"])
    modules = production_load["modules"]
    assert [m for m in modules if _matches(m, FORBIDDEN + WEB)] == []
    simulators = [
        m
        for m in modules
        if m.startswith("syncbridge_")
        and m.rsplit(".", 1)[-1].startswith(("simulator", "sim_", "sandbox"))
    ]
    assert simulators == []

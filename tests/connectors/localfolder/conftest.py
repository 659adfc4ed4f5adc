"""A folder DAM per test under ``tmp_path``, and helpers to fill it and read it back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from syncbridge_localfolder import spec
from syncbridge_localfolder.connector import LocalFolderConnector

from syncbridge.connector.folders import ROOTS_ENV

MakeConnector = Callable[..., LocalFolderConnector]


@pytest.fixture(autouse=True)
def _roots_under_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permit connection roots in the test's temporary directory only."""
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The DAM folder (its parent holds files that must stay out of reach)."""
    folder = tmp_path / "dam"
    folder.mkdir()
    return folder


@pytest.fixture
def make(root: Path) -> MakeConnector:
    """``make(**settings)``: a connector on ``root`` with settings overrides."""

    def build(**overrides: Any) -> LocalFolderConnector:
        settings = spec.settings_model(**{"root": root, **overrides})
        connector = spec.factory(settings, None)  # type: ignore[arg-type]  # no HTTP used
        assert isinstance(connector, LocalFolderConnector)
        return connector

    return build

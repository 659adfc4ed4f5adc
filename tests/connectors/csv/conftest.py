"""Each test's exports folder lies under ``tmp_path``, the only permitted root."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncbridge.connector.folders import ROOTS_ENV


@pytest.fixture(autouse=True)
def _roots_under_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permit connection roots in the test's temporary directory only."""
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The exports folder (its parent holds files that must stay out of reach)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder

"""The root policy of file-based connectors (``syncbridge.connector.folders``).

A root must be an existing absolute directory whose real path lies in a directory listed in
``SYNCBRIDGE_LOCAL_FOLDER_ROOTS`` (else the working directory) or in a sandbox folder the
host's policy names. The connectors' own tests only check that their settings use it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncbridge.connector.folders import ROOTS_ENV, confined_root, permitted_roots
from syncbridge.connector.spec import HostPolicy


@pytest.fixture(autouse=True)
def _roots_under_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permit roots in the test's temporary directory unless a test says otherwise."""
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _refusal(root: Path, policy: HostPolicy | None = None) -> str:
    with pytest.raises(ValueError, match=r"^root ") as caught:
        confined_root(root, policy or HostPolicy())
    return str(caught.value)


def test_a_root_in_a_permitted_directory_is_accepted(tmp_path: Path) -> None:
    nested = _folder(tmp_path / "dam" / "brand")
    assert confined_root(nested, HostPolicy()) == nested


@pytest.mark.parametrize("outside", [Path("/"), Path("/etc")])
def test_system_directories_are_refused_naming_the_variable(outside: Path) -> None:
    message = _refusal(outside)
    assert "outside the permitted directories" in message
    assert ROOTS_ENV in message


@pytest.mark.parametrize(
    ("root", "reason"),
    [("relative/exports", "must be an absolute path"), ("/nonexistent/csv", "does not exist")],
)
def test_a_relative_or_missing_root_is_refused(root: str, reason: str) -> None:
    assert reason in _refusal(Path(root))


def test_a_file_is_no_root(tmp_path: Path) -> None:
    file = tmp_path / "exports.csv"
    file.write_text("a,b\n")
    assert "is not a directory" in _refusal(file)


def test_a_sibling_sharing_the_prefix_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOTS_ENV, str(_folder(tmp_path / "dam")))
    # "dam-private" shares the prefix "dam" as a string, not as a directory.
    assert "outside" in _refusal(_folder(tmp_path / "dam-private"))


def test_a_symbolic_link_out_of_the_permitted_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    permitted = _folder(tmp_path / "dam")
    monkeypatch.setenv(ROOTS_ENV, str(permitted))
    link = permitted / "escape"
    link.symlink_to(_folder(tmp_path / "elsewhere"), target_is_directory=True)
    assert "outside" in _refusal(link)


def test_several_directories_are_separated_by_pathsep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _folder(tmp_path / "a"), _folder(tmp_path / "b")
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(first), str(second)]))
    assert confined_root(second, HostPolicy()) == second
    assert "outside" in _refusal(_folder(tmp_path / "c"))


def test_unset_means_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOTS_ENV)
    monkeypatch.chdir(_folder(tmp_path / "work"))
    inside = _folder(tmp_path / "work" / "dam")
    assert confined_root(inside, HostPolicy()) == inside
    assert "outside" in _refusal(_folder(tmp_path / "outside"))


def test_a_sandbox_folder_is_permitted_only_under_a_policy_that_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOTS_ENV, str(_folder(tmp_path / "permitted")))
    sandbox = _folder(tmp_path / "sandbox")
    policy = HostPolicy(sandbox_folders=(sandbox,))
    assert permitted_roots(policy) == [(tmp_path / "permitted").resolve(), sandbox.resolve()]
    assert confined_root(sandbox, policy) == sandbox
    inside = _folder(sandbox / "campaign")
    assert confined_root(inside, policy) == inside
    assert "outside the permitted directories" in _refusal(sandbox, HostPolicy())

"""A local-folder root must lie in a permitted directory (SYNCBRIDGE_LOCAL_FOLDER_ROOTS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from syncbridge_localfolder.settings import LocalFolderSettings
from syncbridge_localfolder.simulator import materialize

from syncbridge.connector.folders import ROOTS_ENV
from syncbridge.connector.spec import HostPolicy
from syncbridge.sandbox.world import World


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _refusal(root: Path) -> str:
    with pytest.raises(ValidationError) as caught:
        LocalFolderSettings(root=root)
    error = caught.value.errors()[0]
    assert error["loc"] == ("root",)
    return str(error["msg"])


def test_a_root_in_a_permitted_directory_is_accepted(tmp_path: Path) -> None:
    nested = _folder(tmp_path / "dam" / "brand")
    assert LocalFolderSettings(root=nested).root == nested


@pytest.mark.parametrize("outside", [Path("/"), Path("/etc")])
def test_system_directories_are_refused_naming_the_variable(outside: Path) -> None:
    message = _refusal(outside)
    assert "outside the permitted directories" in message
    assert ROOTS_ENV in message


def test_a_sibling_of_the_permitted_directory_is_refused(
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
    assert LocalFolderSettings(root=second).root == second
    _refusal(_folder(tmp_path / "c"))


def test_unset_means_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOTS_ENV)
    monkeypatch.chdir(_folder(tmp_path / "work"))
    inside = _folder(tmp_path / "work" / "dam")
    assert LocalFolderSettings(root=inside).root == inside
    _refusal(_folder(tmp_path / "outside"))


def test_a_sandbox_folder_is_permitted_only_under_a_host_policy_that_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOTS_ENV, str(_folder(tmp_path / "permitted")))
    sandbox = _folder(tmp_path / "sandbox-dam")
    materialize(World(seed=42, assets_count=3), sandbox)
    policy = HostPolicy(sandbox_folders=(sandbox,))
    assert LocalFolderSettings.validate_with({"root": sandbox}, policy).root == sandbox
    # No process-wide state: writing the folder permitted nothing by itself, and another
    # policy (another app in the same process) does not inherit the first one's folder.
    _refusal(sandbox)
    with pytest.raises(ValidationError, match="outside the permitted directories"):
        LocalFolderSettings.validate_with({"root": sandbox}, HostPolicy())
    inside = _folder(sandbox / "campaign")
    assert LocalFolderSettings.validate_with({"root": inside}, policy).root == inside

"""A local-folder root must lie in a permitted directory (SYNCBRIDGE_LOCAL_FOLDER_ROOTS).

The policy itself (sibling and linked roots, ``os.pathsep`` lists, the working directory) is
tested in ``tests/test_connector_folders.py``; here, that the settings apply it to ``root``
under the host policy they are validated with, and that the sandbox's folder needs that policy.
"""

from __future__ import annotations

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

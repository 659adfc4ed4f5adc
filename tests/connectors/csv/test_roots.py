"""A CSV root is confined by the shared root policy, and reads never leave it.

The policy itself (relative, missing, sibling and linked roots, ``os.pathsep`` lists, the
working directory) is tested in ``tests/test_connector_folders.py``; here, that the settings
apply it to ``root`` under the host policy they are validated with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from syncbridge_csv.settings import CsvSettings

from syncbridge.connector.folders import ROOTS_ENV
from syncbridge.connector.spec import HostPolicy
from tests.connectors.csv.support import connector, ids_of, pages, rows, stream, write


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _validate(root: Path, policy: HostPolicy | None = None) -> CsvSettings:
    raw = {"root": str(root), "streams": {"exports": stream()}}
    return CsvSettings.validate_with(raw, policy or HostPolicy())


def _refusal(root: Path, policy: HostPolicy | None = None) -> str:
    with pytest.raises(ValidationError) as caught:
        _validate(root, policy)
    error = caught.value.errors()[0]
    assert error["loc"] == ("root",)
    return str(error["msg"])


def test_a_root_in_a_permitted_directory_is_accepted(tmp_path: Path) -> None:
    nested = _folder(tmp_path / "exports" / "ga4")
    assert _validate(nested).root == nested


@pytest.mark.parametrize("outside", [Path("/"), Path("/etc")])
def test_system_directories_are_refused_naming_the_variable(outside: Path) -> None:
    message = _refusal(outside)
    assert "outside the permitted directories" in message
    assert ROOTS_ENV in message


def test_the_host_policy_permits_the_sandbox_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOTS_ENV, str(_folder(tmp_path / "permitted")))
    sandbox = _folder(tmp_path / "sandbox" / "csv")
    _refusal(sandbox)
    policy = HostPolicy(sandbox_folders=(tmp_path / "sandbox",))
    assert _validate(sandbox, policy).root == sandbox


async def test_a_read_does_not_follow_links_or_read_hidden_files(
    root: Path, tmp_path: Path
) -> None:
    write(root / "real.csv", rows("2026-11-01,inside,1,0"))
    secret = write(tmp_path / "secret.csv", rows("2026-11-01,outside,1,0"))
    (root / "linked.csv").symlink_to(secret)
    (root / "linked-folder").symlink_to(tmp_path, target_is_directory=True)
    write(root / ".upload-1234.part.csv", rows("2026-11-01,partial,1,0"))
    write(root / ".hidden" / "x.csv", rows("2026-11-01,hidden,1,0"))
    write(root / "notes.txt", rows("2026-11-01,not-csv,1,0"))
    assert ids_of(await pages(connector(root))) == ["2026-11-01|inside"]


async def test_patterns_are_relative_to_the_root_and_case_insensitive(root: Path) -> None:
    write(root / "ga4" / "2026" / "DAY1.CSV", rows("2026-11-01,a,1,0"))
    write(root / "crm" / "deals.csv", rows("2026-11-01,b,1,0"))
    made = connector(root, streams={"exports": stream(pattern=["ga4/*.csv"])})
    assert ids_of(await pages(made)) == ["2026-11-01|a"]
    check = await made.check()
    assert check.ok
    assert check.account["files"] == {"exports": 1}

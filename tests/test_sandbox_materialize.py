"""`syncbridge sandbox materialize localfolder DIR` writes a sandbox DAM folder."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from syncbridge.cli import app


def test_materialize_writes_assets_the_connector_can_read(tmp_path: Path) -> None:
    target = tmp_path / "dam"
    result = CliRunner().invoke(
        app, ["sandbox", "materialize", "localfolder", str(target), "--assets", "12"]
    )
    assert result.exit_code == 0, result.output
    files = [p for p in target.rglob("*") if p.is_file() and p.suffix != ".xmp"]
    assert len(files) == 12
    assert any(p.suffix == ".xmp" for p in target.rglob("*"))


def test_materialize_refuses_a_connector_without_a_file_sandbox(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sandbox", "materialize", "bynder", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists()


def test_materialize_unknown_connector(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sandbox", "materialize", "nope", str(tmp_path)])
    assert result.exit_code == 2

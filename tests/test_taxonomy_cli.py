"""`syncbridge taxonomy import|export|validate` through the real CLI, and the first-start load."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from syncbridge.bootstrap import bootstrap_store, default_taxonomy_dir, load_default_taxonomy
from syncbridge.cli.main import app
from syncbridge.db import create_engine, create_sessionmaker
from syncbridge.models import ApiKey, AuditEntry, Concept, ConceptScheme
from syncbridge.settings import Settings, get_settings
from syncbridge.taxonomy.formats.sources import TaxonomyFormat, parse, read_files, source_files

FIXTURES = Path(__file__).parent / "fixtures" / "taxonomy"
DEFAULT_TAXONOMY = Path(__file__).parents[1] / "taxonomy"
runner = CliRunner()


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI at the test database, with a wide terminal so reasons are not wrapped."""
    monkeypatch.setenv("SYNCBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "300")
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def cells(output: str, first: str) -> list[str]:
    """The cells of the first table row whose text contains ``first``."""
    row = next(line for line in output.splitlines() if first in line)
    return [cell.strip() for cell in row.strip().strip("│").split("│")]


def counts(url: str) -> tuple[int, int, int]:
    """(schemes, concepts, audit entries) in the store."""

    async def run() -> tuple[int, int, int]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                values = [
                    (await session.execute(select(func.count()).select_from(model))).scalar_one()
                    for model in (ConceptScheme, Concept, AuditEntry)
                ]
                return values[0], values[1], values[2]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_import_folder_then_again_changes_nothing(cli_db: str) -> None:
    first = runner.invoke(app, ["taxonomy", "import", str(FIXTURES)])
    assert first.exit_code == 0, first.output
    assert cells(first.output, "concepts") == ["concepts", "12", "0", "0"]
    before = counts(cli_db)
    assert before[:2] == (3, 12)
    second = runner.invoke(app, ["taxonomy", "import", str(FIXTURES)])
    assert second.exit_code == 0
    assert cells(second.output, "concepts") == ["concepts", "0", "0", "12"]
    assert counts(cli_db) == before


def test_dry_run_writes_nothing(cli_db: str) -> None:
    result = runner.invoke(app, ["taxonomy", "import", "--dry-run", str(FIXTURES)])
    assert result.exit_code == 0
    assert "Dry run" in result.output
    assert counts(cli_db) == (0, 0, 0)


@pytest.mark.parametrize(
    ("name", "content", "where", "reason"),
    [
        (
            "cycle.yaml",
            "scheme: {key: s, title: S}\nconcepts:\n"
            "  - {key: 's:a', pref_label: A, broader: ['s:b']}\n"
            "  - {key: 's:b', pref_label: B, broader: ['s:a']}\n",
            ["3", "s:a"],
            "broader links would form a cycle: s:a -> s:b -> s:a",
        ),
        (
            "dup.yaml",
            "scheme: {key: s, title: S}\nconcepts:\n"
            "  - {key: 's:a', pref_label: Same}\n  - {key: 's:b', pref_label: SAME}\n",
            ["3", "s:a"],
            "preferred label 'Same' (en) is already used in scheme 's' by s:b",
        ),
        (
            "broken.yaml",
            "scheme: {key: s, title: S}\nconcepts:\n  - key: [\n",
            ["4", ""],
            "invalid YAML",
        ),
        ("broken.ttl", "<a> <b> .\n", ["1", ""], "invalid Turtle"),
        ("latin1.yaml", "scheme: {key: s, title: Caf\xe9}\n", ["1", ""], "not UTF-8"),
    ],
)
def test_bad_file_fails_with_file_line_and_reason_and_imports_nothing(
    cli_db: str, tmp_path: Path, name: str, content: str, where: list[str], reason: str
) -> None:
    shutil.copy(FIXTURES / "topic.yaml", tmp_path / "a-good.yaml")
    encoding = "latin-1" if name.startswith("latin1") else "utf-8"
    (tmp_path / name).write_bytes(content.encode(encoding))
    result = runner.invoke(app, ["taxonomy", "import", str(tmp_path)])
    assert result.exit_code == 1
    file, line, concept, why = cells(result.output, name)
    assert Path(file) == tmp_path / name
    assert [line, concept] == where
    assert reason in why
    assert "The taxonomy was not imported" in result.output
    assert counts(cli_db) == (0, 0, 0)


@pytest.mark.usefixtures("cli_db")
def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["taxonomy", "import", str(tmp_path)])
    assert result.exit_code == 1
    assert "No .yaml, .yml or .ttl files" in result.output


@pytest.mark.usefixtures("cli_db")
def test_export_to_stdout_file_and_folder(tmp_path: Path) -> None:
    assert runner.invoke(app, ["taxonomy", "import", str(FIXTURES)]).exit_code == 0
    expected = read_files(source_files(FIXTURES))

    stdout = runner.invoke(app, ["taxonomy", "export", "--scheme", "tone"])
    assert stdout.exit_code == 0
    assert parse(stdout.stdout.encode(), TaxonomyFormat.yaml).same_content(
        expected.only_schemes(["tone"])
    )

    ttl = tmp_path / "all.ttl"
    result = runner.invoke(app, ["taxonomy", "export", "--format", "turtle", "--output", str(ttl)])
    assert result.exit_code == 0
    assert parse(ttl.read_bytes(), TaxonomyFormat.turtle).same_content(expected)

    folder = tmp_path / "out"
    result = runner.invoke(app, ["taxonomy", "export", "--output", f"{folder}/"])
    assert result.exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "fruit-scheme.yaml",
        "tone.yaml",
        "topic.yaml",
    ]
    assert read_files(source_files(folder)).same_content(expected)


@pytest.mark.usefixtures("cli_db")
def test_export_of_unknown_scheme_fails() -> None:
    result = runner.invoke(app, ["taxonomy", "export", "--scheme", "nope"])
    assert result.exit_code == 1
    assert "No concept scheme 'nope'" in result.output


def test_validate_checks_files_without_a_store(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["taxonomy", "validate", str(DEFAULT_TAXONOMY)])
    assert ok.exit_code == 0, ok.output
    (tmp_path / "x.yaml").write_text("scheme: {key: s, title: S}\nconcepts: 3\n")
    bad = runner.invoke(app, ["taxonomy", "validate", str(tmp_path)])
    assert bad.exit_code == 1
    assert "'concepts' must be a list" in bad.output


# --- bootstrap -------------------------------------------------------------------------


def test_default_taxonomy_is_found_in_the_checkout() -> None:
    assert default_taxonomy_dir() == DEFAULT_TAXONOMY.resolve()


async def test_bootstrap_loads_the_default_taxonomy_once(settings: Settings) -> None:
    key = await bootstrap_store(settings)
    assert key is not None
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            concepts = (await session.execute(select(func.count(Concept.id)))).scalar_one()
            assert concepts >= 80
            perf = (
                (
                    await session.execute(
                        select(Concept.key).where(Concept.key.like("perf:%")).order_by(Concept.key)
                    )
                )
                .scalars()
                .all()
            )
            assert set(perf) >= {
                "perf:top-10",
                "perf:top-25",
                "perf:middle",
                "perf:bottom-25",
                "perf:insufficient-data",
            }
            actors = (await session.execute(select(AuditEntry.actor).distinct())).scalars().all()
            assert list(actors) == ["bootstrap"]
            audited = (await session.execute(select(func.count(AuditEntry.id)))).scalar_one()
    finally:
        await engine.dispose()

    assert await bootstrap_store(settings) is None
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            again = (await session.execute(select(func.count(AuditEntry.id)))).scalar_one()
            keys = (await session.execute(select(func.count(ApiKey.id)))).scalar_one()
            assert (again, keys) == (audited, 1)
            assert await load_default_taxonomy(session) is None
    finally:
        await engine.dispose()

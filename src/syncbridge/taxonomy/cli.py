"""`syncbridge taxonomy` commands: import, export and validate taxonomy files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.db import open_store
from syncbridge.errors import SyncbridgeError
from syncbridge.settings import get_settings
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work
from syncbridge.taxonomy import transfer
from syncbridge.taxonomy.document import Taxonomy
from syncbridge.taxonomy.formats.sources import (
    TaxonomyFormat,
    read_files,
    render,
    source_files,
)
from syncbridge.taxonomy.importer import plan_import
from syncbridge.taxonomy.validation import MAX_REPORTED_PROBLEMS, TaxonomyImportError

app = typer.Typer(
    help="Import, export and validate the taxonomy (YAML or SKOS Turtle).", no_args_is_help=True
)
console = Console(stderr=True)

PathArgument = Annotated[
    Path,
    typer.Argument(
        exists=True, help="A .yaml/.yml/.ttl file, or a folder of them (read in name order)."
    ),
]


def _read(path: Path) -> Taxonomy:
    files = source_files(path)
    if not files:
        console.print(f"[red]No .yaml, .yml or .ttl files in {path}[/red]")
        raise typer.Exit(1)
    return read_files(files)


def _show_problems(exc: TaxonomyImportError) -> None:
    table = Table(title="Taxonomy problems", title_justify="left", show_lines=False)
    for column in ("file", "line", "concept", "reason"):
        table.add_column(column, overflow="fold")
    for p in exc.problems[:MAX_REPORTED_PROBLEMS]:
        line = "" if p.line is None else str(p.line)
        table.add_row(p.file or "", line, p.key or "", p.reason)
    console.print(table)
    console.print(f"[bold red]{exc.detail}[/bold red]")


def _show_report(result: transfer.ImportResult) -> None:
    plan = result.plan
    if result.dry_run:
        title = "Dry run: nothing written"
    else:
        title = "Imported" if plan.changes_anything else "Nothing to change: the store matches"
    table = Table(title=title)
    for column in ("", "created", "updated", "unchanged"):
        table.add_column(column, justify="right" if column else "left")
    for name, counts in (
        ("schemes", (plan.schemes_created, plan.schemes_updated, plan.schemes_unchanged)),
        ("concepts", (plan.concepts_created, plan.concepts_updated, plan.concepts_unchanged)),
    ):
        table.add_row(name, *(str(len(c)) for c in counts))
    console.print(table)
    for rule in result.moved_rules:
        console.print(f"moved mapping rule '{rule.name}' ({rule.id}) to its replacement concept")


async def _import(url: str, incoming: Taxonomy, dry_run: bool) -> transfer.ImportResult:
    async def work(session: AsyncSession) -> transfer.ImportResult:
        return await transfer.import_taxonomy(session, incoming, actor="cli", dry_run=dry_run)

    async with open_store(url) as sessionmaker:
        return await in_unit_of_work(sessionmaker, work, write=not dry_run)


@app.command("import")
def import_command(
    path: PathArgument,
    dry_run: Annotated[bool, typer.Option(help="Validate and report; write nothing.")] = False,
) -> None:
    """Load taxonomy files into the store: upsert by key, all or nothing, idempotent.

    The store is the database in SYNCBRIDGE_DATABASE_URL (by default a SQLite file in this
    folder). Concepts are matched by key: new ones are created, changed ones updated, equal
    ones left alone, so importing the same files twice changes nothing. A bad file (a cycle,
    a duplicate label, an unknown broader key or field, invalid YAML/Turtle, not UTF-8) is
    reported with its file, line, concept key and reason, nothing is imported, and the exit
    code is 1. Example: syncbridge taxonomy import taxonomy/
    """
    try:
        incoming = _read(path)
        result = asyncio.run(_import(get_settings().database_url, incoming, dry_run))
    except TaxonomyImportError as exc:
        _show_problems(exc)
        raise typer.Exit(1) from exc
    except SyncbridgeError as exc:
        console.print(f"[bold red]{exc.detail}[/bold red]")
        raise typer.Exit(1) from exc
    _show_report(result)


@app.command("validate")
def validate_command(path: PathArgument) -> None:
    """Check taxonomy files on their own, without a store (broader keys must be in the files).

    Problems are listed with file, line, concept key and reason; the exit code is then 1.
    """
    try:
        plan = plan_import(_read(path), Taxonomy())
    except TaxonomyImportError as exc:
        _show_problems(exc)
        raise typer.Exit(1) from exc
    console.print(
        f"[green]Valid:[/green] {len(plan.schemes_created)} schemes, "
        f"{len(plan.concepts_created)} concepts"
    )


async def _export(url: str, scheme: str | None) -> Taxonomy:
    async with open_store(url) as sessionmaker, unit_of_work(sessionmaker, write=False) as session:
        return await transfer.export_taxonomy(session, scheme)


@app.command("export")
def export_command(
    fmt: Annotated[
        TaxonomyFormat, typer.Option("--format", help="yaml or turtle.")
    ] = TaxonomyFormat.yaml,
    scheme: Annotated[str | None, typer.Option(help="Only this scheme.")] = None,
    output: Annotated[
        str | None,
        typer.Option(
            help="A file, or a folder (existing, or ending in '/') for one file per scheme. "
            "Default: standard output."
        ),
    ] = None,
) -> None:
    """Write the taxonomy out as YAML (one document per scheme) or SKOS Turtle.

    Reads the store in SYNCBRIDGE_DATABASE_URL. What it writes imports back unchanged.
    Example: syncbridge taxonomy export --format turtle --output taxonomy.ttl
    """
    try:
        taxonomy = asyncio.run(_export(get_settings().database_url, scheme))
    except SyncbridgeError as exc:
        console.print(f"[bold red]{exc.detail}[/bold red]")
        raise typer.Exit(1) from exc
    if output is None:
        typer.echo(render(taxonomy, fmt), nl=False)
        return
    target = Path(output)
    if target.is_dir() or output.endswith(("/", "\\")):
        target.mkdir(parents=True, exist_ok=True)
        for key in sorted(taxonomy.schemes):
            path = target / f"{key}{fmt.suffix}"
            path.write_text(render(taxonomy.only_schemes([key]), fmt), encoding="utf-8")
        console.print(f"Wrote {len(taxonomy.schemes)} scheme files to {target}")
        return
    target.write_text(render(taxonomy, fmt), encoding="utf-8")
    console.print(
        f"Wrote {len(taxonomy.schemes)} schemes, {len(taxonomy.concepts)} concepts to {target}"
    )

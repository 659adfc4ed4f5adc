"""Reading taxonomy sources: bytes to text (UTF-8 only), the format, files and folders."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from syncbridge.taxonomy.document import Taxonomy
from syncbridge.taxonomy.formats.turtle_file import read_turtle, write_turtle
from syncbridge.taxonomy.formats.yaml_file import read_yaml, write_yaml
from syncbridge.taxonomy.validation import Problem, TaxonomyImportError


class TaxonomyFormat(StrEnum):
    """A taxonomy file format."""

    yaml = "yaml"
    turtle = "turtle"

    @property
    def media_type(self) -> str:
        return "application/yaml" if self is TaxonomyFormat.yaml else "text/turtle"

    @property
    def suffix(self) -> str:
        return ".yaml" if self is TaxonomyFormat.yaml else ".ttl"


SUFFIXES = {
    ".yaml": TaxonomyFormat.yaml,
    ".yml": TaxonomyFormat.yaml,
    ".ttl": TaxonomyFormat.turtle,
}
MEDIA_TYPES = {
    "application/yaml": TaxonomyFormat.yaml,
    "application/x-yaml": TaxonomyFormat.yaml,
    "text/yaml": TaxonomyFormat.yaml,
    "text/x-yaml": TaxonomyFormat.yaml,
    "text/turtle": TaxonomyFormat.turtle,
}


def format_for_media_type(content_type: str) -> TaxonomyFormat | None:
    """The format a ``Content-Type`` header names (parameters such as charset ignored)."""
    return MEDIA_TYPES.get(content_type.split(";")[0].strip().lower())


def decode(raw: bytes, file: str | None = None) -> str:
    """UTF-8 text (a byte-order mark is tolerated); any other encoding is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:1024]:
        raise TaxonomyImportError(
            [Problem("the file is not UTF-8 (it looks like UTF-16); save it as UTF-8", file)]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        reason = (
            f"the file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded "
            "(Latin-1 or Windows-1252?); save it as UTF-8"
        )
        raise TaxonomyImportError([Problem(reason, file=file, line=line)]) from exc
    return text.removeprefix("\ufeff")


def parse(raw: bytes, fmt: TaxonomyFormat, file: str | None = None) -> Taxonomy:
    """One source in ``fmt``; raises :class:`TaxonomyImportError`."""
    text = decode(raw, file)
    return read_yaml(text, file) if fmt is TaxonomyFormat.yaml else read_turtle(text, file)


def render(taxonomy: Taxonomy, fmt: TaxonomyFormat) -> str:
    """The taxonomy as text in ``fmt``."""
    return write_yaml(taxonomy) if fmt is TaxonomyFormat.yaml else write_turtle(taxonomy)


def source_files(path: Path) -> list[Path]:
    """``path`` itself, or the taxonomy files directly in the folder ``path``, sorted by name."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    return [path]


def read_files(paths: Iterable[Path]) -> Taxonomy:
    """Read and merge several files; every file is read so that all problems are reported.

    Raises :class:`TaxonomyImportError` on any problem, including a concept or scheme
    defined in two files.
    """
    merged = Taxonomy()
    problems: list[Problem] = []
    for path in paths:
        fmt = SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            problems.append(Problem("unknown file type (use .yaml, .yml or .ttl)", str(path)))
            continue
        try:
            part = parse(path.read_bytes(), fmt, str(path))
        except TaxonomyImportError as exc:
            problems += exc.problems
            continue
        except OSError as exc:
            problems.append(Problem(f"cannot read the file: {exc.strerror}", str(path)))
            continue
        problems += merge_into(merged, part)
    if problems:
        raise TaxonomyImportError(problems)
    return merged


def merge_into(target: Taxonomy, part: Taxonomy) -> list[Problem]:
    """Add ``part`` to ``target``; a key already there is a problem (that copy is left out)."""
    problems: list[Problem] = []
    for key, scheme in part.schemes.items():
        if key in target.schemes and target.schemes[key] != scheme:
            origin = next(iter(part.origins.values()), None)
            problems.append(
                Problem(
                    f"scheme '{key}' is defined differently in two files",
                    origin.file if origin else None,
                )
            )
        target.schemes.setdefault(key, scheme)
    for key, concept in part.concepts.items():
        origin = part.origins.get(key)
        if key in target.concepts:
            first = target.origins.get(key)
            problems.append(
                Problem(
                    f"concept is defined twice (also in {first.file if first else 'another file'})",
                    file=origin.file if origin else None,
                    line=origin.line if origin else None,
                    key=key,
                )
            )
            continue
        target.concepts[key] = concept
        if origin is not None:
            target.origins[key] = origin
    return problems

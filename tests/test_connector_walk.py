"""The confined file walk shared by the local folder and CSV exports: sorted, hidden entries
and symbolic links left out, undecodable names skipped, and a resume that starts strictly
after a position."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncbridge.connector.folders import path_key, walk_files


def _tree(root: Path) -> None:
    for relative in ("a/1.txt", "a/b/2.txt", "c.txt", "d/3.txt", ".hidden/4.txt", ".5.txt"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("x")


def _walk(root: Path, after: str | None = None) -> list[str]:
    return [rel for rel, _ in walk_files(root, path_key(after) if after else None)]


def test_the_walk_is_sorted_and_leaves_hidden_entries_out(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert _walk(tmp_path) == ["a/1.txt", "a/b/2.txt", "c.txt", "d/3.txt"]


def test_a_resume_starts_strictly_after_its_position(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert _walk(tmp_path, "a/b/2.txt") == ["c.txt", "d/3.txt"]
    assert _walk(tmp_path, "a/1.txt") == ["a/b/2.txt", "c.txt", "d/3.txt"]
    assert _walk(tmp_path, "d/3.txt") == []


def test_symbolic_links_are_neither_listed_nor_followed(tmp_path: Path) -> None:
    _tree(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    (tmp_path / "link").symlink_to(outside)
    (tmp_path / "c-link.txt").symlink_to(tmp_path / "c.txt")
    assert _walk(tmp_path) == ["a/1.txt", "a/b/2.txt", "c.txt", "d/3.txt"]


def test_an_undecodable_name_is_skipped(tmp_path: Path) -> None:
    _tree(tmp_path)
    raw = os.fsencode(tmp_path) + b"/bad-\xff.txt"
    try:
        with open(raw, "wb") as handle:
            handle.write(b"x")
    except OSError:
        pytest.skip("the file system refuses undecodable names")
    assert _walk(tmp_path) == ["a/1.txt", "a/b/2.txt", "c.txt", "d/3.txt"]

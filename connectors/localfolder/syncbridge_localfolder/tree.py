"""The folder as a DAM: which files are assets, where their sidecars are, and the walk order.

An asset's external id is its POSIX path relative to the root. Nothing here ever leaves the
root: the walk does not follow symbolic links (a linked file or folder is not an asset; what it
points to, if inside the root, is listed under its real path), and a ref is refused unless it
is a canonical relative path that names a non-linked path inside the root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.folders import PathKey, walk_files

SIDECAR_SUFFIX = ".xmp"


def is_sidecar_name(name: str) -> bool:
    """Whether a file name is an XMP sidecar (never an asset, whichever sidecar style)."""
    return name.lower().endswith(SIDECAR_SUFFIX)


def sidecar_path(asset: Path, style: Literal["ext", "stem"]) -> Path:
    """``photo.jpg`` -> ``photo.jpg.xmp`` (``ext``) or ``photo.xmp`` (``stem``)."""
    if style == "ext" or not asset.suffix:
        return asset.with_name(asset.name + SIDECAR_SUFFIX)
    return asset.with_suffix(SIDECAR_SUFFIX)


@dataclass(frozen=True)
class AssetTree:
    """The root directory plus the rules saying which files under it are assets."""

    root: Path
    include: Sequence[str]
    sidecar_style: Literal["ext", "stem"]

    @classmethod
    def open(
        cls, root: Path, include: Sequence[str], sidecar_style: Literal["ext", "stem"]
    ) -> AssetTree:
        """The tree at ``root`` with its real path resolved once (so a linked root works)."""
        return cls(root.resolve(), tuple(include), sidecar_style)

    def is_asset_path(self, relative: str) -> bool:
        """Whether a (valid) relative path names an asset by the include/hidden/sidecar rules."""
        parts = relative.split("/")
        if any(part.startswith(".") for part in parts) or is_sidecar_name(parts[-1]):
            return False
        return any(fnmatchcase(relative, pattern) for pattern in self.include)

    def resolve(self, ref: str) -> Path:
        """The absolute path of ``ref``; refuses anything that could leave the root.

        Raises ``PermanentConnectorError`` for an absolute or non-canonical path, a ``..`` or
        ``.`` segment, a NUL byte, or a path through a symbolic link.
        """
        if not ref or "\x00" in ref or ref.startswith("/"):
            raise PermanentConnectorError(f"not a relative asset path: {ref!r}")
        parts = ref.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise PermanentConnectorError(f"asset path must be canonical and stay in root: {ref!r}")
        candidate = self.root.joinpath(*parts)
        for depth in range(1, len(parts) + 1):
            step = self.root.joinpath(*parts[:depth])
            if step.is_symlink():
                raise PermanentConnectorError(f"asset path goes through a symbolic link: {ref!r}")
        # Defence in depth: whatever the checks above missed, the real path must be inside.
        if not candidate.resolve().is_relative_to(self.root):
            raise PermanentConnectorError(f"asset path escapes root: {ref!r}")
        return candidate

    def sidecar_of(self, asset: Path) -> Path:
        """The XMP sidecar path of an asset file, by the configured style."""
        return sidecar_path(asset, self.sidecar_style)

    def walk(self, after: PathKey | None = None) -> Iterator[tuple[str, os.stat_result]]:
        """Asset files in sorted walk order, strictly after ``after``, with their ``lstat``.

        Folders wholly before ``after`` are not entered, so resuming a scan costs little.
        """
        for relative, info in walk_files(self.root, after):
            if self.is_asset_path(relative):
                yield relative, info

"""The local folder's "simulator": writes the sandbox world as a folder of files and sidecars.

There is no vendor API to simulate, so there is no ASGI app: ``syncbridge sandbox serve
localfolder`` has nothing to serve; ``materialize`` (the ``materialize`` of the sandbox entry
point, ``syncbridge_localfolder.sandbox``) writes the world to a directory that a
local-folder connection then points its ``root`` at. That folder must be a permitted root:
``serve --sandbox`` names its own folder in the host policy (see ``LocalFolderSettings``).

What it writes: every asset at ``<folder>/<campaign>/<name>.<ext>`` as a small deterministic
file (not ``file_size`` bytes: the content only has to hash the same every time), with its
mtime set to the asset's ``modified_at``. Four in five assets get an XMP sidecar carrying the
world's tags as human keywords (so write-back has people's keywords to keep); the fifth has
none (so write-back creates one). The same world always gives the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from syncbridge.sandbox.world import SandboxAsset, World
from syncbridge_localfolder.tree import sidecar_path
from syncbridge_localfolder.xmp import XmpDocument

#: Every ``SIDECARLESS_EVERY``-th asset (by index) is written without a sidecar.
SIDECARLESS_EVERY = 5


def materialize(
    world: World,
    root: Path,
    *,
    limit: int | None = None,
    sidecar_style: Literal["ext", "stem"] = "ext",
) -> list[str]:
    """Write the world's first ``limit`` assets (all: None) under ``root``; their paths.

    Idempotent: files already there are overwritten with the same bytes and times.
    """
    count = world.assets_count if limit is None else min(limit, world.assets_count)
    written: list[str] = []
    for index in range(count):
        asset = world.asset(index)
        _write_asset(root, asset, sidecar_style)
        written.append(asset.path)
    return written


def materialize_sandbox(world: World, folder: Path) -> dict[str, str]:
    """The sandbox's writer: every asset of ``world`` under ``folder``; a connection's settings."""
    materialize(world, folder)
    return {"root": str(folder)}


def human_keywords(asset: SandboxAsset) -> list[str]:
    """The keywords a person put in the asset's sidecar (none for sidecar-less assets)."""
    return [] if asset.index % SIDECARLESS_EVERY == SIDECARLESS_EVERY - 1 else list(asset.tags)


def asset_bytes(asset: SandboxAsset) -> bytes:
    """The deterministic content of an asset's file."""
    line = f"syncbridge sandbox {asset.asset_type} {asset.id} {asset.width}x{asset.height}\n"
    return line.encode() * (1 + asset.index % 7)


def _write_asset(root: Path, asset: SandboxAsset, sidecar_style: Literal["ext", "stem"]) -> None:
    path = root / asset.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(asset_bytes(asset))
    stamp = int(asset.modified_at.timestamp()) * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    keywords = human_keywords(asset)
    if keywords:
        document = XmpDocument.new()
        document.replace_keywords(keywords)
        sidecar = sidecar_path(path, sidecar_style)
        sidecar.write_bytes(document.to_bytes())
        os.utime(sidecar, ns=(stamp, stamp))

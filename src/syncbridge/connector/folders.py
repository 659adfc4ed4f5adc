"""Where file-based connectors (local folder, CSV exports) may keep their root.

Whoever may configure connections could otherwise point one at ``/`` or ``/etc`` and read
any file through syncbridge (and write beside them). A root must be an existing directory
whose resolved path (symbolic links followed) lies in a directory listed in the environment
variable ``SYNCBRIDGE_LOCAL_FOLDER_ROOTS`` (``os.pathsep``-separated, e.g.
``/srv/dam:/mnt/assets``), in the working directory when it is unset, or in one of the
sandbox folders the host's :class:`~syncbridge.connector.spec.HostPolicy` names.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from syncbridge.connector.spec import HostPolicy
from syncbridge.logs import get_logger

log = get_logger(__name__)

#: A walk position: a relative path split on "/", so tuple order is the sorted walk's order.
PathKey = tuple[str, ...]

#: Environment variable: the directories (``os.pathsep``-separated) a root may lie in.
ROOTS_ENV = "SYNCBRIDGE_LOCAL_FOLDER_ROOTS"


def permitted_roots(policy: HostPolicy | None = None) -> list[Path]:
    """Where a root may lie: ``SYNCBRIDGE_LOCAL_FOLDER_ROOTS`` (else the working directory),
    plus the sandbox folders the host's ``policy`` names."""
    raw = os.environ.get(ROOTS_ENV, "")
    bases = [Path(entry).resolve() for entry in raw.split(os.pathsep) if entry.strip()]
    sandbox = [folder.resolve() for folder in (policy or HostPolicy()).sandbox_folders]
    return (bases or [Path.cwd().resolve()]) + sandbox


def confined_root(value: Path, policy: HostPolicy) -> Path:
    """``value`` if it is a permitted root (see the module docstring); raises ``ValueError``
    saying why not, for a settings validator to report."""
    if not value.is_absolute():
        raise ValueError(f"root must be an absolute path, got {str(value)!r}")
    if not value.exists():
        raise ValueError(f"root {str(value)!r} does not exist")
    if not value.is_dir():
        raise ValueError(f"root {str(value)!r} is not a directory")
    resolved = value.resolve()
    permitted = permitted_roots(policy)
    if not any(resolved.is_relative_to(base) for base in permitted):
        listed = os.pathsep.join(str(base) for base in permitted)
        raise ValueError(
            f"root {str(value)!r} is outside the permitted directories ({listed}); "
            f"an operator can widen them with {ROOTS_ENV}"
        )
    return value


def path_key(relative: str) -> PathKey:
    """The walk-order key of a relative path (``"a/b.jpg"`` -> ``("a", "b.jpg")``)."""
    return tuple(relative.split("/"))


def walk_files(root: Path, after: PathKey | None = None) -> Iterator[tuple[str, os.stat_result]]:
    """The regular files under ``root`` in sorted walk order, with their ``lstat``.

    The walk never leaves the root: symbolic links are neither followed nor listed. Hidden
    files and folders (a leading ``.``: uploads in progress are hidden) are skipped, and so
    are names that do not decode as text (they cannot be ids; a warning names them). With
    ``after``, only files strictly after that position, and folders wholly before it are
    not entered, so resuming a scan costs little. A file or folder removed while walking is
    simply not there.
    """
    yield from _walk_dir(root, (), after)


def _walk_dir(
    directory: Path, prefix: PathKey, after: PathKey | None
) -> Iterator[tuple[str, os.stat_result]]:
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        key = (*prefix, entry.name)
        if stat.S_ISDIR(info.st_mode):
            if after is None or key >= after[: len(key)]:
                yield from _walk_dir(Path(entry.path), key, after)
            continue
        if not stat.S_ISREG(info.st_mode) or (after is not None and key <= after):
            continue
        relative = "/".join(key)
        if _is_text(relative):
            yield relative, info


def _is_text(relative: str) -> bool:
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        log.warning("folder.undecodable_name", path=relative.encode("utf-8", "replace"))
        return False
    return True


__all__ = ["ROOTS_ENV", "PathKey", "confined_root", "path_key", "permitted_roots", "walk_files"]

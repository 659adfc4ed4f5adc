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
from pathlib import Path

from syncbridge.connector.spec import HostPolicy

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


__all__ = ["ROOTS_ENV", "confined_root", "permitted_roots"]

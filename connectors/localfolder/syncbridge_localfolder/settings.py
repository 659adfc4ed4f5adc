"""Settings of a local-folder connection: which directory is the DAM and how sidecars are named."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from syncbridge.connector.folders import confined_root
from syncbridge.connector.spec import ConnectorSettings, HostPolicy

#: Digests whose output length is fixed (the SHAKE family needs a length, so it is left out).
HASH_ALGORITHMS = frozenset(
    name for name in hashlib.algorithms_guaranteed if not name.startswith("shake_")
)


class LocalFolderSettings(ConnectorSettings):
    """A directory tree of asset files, with keywords in XMP sidecars next to them.

    ``root`` is confined: whoever may configure connections could otherwise point one at
    ``/`` or ``/etc`` and read any file through syncbridge (and write sidecars beside them).
    The resolved root (symbolic links followed) must lie in a directory listed in the
    environment variable ``SYNCBRIDGE_LOCAL_FOLDER_ROOTS`` (``os.pathsep``-separated, e.g.
    ``/srv/dam:/mnt/assets``); when it is unset, in the working directory. The sandbox's
    own folders are permitted as well when the host's :class:`HostPolicy` names them
    (``serve --sandbox`` does). It is checked whenever the settings are validated, so
    narrowing the list disables connections outside it.
    """

    #: The directory that is the DAM. It must exist, be a directory, and lie in a permitted
    #: directory (see the class docstring) when saved and whenever it is used.
    root: Path
    #: ``ext``: ``photo.jpg.xmp`` (exiftool's and Lightroom's RAW+JPEG-safe form);
    #: ``stem``: ``photo.xmp`` (Adobe's default; ``photo.jpg`` and ``photo.png`` then share one).
    sidecar_style: Literal["ext", "stem"] = "ext"
    #: The keyword namespace syncbridge owns; keywords without it belong to people.
    tag_prefix: str = Field(default="perf:", min_length=1)
    #: Write-back plans and records in its ledger what it would write, and sends nothing.
    dry_run: bool = Field(
        default=False,
        description="Write-back records what it would write here and sends nothing.",
    )
    #: ``fnmatch`` patterns matched against the POSIX path relative to ``root``; ``*`` crosses
    #: folders, so ``*.jpg`` matches JPEGs at any depth. Sidecars and hidden files never match.
    include: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    #: The ``hashlib`` digest used for the content hash of each file.
    hash_algorithm: str = "sha256"
    #: Files per page of a read.
    page_size: int = Field(default=200, ge=1, le=5000)
    #: How far behind the last scan an incremental read starts, to cover coarse file clocks.
    incremental_lookback_s: float = Field(default=2.0, ge=0.0, le=86_400.0)

    @field_validator("root")
    @classmethod
    def _root_is_a_directory(cls, value: Path, info: ValidationInfo) -> Path:
        return confined_root(value, HostPolicy.of(info))

    @field_validator("hash_algorithm")
    @classmethod
    def _known_hash(cls, value: str) -> str:
        name = value.lower()
        if name not in HASH_ALGORITHMS:
            raise ValueError(
                f"unknown hash algorithm {value!r}; use one of {', '.join(sorted(HASH_ALGORITHMS))}"
            )
        return name

    @field_validator("include")
    @classmethod
    def _patterns_not_blank(cls, value: list[str]) -> list[str]:
        if any(not pattern.strip() for pattern in value):
            raise ValueError("include patterns must not be blank")
        return value

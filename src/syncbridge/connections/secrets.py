"""Connection secrets at rest: Fernet tokens under one or more keys from the environment.

``SYNCBRIDGE_SECRET_KEY`` is a comma-separated list. The first entry encrypts; every entry
decrypts, so a new key can be put first while the old one still reads existing rows, and
``syncbridge keys rotate-secrets`` then re-encrypts every row under the new key.

Each entry is either a real Fernet key (urlsafe base64 of 32 bytes, as printed by
``Fernet.generate_key()``) or a passphrase. A passphrase becomes a key with HKDF-SHA256,
no salt, info ``b"syncbridge/connection-secrets/v1"`` (:data:`HKDF_INFO`). HKDF does not
stretch: a passphrase must already be long and random (production demands 32+ characters).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from syncbridge.errors import SyncbridgeError

#: The HKDF ``info`` that turns a passphrase into a Fernet key. Changing it orphans every row.
HKDF_INFO = b"syncbridge/connection-secrets/v1"

__all__ = ["HKDF_INFO", "SecretBox", "SecretsUnreadable", "fernet_key"]


class SecretsUnreadable(SyncbridgeError):
    """No configured key decrypts a connection's secrets (the key changed without the old one)."""

    status = 500
    title = "Connection secrets unreadable"


def fernet_key(entry: str) -> bytes:
    """The Fernet key for one ``SYNCBRIDGE_SECRET_KEY`` entry: used as is, or derived by HKDF."""
    entry = entry.strip()
    if not entry:
        raise ValueError("an empty entry in SYNCBRIDGE_SECRET_KEY")
    try:
        raw = base64.urlsafe_b64decode(entry.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) == 32 and len(entry) == 44:
        return entry.encode("ascii")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        entry.encode("utf-8")
    )
    return base64.urlsafe_b64encode(derived)


def _label(connection: str | None) -> str:
    return f"connection {connection!r}" if connection else "a connection"


class SecretBox:
    """Encrypts a connection's secret settings (a JSON object) into one Fernet token."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        self._keys = [Fernet(k) for k in keys]
        self._fernet = MultiFernet(self._keys)

    @classmethod
    def from_key_material(cls, material: str) -> SecretBox:
        """Build from the ``SYNCBRIDGE_SECRET_KEY`` value (comma-separated, first encrypts)."""
        entries = [e for e in material.split(",") if e.strip()]
        if not entries:
            raise ValueError("SYNCBRIDGE_SECRET_KEY is empty")
        return cls([fernet_key(e) for e in entries])

    @property
    def key_count(self) -> int:
        """How many keys can decrypt."""
        return len(self._keys)

    def encrypt(self, secrets: dict[str, Any]) -> str:
        """One token over the JSON of ``secrets``, under the first key."""
        payload = json.dumps(secrets, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return self._fernet.encrypt(payload).decode("ascii")

    def decrypt(self, token: str, *, connection: str | None = None) -> dict[str, Any]:
        """The secrets in ``token``; an empty token is no secrets.

        Raises :class:`SecretsUnreadable` naming ``connection`` (never the secret) when no
        configured key decrypts it.
        """
        if not token:
            return {}
        try:
            payload = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretsUnreadable(self._unreadable(connection)) from exc
        value = json.loads(payload)
        if not isinstance(value, dict):
            raise SecretsUnreadable(f"The secrets of {_label(connection)} are not a JSON object.")
        return value

    def rotate(self, token: str, *, connection: str | None = None) -> str:
        """The same secrets re-encrypted under the first key (``MultiFernet.rotate``)."""
        if not token:
            return self.encrypt({})
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretsUnreadable(self._unreadable(connection)) from exc

    def _unreadable(self, connection: str | None) -> str:
        return (
            f"The secrets of {_label(connection)} cannot be decrypted with any of the "
            f"{self.key_count} configured SYNCBRIDGE_SECRET_KEY entries; keep the old key "
            "after the new one until `syncbridge keys rotate-secrets` has run."
        )

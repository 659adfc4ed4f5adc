"""Vendor items as stored: canonical JSON, its content hash, and the checks an item must pass.

Pure functions (no database): a record's ``data`` may hold ``datetime``, ``date`` and
``Decimal`` values (HubSpot, Salesforce and GA4 emit them); they are encoded deterministically
(ISO 8601 strings, decimals as their string), and the content hash is the sha256 of the
canonical JSON (sorted keys, no whitespace), so the same item always hashes the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from syncbridge.connector.types import Record
from syncbridge.json_form import json_default
from syncbridge.models.store import EXTERNAL_ID_LENGTH

#: Largest canonical JSON an item may have; a bigger one is rejected, not stored.
MAX_DATA_BYTES = 1_000_000


# The C encoder ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# allow_nan=False, default=json_default)`` builds on every call, built once: no markers (the
# circular check; a cycle ends in RecursionError instead), keys sorted, no NaN.
_iterencode = c_make_encoder(
    None, json_default, encode_basestring, None, ":", ",", True, False, False
)


def canonical_json(data: Any) -> str:
    """The canonical JSON text of ``data``; raises ``TypeError``/``ValueError`` when it has
    none (an object that is not JSON, a NaN or infinity, a non-string key, a cycle)."""
    if isinstance(data, str):
        return encode_basestring(data)
    try:
        return "".join(_iterencode(data, 0))
    except RecursionError as exc:
        raise ValueError("data nests too deep (or holds itself)") from exc


def content_hash(text: str) -> str:
    """The sha256 hex digest of a canonical JSON text."""
    return hashlib.sha256(text.encode()).hexdigest()


class Encoded(NamedTuple):
    """A record ready for the store (a named tuple: one is made per item read)."""

    external_id: str
    text: str
    hash: str
    record: Record


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the store refuses, with why."""

    external_id: str | None
    reason: str


def encode(record: Record) -> Encoded | Rejected:
    """Check and encode one record: a non-empty external id of at most 500 characters, data
    that is a JSON object of at most :data:`MAX_DATA_BYTES` bytes."""
    external_id = record.external_id
    if not isinstance(external_id, str) or not external_id.strip():
        return Rejected(None, "no external id")
    if len(external_id) > EXTERNAL_ID_LENGTH:
        return Rejected(
            external_id[:EXTERNAL_ID_LENGTH],
            f"external id longer than {EXTERNAL_ID_LENGTH} characters",
        )
    if record.updated_at is not None and record.updated_at.utcoffset() is None:
        return Rejected(external_id, "updated_at has no time zone")
    data = record.data
    if type(data) is not dict:
        if not isinstance(data, Mapping):
            return Rejected(external_id, "data is not a JSON object")
        data = dict(data)
    try:
        text = canonical_json(data)
    except (TypeError, ValueError) as exc:
        return Rejected(external_id, f"data is not JSON: {exc}")
    raw = text.encode()
    if len(raw) > MAX_DATA_BYTES:
        return Rejected(external_id, f"data larger than {MAX_DATA_BYTES} bytes")
    return Encoded(external_id, text, hashlib.sha256(raw).hexdigest(), record)


__all__ = ["MAX_DATA_BYTES", "Encoded", "Rejected", "canonical_json", "content_hash", "encode"]

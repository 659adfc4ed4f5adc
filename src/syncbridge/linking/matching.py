"""Finding links (pure): an index of asset keys, compiled rules, and one record's matches.

An asset is known by its **keys** (:func:`asset_keys`): its ids (the external id, and any
``id``/``asset_id`` field), its file names and the URL paths of its CDN and derivative
URLs. A rule reads a record field and turns each value into candidate keys by its
``match``:

* ``equals``: the value itself;
* ``contains``: each token of the value, split at URL and list separators
  (whitespace ``/ ? & = # ; , |`` quotes and brackets), so an id in ``"a;b;c"`` or a URL
  is found whole, never as a substring of a longer token;
* ``path_segment``: each segment of the value's URL path (``/lp/x/banner.jpg``: ``lp``,
  ``x``, ``banner.jpg``);
* ``url_path``: the value's whole URL path;
* ``query_parameter``: the values of the query parameter ``parameter`` of the value's URL.

A candidate names the assets whose key of the rule's ``asset_key`` kind equals it after
normalisation (:func:`normalise`): ids case-insensitively, UUIDs with or without hyphens
alike; file names case-insensitively; URL paths exactly. Lookups are dictionary hits, so a
record costs about its evidence, whatever the number of assets.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from syncbridge.json_form import json_default
from syncbridge.mapping.field_path import FieldPath, parse_field_path

__all__ = [
    "AssetIndex",
    "AssetRef",
    "Found",
    "Matcher",
    "RecordView",
    "RuleView",
    "Scope",
    "asset_keys",
    "candidates",
    "find_links",
    "normalise",
]

#: Longest evidence value a link keeps (a record field can be a long text).
MAX_VALUE_CHARS = 2000
#: Tokens ``contains`` splits values into; a value longer than this is cut first.
MAX_SCANNED_CHARS = 100_000

_TOKEN_SEPARATORS = re.compile(r"[\s/?&=#;,|<>()\[\]{}\"']+")
_HEX = "0123456789abcdef"
# A value urlsplit reads as a bare path that unquote leaves as it is: no scheme or port
# (":"), query, fragment or escape, and nothing urlsplit strips or removes.
_PLAIN_PATH = re.compile(r"[^?#%:\x00-\x20\x7f]*")
# An absolute URL urlsplit reads plainly: a scheme, an ASCII host part without brackets or
# escapes, then the path (group 1, no escape) up to a query or fragment; no spaces or
# control characters anywhere.
_SIMPLE_URL = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~:@!$&'()*+,;=-]*"
    r"((?:/[^?#%\x00-\x20\x7f]*)?)(?:[?#][^\x00-\x20\x7f]*)?"
)
_URL_FIELDS = ("secure_url", "url", "original", "cdn_url", "download_url")
_URL_LISTS = ("thumbnails", "videoPreviewURLs", "derivatives")
_NAME_FIELDS = ("filename", "file_name", "fileName", "original_filename", "originalFilename")


@dataclass(frozen=True, slots=True)
class AssetRef:
    """An asset in the index: its row id (as ``uuid.UUID.int``) and its DAM connector."""

    id: int
    connector_key: str


@dataclass(frozen=True)
class RuleView:
    """What matching needs of one link rule (a saved rule, or a draft in a preview)."""

    id: str
    version: int | None
    connector_key: str
    field_path: str
    match: str
    asset_key: str
    parameter: str | None = None
    via_stream: str | None = None
    asset_connector_key: str | None = None
    connection_id: uuid.UUID | None = None
    stream: str | None = None
    enabled: bool = True

    @property
    def via(self) -> bool:
        """True for a rule whose value names another record (its links pass on)."""
        return self.asset_key == "record"

    @property
    def path(self) -> FieldPath:
        return _parsed(self.field_path)


_PATHS: dict[str, FieldPath] = {}


def _parsed(text: str) -> FieldPath:
    path = _PATHS.get(text)
    if path is None:
        path = _PATHS[text] = parse_field_path(text)
    return path


@dataclass(frozen=True)
class Scope:
    """Where a record comes from."""

    connector_key: str
    connection_id: uuid.UUID
    stream: str

    def admits(self, rule: RuleView) -> bool:
        return (
            rule.enabled
            and rule.connector_key == self.connector_key
            and (rule.stream is None or rule.stream == self.stream)
            and (rule.connection_id is None or rule.connection_id == self.connection_id)
        )


@dataclass(frozen=True, slots=True)
class RecordView:
    """A stored record as matching sees it (its row id as ``uuid.UUID.int``)."""

    id: int
    scope: Scope
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Found:
    """``rule`` links asset ``asset_id`` to record ``record_id`` (row ids as
    ``uuid.UUID.int``): ``value`` found at the rule's field path."""

    asset_id: int
    record_id: int
    rule: RuleView
    value: str


def _id_key(text: str) -> str:
    lowered = text.strip().lower()
    compact = lowered.replace("-", "")
    if len(compact) == 32 and len(lowered) in (32, 36) and not compact.strip(_HEX):
        return compact
    return lowered


def _name_key(text: str) -> str:
    return text.strip().casefold()


def _text_key(text: str) -> str:
    return text.strip()


_NORMALISERS = {"id": _id_key, "file_name": _name_key}


def normalise(kind: str, text: str) -> str:
    """A key as compared for ``kind`` (``id``, ``file_name``, ``cdn_path``, ``record``)."""
    return _NORMALISERS.get(kind, _text_key)(text)


def _url_path(text: str) -> str:
    """The unquoted path of a URL (or of a bare path)."""
    if not text.startswith("//") and _PLAIN_PATH.fullmatch(text):
        return text  # what urlsplit and unquote would give, without their cost
    if url := _SIMPLE_URL.fullmatch(text):
        return url.group(1)
    try:
        return unquote(urlsplit(text).path)
    except ValueError:
        return ""


def candidates(value: str, match: str, parameter: str | None = None) -> list[str]:
    """The candidate keys a rule with ``match`` reads in one field value."""
    if match == "equals":
        return [value]
    value = value[:MAX_SCANNED_CHARS]
    if match == "contains":
        return [token for token in _TOKEN_SEPARATORS.split(value) if token]
    if match == "path_segment":
        return [segment for segment in _url_path(value).split("/") if segment]
    if match == "url_path":
        path = _url_path(value)
        return [path] if path.startswith("/") else []
    if match == "query_parameter" and parameter:
        try:
            query = urlsplit(value).query
        except ValueError:
            return []
        return parse_qs(query).get(parameter, [])
    return []


_AS_TEXT = (Decimal, datetime, date, time, uuid.UUID)


def _text_of(value: Any) -> str | None:
    """A scalar's text as the stored JSON holds it (None: a value matching does not read).

    Strings and integers are read; so are the values the store writes as JSON strings
    (decimals, dates and times, UUIDs: :func:`~syncbridge.json_form.json_default`), so a
    record still in memory matches exactly as it will once stored and read back."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return None if isinstance(value, bool) else int.__repr__(value)
    if isinstance(value, _AS_TEXT):
        text: str = json_default(value)
        return text
    return None


def _scalars(values: Iterable[Any]) -> Iterator[str]:
    """The text of each scalar reached (lists of scalars flattened one level)."""
    for value in values:
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            text = _text_of(item)
            if text is not None:
                yield text


def field_values(rule: RuleView, data: Mapping[str, Any]) -> list[str]:
    """The text values ``rule``'s field path reaches in ``data``."""
    return list(_scalars(rule.path.resolve(data)))


# --- assets --------------------------------------------------------------------------------


def _last_segment(url: str) -> str:
    return _url_path(url).rsplit("/", 1)[-1]


def _urls(data: Mapping[str, Any]) -> Iterator[str]:
    for name in _URL_FIELDS:
        if isinstance(value := data.get(name), str) and value:
            yield value
    for name in _URL_LISTS:
        value = data.get(name)
        items = value.values() if isinstance(value, Mapping) else value
        if isinstance(items, Iterable) and not isinstance(items, str):
            yield from (v for v in items if isinstance(v, str) and v)


def _file_names(data: Mapping[str, Any]) -> Iterator[str]:
    extension = data.get("extension")
    if isinstance(extension, list):
        extension = extension[0] if extension and isinstance(extension[0], str) else None
    if not isinstance(extension, str):
        extension = data.get("format") if isinstance(data.get("format"), str) else None
    name = data.get("name")
    if isinstance(name, str) and name:
        suffix = f".{extension}".casefold() if extension else None
        if suffix and not name.casefold().endswith(suffix):
            yield f"{name}{suffix}"
        elif suffix or "." in name:
            yield name
    for key in _NAME_FIELDS:
        if isinstance(value := data.get(key), str) and value:
            yield value
    for key in ("path", "secure_url", "url"):
        if isinstance(value := data.get(key), str) and value:
            yield _last_segment(value)


def asset_keys(external_id: str, data: Mapping[str, Any]) -> dict[str, set[str]]:
    """An asset's normalised keys by kind: ``id``, ``file_name`` and ``cdn_path``."""
    ids = {normalise("id", external_id)}
    for key in ("id", "asset_id"):
        if isinstance(value := data.get(key), str) and value:
            ids.add(normalise("id", value))
    names = {normalise("file_name", n) for n in _file_names(data) if n}
    paths = {p for p in (_url_path(u) for u in _urls(data)) if p.startswith("/") and p != "/"}
    names.discard("")
    return {"id": ids, "file_name": names, "cdn_path": paths}


@dataclass
class AssetIndex:
    """Normalised asset keys -> the assets holding them, per key kind.

    Assets are held as positions into flat lists of ints and strings, and a key maps to one
    position or a tuple of them: the garbage collector then has next to nothing to traverse
    in an index of 100,000 assets (with objects per asset, its full collections while a
    pass allocates made linking several times slower).
    """

    keys: dict[str, dict[str, int | tuple[int, ...]]] = field(
        default_factory=lambda: {"id": {}, "file_name": {}, "cdn_path": {}}
    )
    _ids: list[int] = field(default_factory=list)
    _connectors: list[str] = field(default_factory=list)
    _positions: dict[int, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self._ids)

    @property
    def asset_ids(self) -> set[int]:
        """The row ids (``uuid.UUID.int``) of the assets indexed."""
        return set(self._ids)

    def add(self, ref: AssetRef, external_id: str, data: Mapping[str, Any]) -> None:
        """Index one asset under each of its keys (an asset added twice is kept once)."""
        if ref.id in self._positions:
            return
        position = self._positions[ref.id] = len(self._ids)
        self._ids.append(ref.id)
        self._connectors.append(sys.intern(ref.connector_key))
        for kind, values in asset_keys(external_id, data).items():
            table = self.keys[kind]
            for value in values:
                held = table.get(value)
                if held is None:
                    table[value] = position
                elif isinstance(held, int):
                    table[value] = (held, position)
                else:
                    table[value] = (*held, position)

    def add_all(self, rows: Iterable[tuple[AssetRef, str, Mapping[str, Any]]]) -> AssetIndex:
        for ref, external_id, data in rows:
            self.add(ref, external_id, data)
        return self


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A direct rule made ready to match many records: how it reads a record's values, turns
    a value into normalised keys, and which table of the index the keys are looked up in."""

    rule: RuleView
    values: Callable[[Mapping[str, Any]], list[str]]
    keys: Callable[[str], list[str]]
    table: dict[str, int | tuple[int, ...]]
    connector_key: str | None


def _compile(rule: RuleView, index: AssetIndex) -> _Compiled:
    steps = rule.path.steps
    values: Callable[[Mapping[str, Any]], list[str]]
    if len(steps) == 1 and type(steps[0]) is str:  # a top-level field: the common case
        name = steps[0]

        def values(data: Mapping[str, Any]) -> list[str]:
            value = data.get(name)
            if type(value) is str:
                return [value]
            return [] if value is None else list(_scalars((value,)))

    else:
        values = partial(field_values, rule)
    norm = _NORMALISERS.get(rule.asset_key, _text_key)
    if rule.match == "equals":

        def keys(value: str) -> list[str]:
            return [norm(value)]

    else:

        def keys(value: str) -> list[str]:
            return [norm(c) for c in candidates(value, rule.match, rule.parameter)]

    table = index.keys.get(rule.asset_key, {})
    return _Compiled(rule, values, keys, table, rule.asset_connector_key)


#: Values a :class:`Matcher` remembers the hits of, per rule, before it forgets them all.
MEMO_MAX = 200_000
#: What a :class:`Matcher` remembers of one rule: each value's hits (index positions).
_Memo = dict[str, tuple[int, ...]]


class Matcher:
    """The direct (non-``record``) rules compiled against one index, remembering each value's
    hits: analytics rows repeat the same page paths and asset ids many times, and a value's
    candidate keys and their lookups cost more than the rest of matching a record. Keep one
    for a whole pass (it is cheap to hold: at most :data:`MEMO_MAX` values per rule); the
    index must not change meanwhile.
    """

    def __init__(self, rules: Iterable[RuleView], index: AssetIndex) -> None:
        self._direct = [rule for rule in rules if not rule.via]
        self._compiled = {rule.id: _compile(rule, index) for rule in self._direct}
        self._memos: dict[str, _Memo] = {r.id: {} for r in self._direct}
        self._by_scope: dict[Scope, list[tuple[_Compiled, _Memo, int]]] = {}
        self._ids = index._ids
        self._connectors = index._connectors

    def _hits(self, rule: _Compiled, value: str) -> tuple[int, ...]:
        """The index positions of the assets ``value`` names under ``rule``, in order, once."""
        connectors = self._connectors
        hits: list[int] = []
        for key in rule.keys(value):
            held = rule.table.get(key)
            if held is None:
                continue
            for p in (held,) if isinstance(held, int) else held:
                if rule.connector_key is not None and connectors[p] != rule.connector_key:
                    continue
                if p not in hits:
                    hits.append(p)
        return tuple(hits)

    @property
    def rules(self) -> list[RuleView]:
        """The rules matched (the direct ones of those given, in their order)."""
        return self._direct

    def _admitted(self, scope: Scope) -> list[tuple[_Compiled, _Memo, int]]:
        """The compiled rules that read records of ``scope``, each with its memo and its
        position in :attr:`rules`."""
        admitted = self._by_scope.get(scope)
        if admitted is None:
            admitted = self._by_scope[scope] = [
                (self._compiled[r.id], self._memos[r.id], number)
                for number, r in enumerate(self._direct)
                if scope.admits(r)
            ]
        return admitted

    def _lookup(
        self, rule: _Compiled, memo: dict[str, tuple[int, ...]], value: str
    ) -> tuple[int, ...]:
        hits = memo.get(value)
        if hits is None:
            if len(memo) >= MEMO_MAX:
                memo.clear()
            hits = memo[value] = self._hits(rule, value)
        return hits

    def find(self, records: Iterable[RecordView]) -> list[Found]:
        """Every (asset, record, rule) the rules find; for each, the first value that named
        the asset."""
        found: list[Found] = []
        for record in records:
            for asset, number, value in self._record(record.data, self._admitted(record.scope)):
                found.append(Found(asset, record.id, self._direct[number], value))
        return found

    def columns(
        self, records: Iterable[Mapping[str, Any]], scope: Scope
    ) -> tuple[list[int], list[int], list[int], list[str]]:
        """What :meth:`find` finds in records of ``scope`` given as their data, as columns
        (one entry per link): the record's position in ``records``, the asset, the rule's
        position in :attr:`rules`, the value (no object per link: a page of analytics rows
        makes two thousand)."""
        admitted = self._admitted(scope)
        positions: list[int] = []
        assets: list[int] = []
        numbers: list[int] = []
        values: list[str] = []
        for position, data in enumerate(records):
            for asset, number, value in self._record(data, admitted):
                positions.append(position)
                assets.append(asset)
                numbers.append(number)
                values.append(value)
        return positions, assets, numbers, values

    def _record(
        self,
        data: Mapping[str, Any],
        admitted: list[tuple[_Compiled, _Memo, int]],
    ) -> list[tuple[int, int, str]]:
        """One record's (asset, rule position, value) found, in rule order, each asset once
        per rule with the first value that named it."""
        ids = self._ids
        out: list[tuple[int, int, str]] = []
        for rule, memo, number in admitted:
            values = rule.values(data)
            if not values:
                continue
            if len(values) == 1:  # one value: its hits are distinct already
                value = values[0]
                for p in self._lookup(rule, memo, value):
                    out.append((ids[p], number, value[:MAX_VALUE_CHARS]))
                continue
            seen: set[int] = set()
            for value in values:
                for p in self._lookup(rule, memo, value):
                    if ids[p] not in seen:
                        seen.add(ids[p])
                        out.append((ids[p], number, value[:MAX_VALUE_CHARS]))
        return out


def find_links(
    records: Iterable[RecordView], rules: Iterable[RuleView], index: AssetIndex
) -> list[Found]:
    """Every (asset, record, rule) the direct (non-``record``) rules find; for each, the first
    value that named the asset. Via rules are resolved by the caller (they need the store)."""
    return Matcher(rules, index).find(records)


def via_targets(record: RecordView, rule: RuleView) -> list[tuple[str, str]]:
    """The (external id, evidence value) pairs of the records a via rule's values name."""
    out: list[tuple[str, str]] = []
    for value in field_values(rule, record.data):
        for candidate in candidates(value, rule.match, rule.parameter):
            out.append((candidate.strip(), value[:MAX_VALUE_CHARS]))
    return out

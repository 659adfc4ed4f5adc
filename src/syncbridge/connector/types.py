"""Plain value types that cross the connector boundary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import Field, dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, Literal


class SystemKind(StrEnum):
    crm = "crm"
    analytics = "analytics"
    dam = "dam"


class Capability(StrEnum):
    read = "read"
    incremental = "incremental"
    webhooks = "webhooks"
    write_back = "write_back"
    #: Takes files pushed to it (``POST /v1/connections/{id}/uploads``): see ``AcceptsUploads``.
    uploads = "uploads"


@dataclass(frozen=True)
class StreamSpec:
    """One stream a connector can read, e.g. ``media`` (Bynder) or ``deals`` (HubSpot)."""

    name: str
    primary_key: str
    #: The record field the incremental cursor follows; None when only full reads exist.
    cursor_field: str | None = None
    #: ``asset`` for DAM items, ``record`` for CRM/analytics items.
    entity: Literal["asset", "record"] = "record"


@dataclass(frozen=True)
class _RecordFields:
    """The fields of ``Record`` as a dataclass declares them (for ``dataclasses``)."""

    stream: str
    external_id: str
    data: Mapping[str, Any]
    updated_at: datetime | None = None
    deleted: bool = False


_new_tuple = tuple.__new__


class Record(tuple[str, str, Mapping[str, Any], datetime | None, bool]):
    """One vendor item as plain data: an asset (DAM) or a record (CRM, analytics).

    Fields ``stream``, ``external_id``, ``data``, ``updated_at`` (None) and ``deleted``
    (False), set by keyword or position. Immutable, and equal, hashed and printed like the
    frozen dataclass it replaces; ``dataclasses.replace``, ``fields`` and ``asdict`` work
    on it. It is a tuple underneath because a read builds tens of thousands a second and a
    tuple is built at half the cost of a frozen dataclass (about 0.5 µs against 1.1 µs);
    it is not meant to be indexed or unpacked.
    """

    __slots__ = ()
    __match_args__ = ("stream", "external_id", "data", "updated_at", "deleted")
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]] = _RecordFields.__dataclass_fields__

    def __new__(
        cls,
        stream: str,
        external_id: str,
        data: Mapping[str, Any],
        updated_at: datetime | None = None,
        deleted: bool = False,
    ) -> Record:
        return _new_tuple(cls, (stream, external_id, data, updated_at, deleted))

    @classmethod
    def many(
        cls,
        stream: str,
        external_ids: Sequence[str],
        data: Sequence[Mapping[str, Any]],
        updated_at: Sequence[datetime | None] | None = None,
        deleted: Sequence[bool] | None = None,
    ) -> list[Record]:
        """``Record(stream, id, data, updated_at, deleted)`` for each id (times None and not
        deleted when not given), at a third of the cost of calling ``Record`` for each; the
        sequences must be of one length (``ValueError`` otherwise)."""
        count = len(external_ids)
        given = [s for s in (data, updated_at, deleted) if s is not None]
        if any(len(s) != count for s in given):
            raise ValueError("Record.many needs one data, time and deleted flag an id")
        stamps: Iterable[datetime | None] = repeat(None) if updated_at is None else updated_at
        flags: Iterable[bool] = repeat(False) if deleted is None else deleted
        fields = zip(repeat(stream), external_ids, data, stamps, flags)
        return list(map(_new_tuple, repeat(cls), fields))

    if TYPE_CHECKING:

        @property
        def stream(self) -> str: ...
        @property
        def external_id(self) -> str: ...
        @property
        def data(self) -> Mapping[str, Any]: ...
        @property
        def updated_at(self) -> datetime | None: ...
        @property
        def deleted(self) -> bool: ...

    else:
        # C-level getters: reading a field costs what reading a slot does.
        stream = property(itemgetter(0), doc="The stream the item belongs to.")
        external_id = property(itemgetter(1), doc="The vendor's id of the item.")
        data = property(itemgetter(2), doc="The item as the vendor sent it, typed.")
        updated_at = property(itemgetter(3), doc="When the vendor last changed it, if known.")
        deleted = property(itemgetter(4), doc="Whether the vendor deleted it.")

    def __eq__(self, other: object) -> bool:
        # Only a Record equals a Record (never a plain tuple), as with a dataclass.
        if other.__class__ is self.__class__:
            return tuple.__eq__(self, other)
        # A plain tuple would answer with its own comparison, which ignores the class.
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return tuple.__ne__(self, other)
        return True if isinstance(other, tuple) else NotImplemented

    # Not ordered, as the dataclass was not.
    def __lt__(self, other: object) -> bool:
        return NotImplemented

    __le__ = __gt__ = __ge__ = __lt__
    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return (
            f"Record(stream={self[0]!r}, external_id={self[1]!r}, data={self[2]!r}, "
            f"updated_at={self[3]!r}, deleted={self[4]!r})"
        )

    def __getnewargs__(self) -> tuple[str, str, Mapping[str, Any], datetime | None, bool]:
        # ``copy`` and ``pickle`` call ``Record(*fields)``, not ``Record(fields)``.
        return (self[0], self[1], self[2], self[3], self[4])


@dataclass(frozen=True)
class Page:
    """One page of a read, and the cursor to resume *after* it (None: the stream is done)."""

    records: list[Record]
    next_cursor: str | None
    #: How many items this read will give from its starting cursor, this page's included,
    #: when the vendor says so on the read's first page (a progress total; may overcount).
    total: int | None = None


@dataclass(frozen=True)
class Ref:
    """A pointer to one vendor item, for ``fetch``."""

    stream: str
    external_id: str


@dataclass(frozen=True)
class WebhookEvent:
    """A thin, verified event: something changed; fetch it to learn what."""

    #: Unique per delivery (vendor message id or a hash of identifying fields): the inbox key.
    delivery_key: str
    stream: str
    external_id: str | None
    #: ``created``, ``updated``, ``deleted``, ...; vendor-specific names are normalised here.
    action: str
    occurred_at: datetime | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TagChange:
    """Change the syncbridge-owned tags of one asset.

    ``desired`` is the full set of owned tags the asset should carry after the write;
    ``add``/``remove`` are the diff against what the DAM held when it was planned. Tags that
    syncbridge does not own are never touched.
    """

    stream: str
    external_id: str
    desired: frozenset[str]
    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    #: Owned metadata to set (Bynder metaproperty, Cloudinary structured metadata field or
    #: context keys): only keys the connection's settings name as owned are written.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: The asset's record data (as ``fetch`` returns it) that ``add``/``remove`` were
    #: computed from, or None. A connector that must read the asset before writing (Bynder
    #: merges people's tags into the one tag field it sends) uses it instead of reading
    #: again; given, a person's edit made since that read can be lost where the vendor
    #: replaces a whole set.
    current: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one ``TagChange``."""

    external_id: str
    #: ``applied`` (done), ``accepted`` (queued by the vendor, e.g. Bynder's 202),
    #: ``skipped`` (nothing to change) or ``failed``.
    status: Literal["applied", "accepted", "skipped", "failed"]
    detail: str | None = None
    retryable: bool = False


@dataclass(frozen=True)
class UploadReceipt:
    """What a connector made of an uploaded file: where it lies and which streams read it."""

    file: str
    size: int
    streams: tuple[str, ...]
    #: Facts worth showing the uploader (the detected encoding, the row count...).
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """The answer of ``Connector.check()``: reachable and authorised, with account facts."""

    ok: bool
    detail: str
    account: Mapping[str, Any] = field(default_factory=dict)

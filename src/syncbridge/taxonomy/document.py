"""The taxonomy as plain values: what a file holds and what the store holds, comparable.

Import, export and validation work on these values, so they are tested without a database.
Every collection is kept in a canonical order (labels by language, alternative labels and
broader keys sorted), so two equal taxonomies compare equal whatever their source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LANG = "en"


@dataclass(frozen=True)
class SchemeData:
    """A concept scheme: one facet of the taxonomy."""

    key: str
    title: str
    description: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """The JSON-safe form written to the audit log."""
        return {"key": self.key, "title": self.title, "description": self.description}


@dataclass(frozen=True)
class ConceptData:
    """A concept with its labels and links by key; build it with :meth:`build`."""

    key: str
    scheme: str
    pref_label: Mapping[str, str]
    alt_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    definition: str | None = None
    broader: tuple[str, ...] = ()
    status: str = "approved"
    replaced_by: str | None = None

    @classmethod
    def build(
        cls,
        *,
        key: str,
        scheme: str,
        pref_label: Mapping[str, str],
        alt_labels: Mapping[str, Iterable[str]] | None = None,
        definition: str | None = None,
        broader: Iterable[str] = (),
        status: str = "approved",
        replaced_by: str | None = None,
    ) -> ConceptData:
        """A concept in canonical order (empty alternative-label lists dropped)."""
        alts = {
            lang: tuple(sorted(texts))
            for lang, texts in sorted((alt_labels or {}).items())
            if list(texts)
        }
        return cls(
            key=key,
            scheme=scheme,
            pref_label=dict(sorted(pref_label.items())),
            alt_labels=alts,
            definition=definition,
            broader=tuple(sorted(set(broader))),
            status=status,
            replaced_by=replaced_by,
        )

    def snapshot(self) -> dict[str, Any]:
        """The JSON-safe form written to the audit log (keys, never ids)."""
        return {
            "key": self.key,
            "scheme": self.scheme,
            "pref_label": dict(self.pref_label),
            "alt_labels": {lang: list(texts) for lang, texts in self.alt_labels.items()},
            "definition": self.definition,
            "broader": list(self.broader),
            "status": self.status,
            "replaced_by": self.replaced_by,
        }


@dataclass(frozen=True)
class Origin:
    """Where a scheme or concept was read from, for error messages."""

    file: str | None = None
    line: int | None = None


@dataclass
class Taxonomy:
    """Schemes and concepts by key."""

    schemes: dict[str, SchemeData] = field(default_factory=dict)
    concepts: dict[str, ConceptData] = field(default_factory=dict)
    #: Where each concept (by key) came from; empty for a taxonomy read from the store.
    origins: dict[str, Origin] = field(default_factory=dict)

    def same_content(self, other: Taxonomy) -> bool:
        """True when both hold the same schemes and concepts (origins aside)."""
        return self.schemes == other.schemes and self.concepts == other.concepts

    def only_schemes(self, keys: Iterable[str]) -> Taxonomy:
        """The part of this taxonomy in the given schemes."""
        wanted = set(keys)
        concepts = {k: c for k, c in self.concepts.items() if c.scheme in wanted}
        return Taxonomy(
            schemes={k: s for k, s in self.schemes.items() if k in wanted},
            concepts=concepts,
            # Origins are by concept key.
            origins={k: o for k, o in self.origins.items() if k in concepts},
        )

    def concepts_of(self, scheme: str) -> list[ConceptData]:
        """The concepts of one scheme, by key."""
        return sorted(
            (c for c in self.concepts.values() if c.scheme == scheme), key=lambda c: c.key
        )

    def overlaid_with(self, incoming: Taxonomy) -> Taxonomy:
        """This taxonomy with ``incoming`` upserted over it (what an import would leave)."""
        return Taxonomy(
            schemes={**self.schemes, **incoming.schemes},
            concepts={**self.concepts, **incoming.concepts},
            origins=dict(incoming.origins),
        )

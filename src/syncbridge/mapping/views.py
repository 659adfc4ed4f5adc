"""The values evaluation works on: rules, concepts, the record's scope, and matches."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ConceptView", "Match", "RuleView", "Scope", "TaxonomyView"]


@dataclass(frozen=True)
class RuleView:
    """What evaluation needs of one rule (a saved rule, or a draft in a preview)."""

    id: str
    version: int | None
    connector_key: str
    field_path: str
    operator: str
    concept_id: uuid.UUID
    values: tuple[Any, ...] = ()
    connection_id: uuid.UUID | None = None
    stream: str | None = None
    case_sensitive: bool = False
    match_labels: bool = False
    priority: int = 100
    enabled: bool = True


@dataclass(frozen=True)
class ConceptView:
    """What evaluation needs of one concept; ``labels`` are normalised (case-folded)."""

    id: uuid.UUID
    key: str
    status: str = "approved"
    replaced_by: uuid.UUID | None = None
    labels: frozenset[str] = frozenset()
    pref_label: str | None = None
    scheme_key: str | None = None


@dataclass(frozen=True)
class TaxonomyView:
    """The concepts evaluation may land on, by id."""

    concepts: Mapping[uuid.UUID, ConceptView]

    @classmethod
    def of(cls, concepts: Sequence[ConceptView]) -> TaxonomyView:
        return cls({concept.id: concept for concept in concepts})

    def effective(self, concept_id: uuid.UUID) -> ConceptView | None:
        """The concept a rule targeting ``concept_id`` lands on (replacements followed)."""
        seen: set[uuid.UUID] = set()
        concept = self.concepts.get(concept_id)
        while concept is not None and concept.status == "deprecated":
            if concept.replaced_by is None or concept.id in seen:
                return None
            seen.add(concept.id)
            concept = self.concepts.get(concept.replaced_by)
        return concept


@dataclass(frozen=True)
class Scope:
    """Where a record comes from: the connector, and optionally the stream and connection."""

    connector_key: str
    stream: str | None = None
    connection_id: uuid.UUID | None = None

    def admits(self, rule: RuleView) -> bool:
        return (
            rule.enabled
            and rule.connector_key == self.connector_key
            and (rule.stream is None or rule.stream == self.stream)
            and (rule.connection_id is None or rule.connection_id == self.connection_id)
        )


@dataclass(frozen=True, slots=True)
class Match:
    """A record lands on ``concept_key`` because ``rule_id`` matched ``matched_value``."""

    concept_id: uuid.UUID
    concept_key: str
    rule_id: str
    rule_version: int | None
    field_path: str
    matched_value: Any
    priority: int = 0

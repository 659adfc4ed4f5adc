"""Rules every taxonomy obeys, as pure checks over :class:`Taxonomy` values.

Used by the importer (whole files at once) and by the API (one concept at a time), so a rule
is written once: keys and label shapes, one preferred label per language unique within its
scheme (case-insensitively), broader and replacement keys that exist, and no broader cycles.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from syncbridge.errors import InvalidInput
from syncbridge.mapping.comparison import normalise
from syncbridge.taxonomy.document import ConceptData, Taxonomy

SCHEME_KEY_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
CONCEPT_KEY_PATTERN = r"^[a-z0-9][a-z0-9._:/-]*$"
LANG_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$"

#: URL segments after a concept key that name a sub-resource (``/concepts/{key}/history``);
#: no key may end in one, so every concept URL means one thing.
CONCEPT_SUBRESOURCES = ("history", "deprecate")
_NO_SUBRESOURCE_END = r"(?!.*/(?:" + "|".join(CONCEPT_SUBRESOURCES) + r")$)"
#: What the concept routes' ``{key}`` matches: anything not ending in a sub-resource.
CONCEPT_KEY_IN_PATH = _NO_SUBRESOURCE_END + ".+"
LABEL_MAX = 300
LANG_MAX = 16


def _not_a_subresource(key: str) -> str:
    head, _, last = key.rpartition("/")
    if head and last in CONCEPT_SUBRESOURCES:
        raise ValueError(f"a concept key cannot end in '/{last}' (that URL is the {last} call)")
    return key


SchemeKey = Annotated[str, StringConstraints(pattern=SCHEME_KEY_PATTERN, max_length=100)]
ConceptKey = Annotated[
    str,
    StringConstraints(pattern=CONCEPT_KEY_PATTERN, max_length=200),
    AfterValidator(_not_a_subresource),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^" + _NO_SUBRESOURCE_END + CONCEPT_KEY_PATTERN.removeprefix("^"),
            "maxLength": 200,
        }
    ),
]
LangTag = Annotated[str, StringConstraints(pattern=LANG_PATTERN, max_length=LANG_MAX)]


def _norm_fits(text: str) -> str:
    hidden = invisible_characters(text)
    if hidden:
        raise ValueError(f"contains invisible characters ({', '.join(sorted(set(hidden)))})")
    # The stored comparison form (case-folded) can be longer than the text: "ß" folds to "ss".
    if len(normalise_label(text)) > LABEL_MAX:
        raise ValueError(f"case-folds to more than {LABEL_MAX} characters")
    return text


LabelText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=LABEL_MAX),
    AfterValidator(_norm_fits),
]
_LANG_KEYS = {"propertyNames": {"pattern": LANG_PATTERN, "maxLength": LANG_MAX}}
_LABEL = {"type": "string", "minLength": 1, "maxLength": LABEL_MAX}
# pydantic documents language-keyed maps with ``patternProperties``, which lets any other
# key through; ``propertyNames`` says what the validation does.
PrefLabels = Annotated[
    dict[LangTag, LabelText],
    Field(min_length=1),
    WithJsonSchema(
        {"type": "object", **_LANG_KEYS, "additionalProperties": _LABEL, "minProperties": 1}
    ),
]
AltLabels = Annotated[
    dict[LangTag, list[LabelText]],
    WithJsonSchema(
        {
            "type": "object",
            **_LANG_KEYS,
            "additionalProperties": {"type": "array", "items": _LABEL},
        }
    ),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def normalise_label(text: str) -> str:
    """A label's comparison form (the ``norm`` column): Unicode-normalised (NFKC) and
    case-folded, whitespace collapsed; so fullwidth "EMAIL", "EMAIL" and "email" are one label.
    The same form mapping rules compare record values in."""
    return normalise(text, case_sensitive=False)


def invisible_characters(text: str) -> list[str]:
    """The control and format characters in ``text`` (zero-width space, soft hyphen, BOM...),
    as ``U+XXXX``: they make labels that look the same but are not."""
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cf")]


@dataclass(frozen=True)
class Problem:
    """One reason a taxonomy was refused, located as precisely as the source allows."""

    reason: str
    file: str | None = None
    line: int | None = None
    key: str | None = None
    #: The concept attribute at fault (``broader``, ``pref_label``...), when there is one.
    attribute: str | None = None
    #: True when the data is well-formed but clashes with other concepts (HTTP 409).
    conflict: bool = False

    @property
    def field(self) -> str:
        """The concept key when known, else ``line N``, else the file."""
        if self.key:
            return self.key
        if self.line is not None:
            return f"line {self.line}"
        return "file"

    def as_error(self) -> dict[str, Any]:
        """The ``errors[]`` item of a problem+json response."""
        error: dict[str, Any] = {"field": self.field, "reason": self.reason}
        if self.file:
            error["file"] = self.file
        if self.line is not None:
            error["line"] = self.line
        return error

    def __str__(self) -> str:
        where = ":".join(p for p in (self.file, None if self.line is None else str(self.line)) if p)
        subject = f" {self.key}:" if self.key else ""
        return f"{where or '<input>'}:{subject} {self.reason}"


#: How many problems an error response lists; the rest are only counted.
MAX_REPORTED_PROBLEMS = 100


class TaxonomyImportError(InvalidInput):
    """A taxonomy source was refused; carries every problem found. Nothing was imported.

    The error body lists the first :data:`MAX_REPORTED_PROBLEMS` problems, and
    ``problem_count`` says how many there were in all.
    """

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        shown = problems[:MAX_REPORTED_PROBLEMS]
        detail = f"The taxonomy was not imported: {count} problem{'s' if count != 1 else ''} found"
        if count > len(shown):
            detail += f"; the first {len(shown)} are listed"
        super().__init__(
            detail + ".",
            errors=[p.as_error() for p in shown],
            extra={"problem_count": count},
        )
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def find_cycle(broader: Mapping[str, Iterable[str]], start: str | None = None) -> list[str] | None:
    """A broader cycle as a key path (first key repeated at the end), or None.

    With ``start``, only a cycle through ``start`` counts. Iterative, so deep hierarchies
    cannot exhaust the stack.
    """
    starts = [start] if start is not None else sorted(broader)
    done: set[str] = set()
    for root in starts:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        stack = [iter(sorted(broader.get(root, ())))]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if step in on_path:
                if start is None or step == start:
                    return [*path[path.index(step) :], step]
                continue
            if step in done:
                continue
            path.append(step)
            on_path.add(step)
            stack.append(iter(sorted(broader.get(step, ()))))
    return None


def concept_problems(concept: ConceptData) -> list[tuple[str, str]]:
    """Rules local to one concept (its own labels and replacement), as (attribute, reason)."""
    reasons: list[tuple[str, str]] = []
    for lang, texts in concept.alt_labels.items():
        pref = concept.pref_label.get(lang)
        seen: set[str] = set()
        for text in texts:
            norm = normalise_label(text)
            if pref is not None and norm == normalise_label(pref):
                reasons.append(
                    (
                        "alt_labels",
                        f"alternative label '{text}' ({lang}) equals the preferred label",
                    )
                )
            elif norm in seen:
                reasons.append(
                    ("alt_labels", f"alternative label '{text}' ({lang}) is given twice")
                )
            seen.add(norm)
    if concept.replaced_by is not None:
        if concept.status != "deprecated":
            reasons.append(("replaced_by", "replaced_by is only allowed with status 'deprecated'"))
        if concept.replaced_by == concept.key:
            reasons.append(("replaced_by", "a concept cannot replace itself"))
    return reasons


def check_taxonomy(incoming: Taxonomy, store: Taxonomy | None = None) -> list[Problem]:
    """Every problem in ``incoming`` upserted over ``store`` (an empty store by default).

    Problems are reported against incoming concepts: the store is assumed valid.
    """
    merged = (store or Taxonomy()).overlaid_with(incoming)

    def problem(key: str, attribute: str, reason: str, *, conflict: bool = False) -> Problem:
        origin = incoming.origins.get(key)
        return Problem(
            reason,
            file=origin.file if origin else None,
            line=origin.line if origin else None,
            key=key,
            attribute=attribute,
            conflict=conflict,
        )

    problems: list[Problem] = []
    for key, concept in sorted(incoming.concepts.items()):
        reasons = concept_problems(concept) + _link_problems(concept, merged)
        problems += [problem(key, attribute, reason) for attribute, reason in reasons]
    problems += _duplicate_pref_labels(incoming, merged, problem)
    # A concept naming itself as broader is reported above; find longer cycles here.
    cycle = find_cycle({k: [b for b in c.broader if b != k] for k, c in merged.concepts.items()})
    if cycle is not None:
        culprit = next((k for k in cycle if k in incoming.concepts), cycle[0])
        problems.append(
            problem(
                culprit,
                "broader",
                "broader links would form a cycle: " + " -> ".join(cycle),
                conflict=True,
            )
        )
    return problems


def _link_problems(concept: ConceptData, merged: Taxonomy) -> list[tuple[str, str]]:
    """A concept's scheme, broader and replacement keys that lead nowhere, as
    (attribute, reason)."""
    key, reasons = concept.key, []
    if concept.scheme not in merged.schemes:
        reasons.append(("scheme", f"scheme '{concept.scheme}' does not exist"))
    for parent in concept.broader:
        if parent == key:
            reasons.append(("broader", "a concept cannot be its own broader concept"))
        elif parent not in merged.concepts:
            reasons.append(("broader", f"broader concept '{parent}' does not exist"))
    replacement = concept.replaced_by
    if replacement and replacement != key:
        target = merged.concepts.get(replacement)
        if target is None:
            reasons.append(("replaced_by", f"replacement '{replacement}' does not exist"))
        elif target.status == "deprecated":
            reasons.append(("replaced_by", f"replacement '{replacement}' is deprecated too"))
    return reasons


def _duplicate_pref_labels(incoming: Taxonomy, merged: Taxonomy, problem: Any) -> list[Problem]:
    owners: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for key, concept in sorted(merged.concepts.items()):
        for lang, text in concept.pref_label.items():
            owners[(concept.scheme, lang, normalise_label(text))].append(key)
    problems: list[Problem] = []
    for (scheme, lang, _norm), keys in owners.items():
        if len(keys) < 2:
            continue
        label = merged.concepts[keys[0]].pref_label[lang]
        for key in keys:
            if key in incoming.concepts:
                others = ", ".join(k for k in keys if k != key)
                problems.append(
                    problem(
                        key,
                        "pref_label",
                        f"preferred label '{label}' ({lang}) is already used in scheme "
                        f"'{scheme}' by {others}",
                        conflict=True,
                    )
                )
    return problems

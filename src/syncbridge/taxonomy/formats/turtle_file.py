"""SKOS in Turtle: our taxonomy as linked data, and third-party SKOS read back in.

Terms used: skos:ConceptScheme, skos:Concept, skos:notation (the key), skos:prefLabel and
skos:altLabel with language tags, skos:broader (skos:narrower is read too), skos:inScheme and
skos:topConceptOf, skos:definition, owl:deprecated with dcterms:isReplacedBy, and
``sb:status "draft"`` for drafts. A concept without skos:notation takes its key from the last
segment of its URI.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any
from urllib.parse import quote, unquote

from pydantic import ValidationError
from rdflib import RDF, RDFS, BNode, Graph, Literal, Namespace, URIRef
from rdflib.exceptions import Error as RdflibError
from rdflib.namespace import DCTERMS, OWL, SKOS
from rdflib.term import Node

from syncbridge.taxonomy.document import DEFAULT_LANG, ConceptData, Taxonomy
from syncbridge.taxonomy.formats.entries import (
    ConceptEntry,
    SchemeEntry,
    explain,
)
from syncbridge.taxonomy.validation import Problem, TaxonomyImportError

#: Stable base of concept URIs: ``BASE + urlquoted key``; schemes live under ``BASE/scheme/``.
BASE = "https://w3id.org/syncbridge/taxonomy/"
SCHEME_BASE = BASE + "scheme/"
SB = Namespace("https://w3id.org/syncbridge/ns#")

_WHY = re.compile(r"Bad syntax \((.*?)\) at \^", re.DOTALL)


def concept_uri(key: str) -> URIRef:
    """The URI of the concept with ``key``."""
    return URIRef(BASE + quote(key, safe=""))


def scheme_uri(key: str) -> URIRef:
    """The URI of the scheme with ``key``."""
    return URIRef(SCHEME_BASE + quote(key, safe=""))


def key_from_uri(uri: Node) -> str | None:
    """A key from a URI: ours unquoted, anyone else's last path or fragment segment."""
    text = str(uri)
    for base in (SCHEME_BASE, BASE):
        if text.startswith(base) and "/" not in text[len(base) :]:
            return unquote(text[len(base) :])
    segment = re.split(r"[/#]", text.rstrip("/#"))[-1]
    return unquote(segment).lower() or None


def read_turtle(text: str, file: str | None = None) -> Taxonomy:
    """Parse SKOS Turtle; raises :class:`TaxonomyImportError` with every problem."""
    graph = Graph()
    try:
        graph.parse(data=text, format="turtle")
    except SyntaxError as exc:
        match = _WHY.search(str(exc))
        reason = match.group(1) if match else str(exc).splitlines()[0]
        line = _error_line(getattr(exc, "lines", None), text)
        raise TaxonomyImportError([Problem(f"invalid Turtle: {reason}", file, line)]) from exc
    except (ValueError, RdflibError) as exc:
        raise TaxonomyImportError([Problem(f"invalid Turtle: {exc}", file=file)]) from exc
    except Exception as exc:
        # rdflib's parser trips over some malformed input with IndexError and the like
        # (a bare ``false`` does it); whatever it raises, the file is at fault, not us.
        reason = f"invalid Turtle: the parser gave up ({type(exc).__name__})"
        raise TaxonomyImportError([Problem(reason, file=file)]) from exc
    return _TurtleReader(graph, file).read()


def _error_line(zero_based: object, text: str) -> int | None:
    """rdflib's line of a syntax error; past the end (it overcounts at EOF) means the last
    line with content."""
    if not isinstance(zero_based, int):
        return None
    lines = text.splitlines()
    if zero_based < len(lines):
        return zero_based + 1
    filled = [n for n, content in enumerate(lines, start=1) if content.strip()]
    return filled[-1] if filled else 1


class _TurtleReader:
    def __init__(self, graph: Graph, file: str | None) -> None:
        self.graph = graph
        self.file = file
        self.problems: list[Problem] = []
        self.taxonomy = Taxonomy()
        self.scheme_keys: dict[Node, str] = {}
        self.concept_keys: dict[Node, str] = {}

    def read(self) -> Taxonomy:
        for node in sorted(self.graph.subjects(RDF.type, SKOS.ConceptScheme), key=str):
            self._read_scheme(node)
        concepts = sorted(set(self.graph.subjects(RDF.type, SKOS.Concept)), key=str)
        for node in concepts:
            key = self._stable_key(node)
            if key is not None:
                self.concept_keys[node] = key
        narrower_of: dict[Node, list[Node]] = defaultdict(list)
        for parent, child in self.graph.subject_objects(SKOS.narrower):
            narrower_of[child].append(parent)
        for node in concepts:
            self._read_concept(node, narrower_of[node])
        if not self.problems and not self.taxonomy.schemes:
            self.problems.append(Problem("the file holds no skos:ConceptScheme", file=self.file))
        if self.problems:
            raise TaxonomyImportError(self.problems)
        return self.taxonomy

    def _stable_key(self, node: Node) -> str | None:
        """The notation, else the URI's key. A blank node's name changes with every parse,
        so without a notation it has no key (and is refused), never a random one."""
        notation = self._notation(node)
        if notation is not None:
            return notation
        return None if isinstance(node, BNode) else key_from_uri(node)

    def _notation(self, node: Node) -> str | None:
        values = sorted(str(v) for v in self.graph.objects(node, SKOS.notation))
        return values[0] if values else None

    def _text(self, node: Node, *predicates: URIRef) -> str | None:
        for predicate in predicates:
            values = [v for v in self.graph.objects(node, predicate) if isinstance(v, Literal)]
            # Prefer the default language, then untagged text, then anything (stable order).
            values.sort(key=lambda v: (v.language != DEFAULT_LANG, v.language is not None, str(v)))
            if values:
                return str(values[0])
        return None

    def _read_scheme(self, node: Node) -> None:
        key = self._stable_key(node)
        if key is None:
            self.problems.append(
                Problem(
                    "a blank-node skos:ConceptScheme has no skos:notation: give it one (its "
                    "key) or a URI",
                    file=self.file,
                )
            )
            return
        title = self._text(node, DCTERMS.title, SKOS.prefLabel, RDFS.label) or key
        description = self._text(node, DCTERMS.description, SKOS.definition, RDFS.comment)
        try:
            entry = SchemeEntry.model_validate(
                {"key": key, "title": title, "description": description}
            )
        except ValidationError as exc:
            self.problems += [
                Problem(f"scheme <{node}>: {reason}", file=self.file) for _f, reason in explain(exc)
            ]
            return
        if entry.key in self.taxonomy.schemes:
            self.problems.append(
                Problem(f"two schemes have the key '{entry.key}'", file=self.file, key=entry.key)
            )
            return
        self.scheme_keys[node] = entry.key
        self.taxonomy.schemes[entry.key] = entry.to_data()

    def _key_of(self, node: Node) -> str | None:
        return self.concept_keys.get(node) or key_from_uri(node)

    def _scheme_of(self, node: Node, key: str) -> str | None:
        g = self.graph
        nodes = {*g.objects(node, SKOS.inScheme), *g.objects(node, SKOS.topConceptOf)}
        nodes |= set(g.subjects(SKOS.hasTopConcept, node))
        keys = {self.scheme_keys.get(n) or key_from_uri(n) for n in nodes} - {None}
        if not keys and len(self.taxonomy.schemes) == 1:
            keys = set(self.taxonomy.schemes)
        if len(keys) != 1:
            reason = "has no skos:inScheme" if not keys else "is in several schemes"
            self.problems.append(Problem(f"the concept {reason}", file=self.file, key=key))
            return None
        return keys.pop()

    def _labels(self, node: Node, predicate: URIRef) -> dict[str, list[str]]:
        labels: dict[str, list[str]] = defaultdict(list)
        for value in self.graph.objects(node, predicate):
            if isinstance(value, Literal):
                labels[value.language or DEFAULT_LANG].append(str(value))
        return {lang: sorted(texts) for lang, texts in sorted(labels.items())}

    def _read_concept(self, node: Node, parents: list[Node]) -> None:
        key = self.concept_keys.get(node)
        if key is None:
            self.problems.append(
                Problem(
                    "a blank-node concept has no skos:notation: give it one (its key) or a "
                    "URI, so that importing the file again finds the same concept",
                    file=self.file,
                )
            )
            return
        scheme = self._scheme_of(node, key)
        pref = self._labels(node, SKOS.prefLabel)
        for lang, texts in pref.items():
            if len(texts) > 1:
                self.problems.append(
                    Problem(f"several preferred labels in '{lang}': {texts}", self.file, key=key)
                )
        item: dict[str, Any] = {
            "key": key,
            "pref_label": {lang: texts[0] for lang, texts in pref.items()},
            "alt_labels": self._labels(node, SKOS.altLabel),
            "definition": self._text(node, SKOS.definition),
            "broader": sorted(
                {self._key_of(p) for p in [*self.graph.objects(node, SKOS.broader), *parents]}
                - {None}
            ),
            "status": self._status(node),
            "replaced_by": next(
                (self._key_of(r) for r in self.graph.objects(node, DCTERMS.isReplacedBy)), None
            ),
        }
        try:
            entry = ConceptEntry.model_validate(item)
        except ValidationError as exc:
            self.problems += [Problem(r, file=self.file, key=key) for _f, r in explain(exc)]
            return
        if scheme is not None:
            self.taxonomy.concepts[entry.key] = entry.to_data(scheme)

    def _status(self, node: Node) -> str:
        flags = self.graph.objects(node, OWL.deprecated)
        if any(isinstance(v, Literal) and v.toPython() is True for v in flags):
            return "deprecated"
        declared = [str(v) for v in self.graph.objects(node, SB.status)]
        return declared[0] if declared else "approved"


def write_turtle(taxonomy: Taxonomy) -> str:
    """The taxonomy as SKOS Turtle."""
    graph = Graph()
    for prefix, namespace in (("skos", SKOS), ("dcterms", DCTERMS), ("owl", OWL), ("sb", SB)):
        graph.bind(prefix, namespace)
    for scheme in taxonomy.schemes.values():
        node = scheme_uri(scheme.key)
        graph.add((node, RDF.type, SKOS.ConceptScheme))
        graph.add((node, SKOS.notation, Literal(scheme.key)))
        graph.add((node, DCTERMS.title, Literal(scheme.title)))
        if scheme.description:
            graph.add((node, DCTERMS.description, Literal(scheme.description)))
    for concept in taxonomy.concepts.values():
        _add_concept(graph, concept, taxonomy)
    return graph.serialize(format="turtle")


def _add_concept(graph: Graph, concept: ConceptData, taxonomy: Taxonomy) -> None:
    node = concept_uri(concept.key)
    graph.add((node, RDF.type, SKOS.Concept))
    graph.add((node, SKOS.notation, Literal(concept.key)))
    graph.add((node, SKOS.inScheme, scheme_uri(concept.scheme)))
    for lang, text in concept.pref_label.items():
        graph.add((node, SKOS.prefLabel, Literal(text, lang=lang)))
    for lang, texts in concept.alt_labels.items():
        for text in texts:
            graph.add((node, SKOS.altLabel, Literal(text, lang=lang)))
    if concept.definition:
        graph.add((node, SKOS.definition, Literal(concept.definition)))
    for parent in concept.broader:
        graph.add((node, SKOS.broader, concept_uri(parent)))
    parents_here = [
        p
        for p in concept.broader
        if p in taxonomy.concepts and taxonomy.concepts[p].scheme == concept.scheme
    ]
    if not parents_here:
        graph.add((node, SKOS.topConceptOf, scheme_uri(concept.scheme)))
    if concept.status == "deprecated":
        graph.add((node, OWL.deprecated, Literal(True)))
    elif concept.status == "draft":
        graph.add((node, SB.status, Literal("draft")))
    if concept.replaced_by:
        graph.add((node, DCTERMS.isReplacedBy, concept_uri(concept.replaced_by)))

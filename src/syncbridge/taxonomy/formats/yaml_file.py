"""The taxonomy YAML format: one document per scheme (a file may hold several).

Reading keeps each node's line, so a concept-level error names the line it starts on (or the
line of the offending field), not just the file.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from syncbridge.taxonomy.document import DEFAULT_LANG, ConceptData, Origin, Taxonomy
from syncbridge.taxonomy.formats.entries import (
    ConceptEntry,
    SchemeEntry,
    explain,
)
from syncbridge.taxonomy.validation import Problem, TaxonomyImportError

TOP_LEVEL_FIELDS = ("scheme", "concepts")


def read_yaml(text: str, file: str | None = None) -> Taxonomy:
    """Parse YAML taxonomy text; raises :class:`TaxonomyImportError` with every problem."""
    loader = yaml.SafeLoader(text)
    taxonomy = Taxonomy()
    problems: list[Problem] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            problems += _duplicate_fields(node, file)
            data = loader.construct_document(node)
            if data is not None:
                _read_document(node, data, file, taxonomy, problems)
    except yaml.MarkedYAMLError as exc:
        raise TaxonomyImportError([_syntax_problem(exc, file)]) from exc
    except yaml.YAMLError as exc:
        raise TaxonomyImportError([_reader_problem(exc, text, file)]) from exc
    except RecursionError as exc:
        # PyYAML builds nested collections recursively: ``[[[[...`` exhausts the stack.
        problem = Problem("invalid YAML: collections are nested too deeply", file=file)
        raise TaxonomyImportError([problem]) from exc
    finally:
        loader.dispose()
    if not problems and not taxonomy.schemes:
        problems.append(Problem("the file holds no scheme", file=file))
    if problems:
        raise TaxonomyImportError(problems)
    return taxonomy


def _syntax_problem(exc: yaml.MarkedYAMLError, file: str | None) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    what = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
    return Problem(f"invalid YAML: {what}", file=file, line=mark.line + 1 if mark else None)


def _reader_problem(exc: yaml.YAMLError, text: str, file: str | None) -> Problem:
    position = getattr(exc, "position", None)
    line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
    return Problem(f"invalid YAML: {exc}", file=file, line=line)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _fields(node: Node) -> dict[str, tuple[int, Node]]:
    """A mapping node's scalar keys with their line and value node."""
    if not isinstance(node, MappingNode):
        return {}
    return {str(k.value): (_line(k), v) for k, v in node.value if isinstance(k, ScalarNode)}


def _duplicate_fields(root: Node, file: str | None) -> list[Problem]:
    # PyYAML silently keeps the last of two equal keys; in a reviewed data file that hides a
    # mistake, so it is refused.
    problems: list[Problem] = []
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            keys: set[str] = set()
            for k, v in node.value:
                if isinstance(k, ScalarNode):
                    if k.value in keys:
                        problems.append(
                            Problem(f"field '{k.value}' is given twice", file=file, line=_line(k))
                        )
                    keys.add(k.value)
                stack.append(v)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return problems


def _read_document(
    node: Node, data: Any, file: str | None, taxonomy: Taxonomy, problems: list[Problem]
) -> None:
    if not isinstance(data, dict):
        problems.append(
            Problem("a document must be a mapping with 'scheme' and 'concepts'", file, _line(node))
        )
        return
    fields = _fields(node)
    for name in data:
        if name not in TOP_LEVEL_FIELDS:
            line = fields[name][0] if str(name) in fields else _line(node)
            problems.append(Problem(f"unknown field '{name}'", file=file, line=line))
    scheme_line = fields["scheme"][0] if "scheme" in fields else _line(node)
    try:
        scheme = SchemeEntry.model_validate(data.get("scheme"))
    except ValidationError as exc:
        problems += [Problem(f"scheme: {r}", file, scheme_line) for _f, r in explain(exc)]
        return
    if scheme.key in taxonomy.schemes:
        problems.append(Problem(f"scheme '{scheme.key}' is defined twice", file, scheme_line))
        return
    taxonomy.schemes[scheme.key] = scheme.to_data()
    concepts = data.get("concepts")
    if concepts is None:
        return
    concept_node = fields["concepts"][1] if "concepts" in fields else None
    if not isinstance(concepts, list) or not isinstance(concept_node, SequenceNode):
        line = fields["concepts"][0] if "concepts" in fields else _line(node)
        problems.append(Problem("'concepts' must be a list", file=file, line=line))
        return
    for item, item_node in zip(concepts, concept_node.value, strict=True):
        _read_concept(item, item_node, scheme.key, file, taxonomy, problems)


def _read_concept(
    item: Any,
    node: Node,
    scheme: str,
    file: str | None,
    taxonomy: Taxonomy,
    problems: list[Problem],
) -> None:
    line = _line(node)
    if not isinstance(item, dict):
        problems.append(Problem("a concept must be a mapping", file=file, line=line))
        return
    fields = _fields(node)
    raw_key = item.get("key")
    try:
        entry = ConceptEntry.model_validate(item)
    except ValidationError as exc:
        key_ok = not any(top == "key" for top, _r in explain(exc))
        for top, reason in explain(exc):
            at = fields[top][0] if top in fields else line
            problems.append(
                Problem(
                    reason, file, at, key=raw_key if key_ok and isinstance(raw_key, str) else None
                )
            )
        return
    if entry.key in taxonomy.concepts:
        where = taxonomy.origins[entry.key]
        problems.append(
            Problem(
                f"concept key is defined twice (first at line {where.line})",
                file=file,
                line=line,
                key=entry.key,
            )
        )
        return
    taxonomy.concepts[entry.key] = entry.to_data(scheme)
    taxonomy.origins[entry.key] = Origin(file=file, line=line)


class _Dumper(yaml.SafeDumper):
    """Block style for documents and concepts, flow style for label lists and label maps."""


class _FlowList(list[str]):
    pass


class _FlowMap(dict[str, Any]):
    pass


def _represent_flow_list(dumper: yaml.SafeDumper, data: _FlowList) -> Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _represent_flow_map(dumper: yaml.SafeDumper, data: _FlowMap) -> Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_Dumper.add_representer(_FlowList, _represent_flow_list)
_Dumper.add_representer(_FlowMap, _represent_flow_map)


def write_yaml(taxonomy: Taxonomy) -> str:
    """All schemes of ``taxonomy`` as a YAML stream, one document per scheme, by key."""
    documents = [scheme_document(taxonomy, key) for key in sorted(taxonomy.schemes)]
    return yaml.dump_all(
        documents,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        explicit_start=len(documents) > 1,
        width=100,
    )


def scheme_document(taxonomy: Taxonomy, scheme_key: str) -> dict[str, Any]:
    """One scheme and its concepts as a YAML-ready mapping (defaults left out)."""
    scheme = taxonomy.schemes[scheme_key]
    head: dict[str, Any] = {"key": scheme.key, "title": scheme.title}
    if scheme.description:
        head["description"] = scheme.description
    return {
        "scheme": head,
        "concepts": [_concept_item(c) for c in taxonomy.concepts_of(scheme_key)],
    }


def _concept_item(concept: ConceptData) -> dict[str, Any]:
    item: dict[str, Any] = {"key": concept.key}
    only_default = set(concept.pref_label) == {DEFAULT_LANG}
    item["pref_label"] = (
        concept.pref_label[DEFAULT_LANG] if only_default else _FlowMap(concept.pref_label)
    )
    if concept.alt_labels:
        if set(concept.alt_labels) == {DEFAULT_LANG}:
            item["alt_labels"] = _FlowList(concept.alt_labels[DEFAULT_LANG])
        else:
            item["alt_labels"] = {lang: _FlowList(t) for lang, t in concept.alt_labels.items()}
    if concept.definition:
        item["definition"] = concept.definition
    if concept.broader:
        item["broader"] = _FlowList(concept.broader)
    if concept.status != "approved":
        item["status"] = concept.status
    if concept.replaced_by:
        item["replaced_by"] = concept.replaced_by
    return item

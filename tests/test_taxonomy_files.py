"""Taxonomy files without a database: parsing, the rules, round trips and bad files (R18)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncbridge.taxonomy.document import ConceptData, SchemeData, Taxonomy
from syncbridge.taxonomy.formats.sources import (
    TaxonomyFormat,
    decode,
    parse,
    read_files,
    render,
    source_files,
)
from syncbridge.taxonomy.formats.turtle_file import concept_uri, key_from_uri, read_turtle
from syncbridge.taxonomy.formats.yaml_file import read_yaml
from syncbridge.taxonomy.importer import plan_import
from syncbridge.taxonomy.validation import (
    Problem,
    TaxonomyImportError,
    check_taxonomy,
    find_cycle,
    normalise_label,
)

FIXTURES = Path(__file__).parent / "fixtures" / "taxonomy"
DEFAULT_TAXONOMY = Path(__file__).parents[1] / "taxonomy"

HEAD = "scheme:\n  key: topic\n  title: Topic\nconcepts:\n"


def problems_of(text: str, fmt: TaxonomyFormat = TaxonomyFormat.yaml) -> list[Problem]:
    with pytest.raises(TaxonomyImportError) as caught:
        plan_import(parse(text.encode(), fmt, "bad.yaml"), Taxonomy())
    return caught.value.problems


def test_fixture_files_parse_into_the_expected_values() -> None:
    taxonomy = read_files(source_files(FIXTURES))
    assert set(taxonomy.schemes) == {"topic", "tone", "fruit-scheme"}
    trail = taxonomy.concepts["topic:trail-running"]
    assert trail.broader == ("topic:outdoor", "topic:running")
    assert trail.pref_label == {"en": "Trail running"}
    assert taxonomy.concepts["topic:running"].pref_label == {"de": "Laufen", "en": "Running"}
    assert taxonomy.concepts["topic:e-sport"].status == "draft"
    assert taxonomy.concepts["topic:jogging-old"].replaced_by == "topic:running"
    assert taxonomy.origins["topic:running"].line == 15


def test_third_party_skos_without_notation_takes_keys_from_uris() -> None:
    taxonomy = read_turtle((FIXTURES / "third-party.ttl").read_text(), "third-party.ttl")
    assert set(taxonomy.concepts) == {"fruit", "apple", "pear"}
    # skos:narrower on the parent is read as skos:broader on the child.
    assert taxonomy.concepts["apple"].broader == ("fruit",)
    assert taxonomy.concepts["fruit"].scheme == "fruit-scheme"
    assert taxonomy.concepts["apple"].alt_labels == {"la": ("Malus",)}
    assert taxonomy.schemes["fruit-scheme"].title == "Fruit"


def test_concept_uris_are_stable_and_reversible() -> None:
    uri = concept_uri("channel:paid/social")
    assert str(uri) == "https://w3id.org/syncbridge/taxonomy/channel%3Apaid%2Fsocial"
    assert key_from_uri(uri) == "channel:paid/social"


@pytest.mark.parametrize("fmt", list(TaxonomyFormat))
def test_fixture_round_trips_through_each_format(fmt: TaxonomyFormat) -> None:
    taxonomy = read_files(source_files(FIXTURES))
    again = parse(render(taxonomy, fmt).encode(), fmt)
    assert again.same_content(taxonomy)


def test_default_taxonomy_is_valid_and_round_trips() -> None:
    taxonomy = read_files(source_files(DEFAULT_TAXONOMY))
    assert len(taxonomy.concepts) >= 80
    assert check_taxonomy(taxonomy) == []
    turtle = render(taxonomy, TaxonomyFormat.turtle)
    back = parse(
        render(parse(turtle.encode(), TaxonomyFormat.turtle), TaxonomyFormat.yaml).encode(),
        TaxonomyFormat.yaml,
    )
    assert back.same_content(taxonomy)


def test_yaml_export_is_one_document_per_scheme() -> None:
    text = render(read_files(source_files(FIXTURES)), TaxonomyFormat.yaml)
    assert text.count("\n---") + text.startswith("---") == 3


def test_labels_normalise_case_and_whitespace() -> None:
    assert normalise_label("  Paid \t  Social\n") == "paid social"
    assert normalise_label("STRASSE") == normalise_label("straße")


# --- R18: bad files name the file, the line or concept, and the reason -----------------


def test_cycle_is_refused_with_its_path() -> None:
    (problem,) = problems_of(
        HEAD
        + "  - {key: 'topic:a', pref_label: A, broader: ['topic:c']}\n"
        + "  - {key: 'topic:b', pref_label: B, broader: ['topic:a']}\n"
        + "  - {key: 'topic:c', pref_label: C, broader: ['topic:b']}\n"
    )
    assert problem.file == "bad.yaml"
    assert problem.key == "topic:a"
    assert problem.line == 5
    assert "topic:a -> topic:c -> topic:b -> topic:a" in problem.reason


def test_duplicate_pref_label_is_refused_case_insensitively() -> None:
    problems = problems_of(
        HEAD
        + "  - {key: 'topic:a', pref_label: Paid  social}\n"
        + "  - {key: 'topic:b', pref_label: paid SOCIAL}\n"
    )
    assert {p.key for p in problems} == {"topic:a", "topic:b"}
    assert all("already used" in p.reason for p in problems)
    assert [p.line for p in problems] == [5, 6]


def test_same_pref_label_in_another_language_or_scheme_is_fine() -> None:
    text = (
        HEAD
        + "  - {key: 'topic:a', pref_label: {en: Gift, de: Mitbringsel}}\n"
        + "  - {key: 'topic:b', pref_label: {de: Gift, en: Poison}}\n"
        + "---\nscheme: {key: other, title: Other}\n"
        + "concepts:\n  - {key: 'other:a', pref_label: Gift}\n"
    )
    assert (
        len(plan_import(parse(text.encode(), TaxonomyFormat.yaml), Taxonomy()).concepts_created)
        == 3
    )


def test_alt_label_may_repeat_across_concepts_but_not_equal_own_pref() -> None:
    problems = problems_of(
        HEAD
        + "  - {key: 'topic:a', pref_label: LinkedIn, alt_labels: [LI]}\n"
        + "  - {key: 'topic:b', pref_label: Lithium, alt_labels: [LI, lithium]}\n"
    )
    assert [(p.key, p.attribute) for p in problems] == [("topic:b", "alt_labels")]


def test_unknown_broader_is_refused() -> None:
    (problem,) = problems_of(
        HEAD + "  - key: topic:a\n    pref_label: A\n    broader: [topic:zz]\n"
    )
    assert problem.key == "topic:a"
    assert problem.line == 5
    assert "'topic:zz' does not exist" in problem.reason


def test_unknown_field_names_its_line() -> None:
    (problem,) = problems_of(HEAD + "  - key: topic:a\n    pref_label: A\n    colour: red\n")
    assert (problem.file, problem.line, problem.key) == ("bad.yaml", 7, "topic:a")
    assert problem.reason == "unknown field 'colour'"


def test_unknown_top_level_field_is_refused() -> None:
    (problem,) = problems_of("version: 2\n" + HEAD + "  - {key: 'topic:a', pref_label: A}\n")
    assert (problem.line, problem.reason) == (1, "unknown field 'version'")


def test_invalid_key_is_reported_by_line() -> None:
    (problem,) = problems_of(HEAD + "  - key: Topic A\n    pref_label: A\n")
    assert problem.field == "line 5"
    assert "not a valid key" in problem.reason


def test_duplicate_field_is_refused() -> None:
    (problem,) = problems_of(HEAD + "  - key: topic:a\n    pref_label: A\n    pref_label: B\n")
    assert (problem.line, problem.reason) == (7, "field 'pref_label' is given twice")


def test_invalid_yaml_names_its_line() -> None:
    (problem,) = problems_of(HEAD + "  - key: topic:a\n    pref_label: [A\n  - key: b\n")
    assert problem.file == "bad.yaml"
    assert problem.line == 7
    assert problem.reason.startswith("invalid YAML")


def test_invalid_turtle_names_its_line() -> None:
    text = (
        "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n\n"
        "<x> a skos:Concept ;\n  skos:prefLabel .\n"
    )
    with pytest.raises(TaxonomyImportError) as caught:
        parse(text.encode(), TaxonomyFormat.turtle, "bad.ttl")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("bad.ttl", 4)
    assert problem.reason.startswith("invalid Turtle")


@pytest.mark.parametrize("text", ["false", "0", "((((", "<x> <y> "])
def test_turtle_the_parser_chokes_on_is_refused_not_crashed(text: str) -> None:
    # Found by fuzzing (R5): rdflib raised IndexError on a bare ``false``.
    with pytest.raises(TaxonomyImportError) as caught:
        parse(text.encode(), TaxonomyFormat.turtle, "bad.ttl")
    (problem,) = caught.value.problems
    assert problem.file == "bad.ttl"
    assert problem.reason.startswith("invalid Turtle")


def test_yaml_nested_too_deeply_is_refused_not_crashed() -> None:
    with pytest.raises(TaxonomyImportError) as caught:
        parse(b"[" * 100_000, TaxonomyFormat.yaml, "deep.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.reason) == (
        "deep.yaml",
        "invalid YAML: collections are nested too deeply",
    )


@pytest.mark.parametrize("key", ["topic:a/history", "topic:a/deprecate"])
def test_key_ending_in_a_concept_sub_resource_is_refused(key: str) -> None:
    # GET /concepts/topic:a/history is the history of topic:a, so no concept may be called that.
    (problem,) = problems_of(HEAD + f"  - key: {key}\n    pref_label: A\n")
    assert problem.line == 5
    assert "cannot end in" in problem.reason


@pytest.mark.parametrize(
    ("raw", "reason", "line"),
    [
        ("scheme:\n  key: x\n  title: Caf\xe9\n".encode("latin-1"), "not UTF-8", 3),
        ("scheme: {key: x, title: X}\n".encode("utf-16"), "UTF-16", None),
        ("scheme: {key: x, title: X}\n".encode("utf-16-be"), "UTF-16", None),
    ],
)
def test_wrong_encoding_is_refused(raw: bytes, reason: str, line: int | None) -> None:
    for fmt in TaxonomyFormat:
        with pytest.raises(TaxonomyImportError) as caught:
            parse(raw, fmt, "bad.yaml")
        (problem,) = caught.value.problems
        assert reason in problem.reason
        assert (problem.file, problem.line) == ("bad.yaml", line)


def test_utf8_byte_order_mark_is_accepted() -> None:
    text = decode(b"\xef\xbb\xbfscheme: {key: x, title: X}\n")
    assert read_yaml(text).schemes == {"x": SchemeData(key="x", title="X")}


def test_replacement_rules() -> None:
    problems = problems_of(
        HEAD
        + "  - {key: 'topic:a', pref_label: A, replaced_by: 'topic:b'}\n"
        + "  - {key: 'topic:b', pref_label: B, status: deprecated, replaced_by: 'topic:c'}\n"
        + "  - {key: 'topic:c', pref_label: C, status: deprecated}\n"
    )
    reasons = {(p.key, p.reason) for p in problems}
    assert ("topic:a", "replaced_by is only allowed with status 'deprecated'") in reasons
    assert ("topic:b", "replacement 'topic:c' is deprecated too") in reasons


def test_concept_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD + "  - {key: 'topic:a', pref_label: A}\n")
    (tmp_path / "b.yaml").write_text(
        "scheme: {key: other, title: Other}\nconcepts:\n  - {key: 'topic:a', pref_label: B}\n"
    )
    with pytest.raises(TaxonomyImportError) as caught:
        read_files(source_files(tmp_path))
    (problem,) = caught.value.problems
    assert (problem.file, problem.key) == (str(tmp_path / "b.yaml"), "topic:a")


def test_every_bad_file_in_a_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD + "  - {key: 'topic:a', pref_label: A, x: 1}\n")
    (tmp_path / "b.ttl").write_text("not turtle")
    with pytest.raises(TaxonomyImportError) as caught:
        read_files(source_files(tmp_path))
    assert [Path(p.file or "").name for p in caught.value.problems] == ["a.yaml", "b.ttl"]


# --- cycles, as properties -------------------------------------------------------------


def _concepts(edges: dict[int, set[int]]) -> Taxonomy:
    taxonomy = Taxonomy(schemes={"s": SchemeData(key="s", title="S")})
    for node, parents in edges.items():
        key = f"s:{node}"
        taxonomy.concepts[key] = ConceptData.build(
            key=key, scheme="s", pref_label={"en": f"C{node}"}, broader=[f"s:{p}" for p in parents]
        )
    return taxonomy


@st.composite
def dags(draw: st.DrawFn) -> dict[int, set[int]]:
    size = draw(st.integers(min_value=1, max_value=25))
    # Broader links only point to lower numbers, so the graph is acyclic by construction.
    return {
        n: draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=3)) if n else set()
        for n in range(size)
    }


@given(dags())
@settings(max_examples=60, deadline=None)
def test_random_dags_are_never_rejected(edges: dict[int, set[int]]) -> None:
    assert check_taxonomy(_concepts(edges)) == []


@given(dags(), st.data())
@settings(max_examples=60, deadline=None)
def test_random_cycles_are_always_rejected(edges: dict[int, set[int]], data: st.DataObject) -> None:
    # Close a cycle: pick a path lower -> ... -> higher and add the link back up.
    nodes = sorted(edges)
    low = data.draw(st.sampled_from(nodes))
    high = data.draw(st.sampled_from([n for n in nodes if n >= low]))
    chain = list(range(low, high + 1))
    for child, parent in zip(chain[1:], chain, strict=False):
        edges[child].add(parent)
    edges[low].add(high)
    graph = {f"s:{n}": [f"s:{p}" for p in ps] for n, ps in edges.items()}
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert all(b in graph[a] for a, b in pairwise(cycle))
    problems = check_taxonomy(_concepts(edges))
    if low == high:
        assert any("its own broader" in p.reason for p in problems)
    else:
        assert any("cycle" in p.reason and p.conflict for p in problems)


def test_part_of_a_taxonomy_keeps_the_origins_of_its_concepts() -> None:
    text = (
        HEAD
        + "  - {key: 'topic:a', pref_label: A}\n---\n"
        + HEAD.replace("topic", "tone")
        + ("  - {key: 'tone:b', pref_label: B}\n")
    )
    part = read_yaml(text, "two.yaml").only_schemes(["tone"])
    assert set(part.concepts) == {"tone:b"}
    assert part.origins["tone:b"].file == "two.yaml"
    assert set(part.origins) == {"tone:b"}

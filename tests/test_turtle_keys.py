"""Issue 7, item 4: Turtle imports refuse two schemes with one key (as YAML does) and give
blank-node concepts no random key, so re-importing the same file changes nothing."""

from __future__ import annotations

import httpx
import pytest

from syncbridge.taxonomy.formats.turtle_file import read_turtle
from syncbridge.taxonomy.validation import TaxonomyImportError

PREFIXES = """\
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix ex: <https://example.com/tax/> .
"""
TURTLE = {"content-type": "text/turtle"}


def test_two_schemes_with_one_key_are_refused() -> None:
    text = PREFIXES + (
        'ex:a a skos:ConceptScheme ; skos:notation "tone" ; skos:prefLabel "Tone"@en .\n'
        'ex:b a skos:ConceptScheme ; skos:notation "tone" ; skos:prefLabel "Tone 2"@en .\n'
    )
    with pytest.raises(TaxonomyImportError, match="two schemes have the key 'tone'"):
        read_turtle(text)


def test_a_blank_node_concept_without_a_notation_is_refused() -> None:
    text = PREFIXES + (
        'ex:tone a skos:ConceptScheme ; skos:notation "tone" ; skos:prefLabel "Tone"@en .\n'
        '[] a skos:Concept ; skos:inScheme ex:tone ; skos:prefLabel "Calm"@en .\n'
    )
    with pytest.raises(TaxonomyImportError, match="blank-node concept has no skos:notation"):
        read_turtle(text)


async def test_a_blank_node_concept_with_a_notation_imports_once(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    text = PREFIXES + (
        'ex:tone a skos:ConceptScheme ; skos:notation "tone" ; skos:prefLabel "Tone"@en .\n'
        '[] a skos:Concept ; skos:notation "tone:calm" ; skos:inScheme ex:tone ;\n'
        '   skos:prefLabel "Calm"@en .\n'
    )
    headers = {**editor, **TURTLE}
    first = await client.post("/v1/taxonomy/import", content=text.encode(), headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["concepts"]["created"] == 1
    again = await client.post("/v1/taxonomy/import", content=text.encode(), headers=headers)
    assert again.json()["concepts"] == {"created": 0, "updated": 0, "unchanged": 1}

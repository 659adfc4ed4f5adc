"""Issue 7, item 3: hostile sidecar files cannot stall the folder DAM or lose a batch's
outcomes; owned keywords also leave Lightroom's hierarchical keywords."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from syncbridge_localfolder.xmp import MAX_DEPTH, MAX_NAMESPACES, SidecarError, XmpDocument

from syncbridge.connector.types import TagChange
from tests.connectors.localfolder.conftest import MakeConnector
from tests.connectors.localfolder.dam import put

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def _many_prefixes(count: int) -> bytes:
    declarations = " ".join(f'xmlns:p{n}="urn:hostile:{n}"' for n in range(count))
    return (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/" {declarations}>'
        f'<rdf:RDF xmlns:rdf="{RDF}"/></x:xmpmeta>'
    ).encode()


def _deep(levels: int) -> bytes:
    return (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">'
        + "<a>" * levels
        + "</a>" * levels
        + "</rdf:RDF></x:xmpmeta>"
    ).encode()


def test_a_sidecar_with_thousands_of_namespaces_is_refused() -> None:
    with pytest.raises(SidecarError, match="namespaces"):
        XmpDocument.parse(_many_prefixes(MAX_NAMESPACES + 1))


def test_reading_sidecars_leaves_no_process_wide_state() -> None:
    # ElementTree's prefix table is global: a reader that adds to it slows every later file.
    before = dict(ET._namespace_map)  # type: ignore[attr-defined]
    document = XmpDocument.parse(_many_prefixes(MAX_NAMESPACES - 10))
    document.replace_keywords(["perf:top-10"])
    again = XmpDocument.parse(document.to_bytes())
    assert again.keywords() == ["perf:top-10"]
    assert dict(ET._namespace_map) == before  # type: ignore[attr-defined]


def test_a_deeply_nested_sidecar_is_refused() -> None:
    XmpDocument.parse(_deep(MAX_DEPTH - 5))
    with pytest.raises(SidecarError, match="nested deeper"):
        XmpDocument.parse(_deep(50_000))


async def test_one_hostile_sidecar_fails_alone_and_the_batch_keeps_its_outcomes(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg", keywords=["beach"])
    put(root, "b.jpg")
    (root / "b.jpg.xmp").write_bytes(_deep(50_000))
    put(root, "c.jpg", keywords=["sunset"])
    outcomes = await make().write(
        [
            TagChange("files", name, frozenset({"perf:top-10"}))
            for name in ("a.jpg", "b.jpg", "c.jpg")
        ]
    )
    assert [(o.external_id, o.status) for o in outcomes] == [
        ("a.jpg", "applied"),
        ("b.jpg", "failed"),
        ("c.jpg", "applied"),
    ]
    assert "nested deeper" in (outcomes[1].detail or "")
    assert (root / "b.jpg.xmp").read_bytes() == _deep(50_000)


LIGHTROOM = f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="{RDF}">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
   <dc:subject><rdf:Bag><rdf:li>beach</rdf:li><rdf:li>perf:top-10</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag>
     <rdf:li>places|beach</rdf:li><rdf:li>perf:top-10</rdf:li><rdf:li>perf|perf:top-10</rdf:li>
   </rdf:Bag></lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


async def test_removed_owned_keywords_leave_lightrooms_hierarchy_too(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg")
    (root / "a.jpg.xmp").write_text(LIGHTROOM)
    (outcome,) = await make().write([TagChange("files", "a.jpg", frozenset({"perf:middle"}))])
    assert outcome.status == "applied"
    document = XmpDocument.parse((root / "a.jpg.xmp").read_bytes())
    assert document.keywords() == ["beach", "perf:middle"]
    hierarchy = [
        li.text
        for li in document.root.iter(f"{{{RDF}}}li")
        if (li.text and "|" in li.text) or li.text == "perf:top-10"
    ]
    assert hierarchy == ["places|beach"]

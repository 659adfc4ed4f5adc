"""XMP sidecar documents: every dc:subject shape, people's keywords kept, the rest untouched."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from syncbridge_localfolder.xmp import (
    DC_SUBJECT,
    RDF_BAG,
    RDF_SEQ,
    SidecarError,
    XmpDocument,
    merge_owned,
)

NS = (
    'xmlns:x="adobe:ns:meta/" '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)

#: A Lightroom-like sidecar: attribute-form properties, structures, other dc fields,
#: a vendor namespace, and keywords with people's and syncbridge's entries mixed.
RICH_SIDECAR = f"""<x:xmpmeta {NS} x:xmptk="Adobe XMP Core 7.0-c000">
 <rdf:RDF>
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:acme="https://acme.example/xmp/1.0/"
    xmp:Rating="4" crs:Exposure2012="+0.35" acme:Campaign="spring &amp; sun">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Hero shot</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>Ann Lee</rdf:li></rdf:Seq></dc:creator>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>beach</rdf:li>
     <rdf:li>perf:bottom-25</rdf:li>
     <rdf:li xml:lang="fr">plage</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li rdf:parseType="Resource">
      <stEvt:action>saved</stEvt:action>
      <stEvt:when>2025-03-01T10:00:00Z</stEvt:when>
     </rdf:li>
    </rdf:Seq>
   </xmpMM:History>
   <acme:Notes>keep me</acme:Notes>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def meaning(element: ET.Element, *, without: str | None = None) -> Any:
    """The XML infoset that matters to an XMP reader: names, attributes, non-blank text."""
    return (
        element.tag,
        sorted(element.attrib.items()),
        (element.text or "").strip(),
        [meaning(child, without=without) for child in element if child.tag != without],
    )


def doc(body: str) -> XmpDocument:
    return XmpDocument.parse(body.encode())


def written(document: XmpDocument) -> XmpDocument:
    """The document after a round trip through bytes, as the next reader sees it."""
    return XmpDocument.parse(document.to_bytes())


def describe(inner: str, attrs: str = "") -> str:
    return (
        f'<x:xmpmeta {NS}><rdf:RDF><rdf:Description rdf:about="" {attrs}>'
        f"{inner}</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def test_bag_keywords_are_read_in_order() -> None:
    body = describe(
        "<dc:subject><rdf:Bag><rdf:li>b</rdf:li><rdf:li>a</rdf:li></rdf:Bag></dc:subject>"
    )
    assert doc(body).keywords() == ["b", "a"]


def test_seq_keywords_are_read_and_the_seq_is_kept_on_write() -> None:
    document = doc(describe("<dc:subject><rdf:Seq><rdf:li>a</rdf:li></rdf:Seq></dc:subject>"))
    assert document.keywords() == ["a"]
    document.replace_keywords(["a", "perf:top-10"])
    again = written(document)
    assert again.keywords() == ["a", "perf:top-10"]
    subject = again.root.find(f".//{DC_SUBJECT}")
    assert subject is not None
    assert [child.tag for child in subject] == [RDF_SEQ]


def test_single_value_subject_is_read_and_becomes_a_bag() -> None:
    document = doc(describe("<dc:subject>sunset</dc:subject>"))
    assert document.keywords() == ["sunset"]
    document.replace_keywords(["sunset", "perf:middle"])
    again = written(document)
    assert again.keywords() == ["sunset", "perf:middle"]
    subject = again.root.find(f".//{DC_SUBJECT}")
    assert subject is not None
    assert [child.tag for child in subject] == [RDF_BAG]


def test_attribute_form_subject_is_read_and_folded_into_one_bag() -> None:
    document = doc(describe("", attrs='dc:subject="harbour"'))
    assert document.keywords() == ["harbour"]
    document.replace_keywords(["harbour", "perf:top-25"])
    again = written(document)
    assert again.keywords() == ["harbour", "perf:top-25"]
    assert len(again.root.findall(f".//{DC_SUBJECT}")) == 1


def test_subjects_spread_over_descriptions_become_one_list() -> None:
    body = (
        f'<x:xmpmeta {NS}><rdf:RDF><rdf:Description rdf:about="">'
        "<dc:subject><rdf:Bag><rdf:li>a</rdf:li></rdf:Bag></dc:subject></rdf:Description>"
        '<rdf:Description rdf:about=""><dc:subject><rdf:Bag><rdf:li>b</rdf:li>'
        "</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    document = doc(body)
    assert document.keywords() == ["a", "b"]
    document.replace_keywords(["a", "b", "perf:rising"])
    again = written(document)
    assert again.keywords() == ["a", "b", "perf:rising"]
    assert len(again.root.findall(f".//{DC_SUBJECT}")) == 1


def test_bare_rdf_root_is_accepted() -> None:
    body = (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><rdf:Description rdf:about="">'
        "<dc:subject>x</dc:subject></rdf:Description></rdf:RDF>"
    )
    document = doc(body)
    document.replace_keywords(["x", "perf:top-10"])
    assert written(document).keywords() == ["x", "perf:top-10"]


def test_a_write_on_a_rich_sidecar_changes_only_dc_subject() -> None:
    document = doc(RICH_SIDECAR)
    before = meaning(document.root, without=DC_SUBJECT)
    kept = merge_owned(document.keywords(), {"perf:top-10"}, "perf:")
    document.replace_keywords(kept)
    again = written(document)
    assert meaning(again.root, without=DC_SUBJECT) == before
    assert again.keywords() == ["beach", "plage", "perf:top-10"]
    # The reused rdf:li of a person's keyword keeps its attributes (here its language).
    plage = next(li for li in again.root.iter() if li.text == "plage")
    assert plage.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"


def test_the_sidecars_own_prefixes_survive_a_write() -> None:
    document = doc(RICH_SIDECAR)
    document.replace_keywords(["beach"])
    text = document.to_bytes().decode()
    assert 'xmlns:acme="https://acme.example/xmp/1.0/"' in text
    assert 'xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"' in text


def test_removing_every_keyword_removes_dc_subject() -> None:
    document = doc(RICH_SIDECAR)
    document.replace_keywords([])
    again = written(document)
    assert again.keywords() == []
    assert again.root.find(f".//{DC_SUBJECT}") is None
    assert again.root.find(".//{https://acme.example/xmp/1.0/}Notes") is not None


def test_new_document_is_xmpmeta_rdf_description_with_a_bag() -> None:
    document = XmpDocument.new()
    document.replace_keywords(["a & b", "<c>", "café", "perf:top-10"])
    text = document.to_bytes().decode()
    assert text.startswith("<x:xmpmeta ")
    root = ET.fromstring(text)
    path = "./{*}RDF/{*}Description/{http://purl.org/dc/elements/1.1/}subject/{*}Bag/{*}li"
    assert [li.text for li in root.findall(path)] == ["a & b", "<c>", "café", "perf:top-10"]
    assert (
        root.find("./{*}RDF/{*}Description").get(  # type: ignore[union-attr]
            "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"
        )
        == ""
    )


def test_a_description_holding_dc_fields_receives_a_new_subject() -> None:
    body = (
        f'<x:xmpmeta {NS}><rdf:RDF><rdf:Description rdf:about="" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="2"/>'
        '<rdf:Description rdf:about=""><dc:format>image/jpeg</dc:format></rdf:Description>'
        "</rdf:RDF></x:xmpmeta>"
    )
    document = doc(body)
    document.replace_keywords(["perf:middle"])
    again = written(document)
    descriptions = again.root.findall(".//{*}Description")
    assert descriptions[0].find(DC_SUBJECT) is None
    assert descriptions[1].find(DC_SUBJECT) is not None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
            id="billion-laughs",
        ),
        pytest.param(
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            id="xxe",
        ),
        pytest.param(f"<!DOCTYPE x:xmpmeta><x:xmpmeta {NS}><rdf:RDF/></x:xmpmeta>", id="dtd"),
        pytest.param("<x:xmpmeta", id="truncated"),
        pytest.param("<html><body>not xmp</body></html>", id="not-xmp"),
    ],
)
def test_unsafe_or_foreign_sidecars_are_refused(body: str) -> None:
    with pytest.raises(SidecarError):
        XmpDocument.parse(body.encode())


def test_an_empty_file_is_an_empty_packet() -> None:
    assert XmpDocument.parse(b"  \n").keywords() == []


def test_merge_keeps_people_replaces_owned_and_is_stable() -> None:
    current = ["beach", "perf:top-10", "sunset", "perf:middle"]
    assert merge_owned(current, {"perf:middle", "perf:rising"}, "perf:") == [
        "beach",
        "sunset",
        "perf:middle",
        "perf:rising",
    ]
    assert merge_owned(current, {"perf:top-10", "perf:middle"}, "perf:") == current


def test_merge_drops_duplicate_owned_keywords_but_not_human_ones() -> None:
    assert merge_owned(["a", "a", "perf:x", "perf:x"], {"perf:x"}, "perf:") == ["a", "a", "perf:x"]

"""XMP sidecar documents: read the ``dc:subject`` keywords, replace the owned ones, keep the rest.

A sidecar is parsed with defusedxml (no DTDs, no entity expansion, no external resources:
sidecars are untrusted files) into an ElementTree and written back with ElementTree, so
every other namespace, property and ``dc`` field survives a write. The output follows Adobe's
own sidecars: ``x:xmpmeta`` / ``rdf:RDF`` / ``rdf:Description`` with no ``<?xpacket?>``
wrapper (optional in a sidecar file per XMP part 3) and no XML declaration (UTF-8 is implied).

``dc:subject`` is read in every shape tools write: an ``rdf:Bag`` (the standard), an
``rdf:Seq`` or ``rdf:Alt``, a single text value, or an attribute on ``rdf:Description``.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"

#: Prefixes Adobe tools and exiftool use, so written sidecars read naturally to people.
KNOWN_PREFIXES = {
    "x": NS_X,
    "rdf": NS_RDF,
    "dc": NS_DC,
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "stRef": "http://ns.adobe.com/xap/1.0/sType/ResourceRef#",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmpDM": "http://ns.adobe.com/xmp/1.0/DynamicMedia/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
}
for _prefix, _uri in KNOWN_PREFIXES.items():
    ET.register_namespace(_prefix, _uri)
#: Prefixes registered with ElementTree by this module (known ones, then adopted ones).
_ADOPTED: dict[str, str] = {**KNOWN_PREFIXES, "xml": "http://www.w3.org/XML/1998/namespace"}
_ADOPTED_URIS: set[str] = set(_ADOPTED.values())

X_XMPMETA = f"{{{NS_X}}}xmpmeta"
X_XAPMETA = f"{{{NS_X}}}xapmeta"  # the pre-2002 name, still found in old files
X_XMPTK = f"{{{NS_X}}}xmptk"
RDF_RDF = f"{{{NS_RDF}}}RDF"
RDF_DESCRIPTION = f"{{{NS_RDF}}}Description"
RDF_ABOUT = f"{{{NS_RDF}}}about"
RDF_BAG = f"{{{NS_RDF}}}Bag"
RDF_SEQ = f"{{{NS_RDF}}}Seq"
RDF_ALT = f"{{{NS_RDF}}}Alt"
RDF_LI = f"{{{NS_RDF}}}li"
DC_SUBJECT = f"{{{NS_DC}}}subject"
CONTAINERS = (RDF_BAG, RDF_SEQ, RDF_ALT)
INDENT = " "  # exiftool's indent unit
_GENERATED_PREFIX = re.compile(r"ns\d+\Z")


class SidecarError(ValueError):
    """A sidecar that is not well-formed XMP (or is unsafe XML); it is never overwritten."""


@dataclass
class XmpDocument:
    """One parsed XMP packet; ``keywords`` and ``replace_keywords`` act on ``dc:subject``."""

    root: ET.Element

    @classmethod
    def new(cls) -> XmpDocument:
        """An empty ``x:xmpmeta`` / ``rdf:RDF`` packet."""
        root = ET.Element(X_XMPMETA, {X_XMPTK: "syncbridge"})
        document = cls(root)
        document._append_indented(root, ET.Element(RDF_RDF))
        return document

    @classmethod
    def parse(cls, data: bytes) -> XmpDocument:
        """Parse a sidecar's bytes safely; an empty file is an empty packet.

        Raises ``SidecarError`` when the bytes are not XML, carry a DTD or entities, or hold
        no ``rdf:RDF``.
        """
        if not data.strip():
            return cls.new()
        try:
            events = SafeET.iterparse(io.BytesIO(data), events=("start-ns",), forbid_dtd=True)
            # With only "start-ns" events, every item is a (prefix, uri) pair.
            prefixes = [cast("tuple[str, str]", item) for _event, item in events]
            root = events.root  # type: ignore[attr-defined]
        except (ET.ParseError, DefusedXmlException) as exc:
            raise SidecarError(f"not well-formed XML: {exc}") from exc
        if root.tag != RDF_RDF and root.find(f".//{RDF_RDF}") is None:
            raise SidecarError("no rdf:RDF element: not an XMP packet")
        _adopt_prefixes(prefixes)
        return cls(root)

    def to_bytes(self) -> bytes:
        """The packet as UTF-8 XML (every namespace declared on the root element)."""
        return ET.tostring(self.root, encoding="unicode").encode("utf-8") + b"\n"

    @property
    def rdf(self) -> ET.Element:
        found = self.root if self.root.tag == RDF_RDF else self.root.find(f".//{RDF_RDF}")
        assert found is not None  # parse() and new() guarantee one
        return found

    def keywords(self) -> list[str]:
        """The ``dc:subject`` keywords in document order (all shapes, all descriptions)."""
        out: list[str] = []
        for description in self._descriptions():
            if DC_SUBJECT in description.attrib:
                out.append(description.attrib[DC_SUBJECT])
            for subject in description.findall(DC_SUBJECT):
                out.extend(text for text, _li in _subject_items(subject))
        return out

    def replace_keywords(self, keywords: list[str]) -> None:
        """Make ``dc:subject`` hold exactly ``keywords``, in order, as one list.

        The first ``dc:subject`` element keeps its place and its ``rdf:Bag``/``rdf:Seq``
        container (a single value or an ``rdf:Alt`` becomes a Bag); existing ``rdf:li``
        elements are reused for keywords that stay, so their attributes survive; other
        ``dc:subject`` occurrences are folded into it. No keywords: no ``dc:subject``.
        """
        taken = self._take_subject()
        if not keywords:
            if taken is not None:
                _remove_indented(*taken)
            return
        if taken is None:
            description = self._dc_description()
            target = ET.Element(DC_SUBJECT)
            self._append_indented(description, target)
        else:
            target = taken[1]
        old_items = _subject_items(target)
        container_tag = _container_of(target)
        for child in list(target):
            target.remove(child)
        target.text = None
        container = ET.SubElement(target, container_tag)
        reusable: list[tuple[str, ET.Element]] = [
            (text, li) for text, li in old_items if li is not None
        ]
        for keyword in keywords:
            li = _pop_matching(reusable, keyword)
            if li is None:
                li = ET.Element(RDF_LI)
                li.text = keyword
            li.tail = None
            container.append(li)
        _lay_out(target, container, self._indentation(target))

    def _descriptions(self) -> list[ET.Element]:
        # Only top-level descriptions: nested ones describe structures, not the asset.
        return self.rdf.findall(RDF_DESCRIPTION)

    def _take_subject(self) -> tuple[ET.Element, ET.Element] | None:
        """Remove every ``dc:subject`` but the first element form: ``(description, it)``."""
        first: tuple[ET.Element, ET.Element] | None = None
        for description in self._descriptions():
            description.attrib.pop(DC_SUBJECT, None)
            for subject in description.findall(DC_SUBJECT):
                if first is None:
                    first = (description, subject)
                else:
                    _remove_indented(description, subject)
        return first

    def _dc_description(self) -> ET.Element:
        """The description to hold a new ``dc:subject``: one with dc fields, else the first."""
        descriptions = self._descriptions()
        for description in descriptions:
            if any(child.tag.startswith(f"{{{NS_DC}}}") for child in description):
                return description
        if descriptions:
            return descriptions[0]
        description = ET.Element(RDF_DESCRIPTION, {RDF_ABOUT: ""})
        self._append_indented(self.rdf, description)
        return description

    def _indentation(self, element: ET.Element) -> str:
        """The indentation ``element`` sits at: copied from the file, else one step deeper."""
        parents = {child: parent for parent in self.root.iter() for child in parent}
        parent = parents.get(element)
        if parent is None:
            return ""
        index = list(parent).index(element)
        space = parent.text if index == 0 else parent[index - 1].tail
        if space and not space.strip() and "\n" in space:
            return space.rsplit("\n", 1)[1]
        return self._indentation(parent) + INDENT

    def _append_indented(self, parent: ET.Element, child: ET.Element) -> None:
        """Append ``child`` as the last child of ``parent``, indented like its siblings."""
        outer = self._indentation(parent)
        if len(parent):
            inner = self._indentation(parent[-1])
            child.tail = parent[-1].tail
            parent[-1].tail = "\n" + inner
        else:
            parent.text = "\n" + outer + INDENT
            child.tail = "\n" + outer
        parent.append(child)


def merge_owned(current: Iterable[str], desired: Iterable[str], prefix: str) -> list[str]:
    """The keyword list after a write-back: people's keywords untouched, owned ones = desired.

    Keywords without ``prefix`` keep their order; owned keywords that stay keep their place;
    owned keywords no longer desired go; missing desired ones are appended in sorted order.
    So the result equals ``current`` exactly when nothing needs to change.
    """
    wanted = set(desired)
    out: list[str] = []
    for keyword in current:
        if keyword.startswith(prefix):
            if keyword not in wanted or keyword in out:
                continue
        out.append(keyword)
    out.extend(sorted(wanted.difference(out)))
    return out


def _subject_items(subject: ET.Element) -> list[tuple[str, ET.Element | None]]:
    """``(keyword, rdf:li or None)`` of one ``dc:subject`` element, whatever its shape."""
    container = next((child for child in subject if child.tag in CONTAINERS), None)
    if container is not None:
        return [(li.text or "", li) for li in container.findall(RDF_LI)]
    text = (subject.text or "").strip()
    return [(text, None)] if text and len(subject) == 0 else []


def _container_of(subject: ET.Element) -> str:
    container = next((child.tag for child in subject if child.tag in CONTAINERS), RDF_BAG)
    return RDF_SEQ if container == RDF_SEQ else RDF_BAG


def _pop_matching(items: list[tuple[str, ET.Element]], keyword: str) -> ET.Element | None:
    for index, (text, li) in enumerate(items):
        if text == keyword:
            del items[index]
            return li
    return None


def _lay_out(subject: ET.Element, container: ET.Element, base: str) -> None:
    """Line breaks inside a rebuilt ``dc:subject`` (its own indentation is ``base``)."""
    subject.text = "\n" + base + INDENT
    container.text = "\n" + base + INDENT * 2
    for li in container:
        li.tail = "\n" + base + INDENT * 2
    container[-1].tail = "\n" + base + INDENT
    container.tail = "\n" + base


def _remove_indented(parent: ET.Element, child: ET.Element) -> None:
    """Remove ``child`` and keep its tail's line break on the element before it."""
    index = list(parent).index(child)
    if index == len(parent) - 1 and index > 0:
        parent[index - 1].tail = child.tail
    parent.remove(child)


def _adopt_prefixes(prefixes: Iterable[tuple[str, str]]) -> None:
    """Keep a document's own prefixes on output where they clash with nothing known.

    ElementTree's prefix table is process-wide; only free prefixes for unknown namespaces
    are added, so a sidecar can never rebind ``dc`` or ``rdf`` for later writes.
    """
    for prefix, uri in prefixes:
        if (
            not prefix
            or prefix in _ADOPTED
            or uri in _ADOPTED_URIS
            or _GENERATED_PREFIX.match(prefix)
        ):
            continue
        ET.register_namespace(prefix, uri)
        _ADOPTED[prefix] = uri
        _ADOPTED_URIS.add(uri)

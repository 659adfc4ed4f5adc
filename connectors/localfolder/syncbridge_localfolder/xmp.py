"""XMP sidecar documents: read the ``dc:subject`` keywords, replace the owned ones, keep the rest.

A sidecar is parsed with defusedxml (no DTDs, no entity expansion, no external resources:
sidecars are untrusted files) into an ElementTree, with its nesting depth and namespace count
bounded, and written back by a small serializer of our own that keeps the document's own
prefixes: no process-wide state (ElementTree's prefix table) is touched, so one hostile file
cannot slow every later one. Every other namespace, property and ``dc`` field survives.
The output follows Adobe's own sidecars: ``x:xmpmeta`` / ``rdf:RDF`` / ``rdf:Description``
with no ``<?xpacket?>`` wrapper (optional in a sidecar file per XMP part 3) and no XML
declaration (UTF-8 is implied).

``dc:subject`` is read in every shape tools write: an ``rdf:Bag`` (the standard), an
``rdf:Seq`` or ``rdf:Alt``, a single text value, or an attribute on ``rdf:Description``.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast
from xml.sax.saxutils import escape, quoteattr

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
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_LR = KNOWN_PREFIXES["lr"]

#: How deep a sidecar may nest (Adobe's own are under 10 levels) and how many namespaces it
#: may declare; beyond either it is refused as hostile, never parsed further.
MAX_DEPTH = 64
MAX_NAMESPACES = 256

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
LR_HIERARCHICAL = f"{{{NS_LR}}}hierarchicalSubject"
CONTAINERS = (RDF_BAG, RDF_SEQ, RDF_ALT)
INDENT = " "  # exiftool's indent unit
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


class SidecarError(ValueError):
    """A sidecar that is not well-formed XMP (or is unsafe XML); it is never overwritten."""


@dataclass
class XmpDocument:
    """One parsed XMP packet; ``keywords`` and ``replace_keywords`` act on ``dc:subject``."""

    root: ET.Element
    #: The document's own prefixes by namespace URI (first declaration wins).
    prefixes: dict[str, str] = field(default_factory=dict)

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
        prefixes: dict[str, str] = {}
        depth = 0
        try:
            events = SafeET.iterparse(
                io.BytesIO(data), events=("start", "end", "start-ns"), forbid_dtd=True
            )
            for event, item in events:
                if event == "start":
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise SidecarError(f"nested deeper than {MAX_DEPTH} levels")
                elif event == "end":
                    depth -= 1
                else:
                    prefix, uri = cast("tuple[str, str]", item)
                    prefixes.setdefault(uri, prefix)
                    if len(prefixes) > MAX_NAMESPACES:
                        raise SidecarError(f"declares more than {MAX_NAMESPACES} namespaces")
            root = events.root  # type: ignore[attr-defined]
        except (ET.ParseError, DefusedXmlException) as exc:
            raise SidecarError(f"not well-formed XML: {exc}") from exc
        if root.tag != RDF_RDF and root.find(f".//{RDF_RDF}") is None:
            raise SidecarError("no rdf:RDF element: not an XMP packet")
        return cls(root, prefixes)

    def to_bytes(self) -> bytes:
        """The packet as UTF-8 XML (every namespace declared on the root element)."""
        return _Serializer(self.prefixes).document(self.root).encode("utf-8") + b"\n"

    def remove_hierarchical(self, keywords: Iterable[str]) -> None:
        """Drop ``keywords`` from Lightroom's ``lr:hierarchicalSubject`` (a flat entry, or the
        leaf of a ``a|b|keyword`` path), or Lightroom would put them back in ``dc:subject``."""
        gone = set(keywords)
        if not gone:
            return
        for description in self._descriptions():
            for subject in description.findall(LR_HIERARCHICAL):
                for container in subject:
                    for li in container.findall(RDF_LI):
                        if (li.text or "").rsplit("|", 1)[-1] in gone:
                            _remove_indented(container, li)

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


class _Serializer:
    """XML text of an element tree, with prefixes chosen per document: the known ones for
    their namespaces, the document's own where they clash with nothing, ``nsN`` otherwise."""

    def __init__(self, own: dict[str, str]) -> None:
        self.by_uri: dict[str, str] = {uri: prefix for prefix, uri in KNOWN_PREFIXES.items()}
        self.by_uri[NS_XML] = "xml"
        self.taken = set(self.by_uri.values())
        self.own = own
        self.declared: dict[str, str] = {}

    def _prefix(self, uri: str) -> str:
        prefix = self.by_uri.get(uri)
        if prefix is None:
            wanted = self.own.get(uri, "")
            if not _PREFIX.match(wanted) or wanted in self.taken or wanted.lower() == "xml":
                wanted = next(
                    f"ns{n}" for n in range(len(self.taken) + 1) if f"ns{n}" not in self.taken
                )
            prefix = self.by_uri[uri] = wanted
            self.taken.add(prefix)
        if uri != NS_XML:
            self.declared[uri] = prefix
        return prefix

    def _name(self, tag: str) -> str:
        if tag.startswith("{"):
            uri, local = tag[1:].split("}", 1)
            return f"{self._prefix(uri)}:{local}"
        return tag

    def document(self, root: ET.Element) -> str:
        body: list[str] = []
        stack: list[tuple[ET.Element, bool]] = [(root, False)]
        # Iterative, so depth never meets Python's recursion limit.
        while stack:
            element, closing = stack.pop()
            if closing:
                body.append(f"</{self._name(element.tag)}>{_escape(element.tail or '')}")
                continue
            attributes = "".join(
                f" {self._name(k)}={quoteattr(v)}" for k, v in element.attrib.items()
            )
            head = f"<{self._name(element.tag)}{attributes}"
            if len(element) == 0 and not element.text:
                body.append(f"{head}/>{_escape(element.tail or '')}")
                continue
            body.append(f"{head}>{_escape(element.text or '')}")
            stack.append((element, True))
            stack.extend((child, False) for child in reversed(element))
        declarations = "".join(
            f" xmlns:{prefix}={quoteattr(uri)}" for uri, prefix in self.declared.items()
        )
        first = body[0]
        cut = first.index("/>") if first.endswith("/>") and len(body) == 1 else first.index(">")
        body[0] = first[:cut] + declarations + first[cut:]
        return "".join(body)


def _escape(text: str) -> str:
    return escape(text)

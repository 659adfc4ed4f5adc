"""Salesforce outbound messages: SOAP ``notifications`` checked, parsed and acknowledged.

A workflow rule or flow POSTs a SOAP 1.1 envelope (``Content-Type: text/xml``) holding one
``notifications`` element (namespace ``http://soap.sforce.com/2005/09/outbound``) with
``OrganizationId``, ``ActionId``, ``SessionId`` (nillable; never logged nor kept),
``EnterpriseUrl``, ``PartnerUrl`` and 1 to 100 ``Notification`` elements, each an ``Id``
(the notification id: unique, and the same when the message is delivered again) and an
``sObject`` whose ``xsi:type`` names the object (``sf:Opportunity``) and whose children (in
``urn:sobject.enterprise.soap.sforce.com``) are the chosen fields. The listener answers 200
with ``notificationsResponse`` / ``<Ack>true</Ack>``, or Salesforce retries (backing off up
to 2 h between tries) and drops the message after 24 hours.

Outbound messages are not signed. What tells a real one from a forgery here is a secret last
path segment of the endpoint URL configured in Salesforce, compared in constant time, and
the organisation id, compared with the connection's. Checks run cheapest first and fail
closed with ``InvalidWebhook``: body size, path secret, content type, then the XML, parsed by
``defusedxml`` (no DTDs, entities or external references) into a tree bounded in depth and
element count before anything else reads it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from syncbridge.connector.errors import InvalidWebhook
from syncbridge_salesforce.ids import canonical_id, is_id

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
#: 100 notifications of a few dozen fields are far below this; anything larger is not one.
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_ELEMENTS = 50_000
#: Envelope / Body / notifications / Notification / sObject / field / (compound part).
MAX_DEPTH = 12

ACK_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body>"
    "</soapenv:Envelope>"
).encode()


@dataclass(frozen=True)
class Notification:
    """One notification: its id, the object type and id, and the field values sent (text)."""

    notification_id: str
    sobject: str
    record_id: str
    fields: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    """A verified outbound message (the session id left out on purpose)."""

    organization_id: str
    action_id: str
    notifications: list[Notification]


class _TooLarge(Exception):
    """The document is deeper or has more elements than an outbound message can."""


class _BoundedBuilder(TreeBuilder):
    """A tree builder that stops a document deeper than MAX_DEPTH or longer than MAX_ELEMENTS."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._count = 0

    def start(self, tag: Any, attrs: Any) -> Element:
        self._depth += 1
        self._count += 1
        if self._depth > MAX_DEPTH or self._count > MAX_ELEMENTS:
            raise _TooLarge
        return super().start(tag, attrs)

    def end(self, tag: Any) -> Element:
        self._depth -= 1
        return super().end(tag)


def check_path_secret(url: str, secret: str | None) -> None:
    """The last path segment of ``url`` must be ``secret``; raises InvalidWebhook."""
    if secret is None:
        raise InvalidWebhook("salesforce: no outbound message secret is configured")
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    segment = unquote(path.rstrip("/").rsplit("/", 1)[-1]) if path else ""
    if not hmac.compare_digest(segment.encode(), secret.encode()):
        raise InvalidWebhook("salesforce: outbound message URL does not carry the secret")


def check_content_type(headers: dict[str, str]) -> None:
    """SOAP 1.1 travels as ``text/xml``; raises InvalidWebhook otherwise."""
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "text/xml":
        raise InvalidWebhook("salesforce: an outbound message is text/xml")


def parse_outbound_message(raw_body: bytes, organization_id: str | None) -> OutboundMessage:
    """The notifications of an outbound message from ``organization_id``; else InvalidWebhook."""
    if organization_id is None:
        raise InvalidWebhook("salesforce: no organization id is configured")
    if len(raw_body) > MAX_BODY_BYTES:
        raise InvalidWebhook("salesforce: outbound message too large")
    root = _parse_xml(raw_body)
    body = _only_child(root, SOAP_ENV, "Envelope", SOAP_ENV, "Body")
    notifications = [c for c in body if c.tag == f"{{{OUTBOUND_NS}}}notifications"]
    if len(notifications) != 1:
        raise InvalidWebhook("salesforce: the SOAP body holds no notifications element")
    element = notifications[0]
    org = _text(element, "OrganizationId")
    if org is None or not is_id(org) or canonical_id(org) != organization_id:
        raise InvalidWebhook("salesforce: outbound message from another organization")
    action = _text(element, "ActionId")
    items = element.findall(f"{{{OUTBOUND_NS}}}Notification")
    if action is None or not 1 <= len(items) <= MAX_NOTIFICATIONS:
        raise InvalidWebhook("salesforce: outbound message without 1 to 100 notifications")
    return OutboundMessage(canonical_id(org), action, [_notification(n) for n in items])


def _parse_xml(raw_body: bytes) -> Element:
    parser = DefusedXMLParser(target=_BoundedBuilder(), forbid_dtd=True)
    try:
        parser.feed(raw_body)
        root: Element = parser.close()
    except _TooLarge:
        raise InvalidWebhook("salesforce: outbound message too deep or too long") from None
    except (ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        # LookupError: an unknown encoding in the XML declaration.
        raise InvalidWebhook(f"salesforce: not a SOAP message ({type(exc).__name__})") from None
    return root


def _only_child(root: Element, ns: str, name: str, child_ns: str, child: str) -> Element:
    if root.tag != f"{{{ns}}}{name}":
        raise InvalidWebhook("salesforce: not a SOAP envelope")
    found = root.find(f"{{{child_ns}}}{child}")
    if found is None:
        raise InvalidWebhook("salesforce: SOAP envelope without a body")
    return found


def _text(parent: Element, name: str) -> str | None:
    found = parent.findall(f"{{{OUTBOUND_NS}}}{name}")
    if len(found) != 1:
        return None
    text = (found[0].text or "").strip()
    return text or None


def _notification(element: Element) -> Notification:
    notification_id = _text(element, "Id")
    sobjects = element.findall(f"{{{OUTBOUND_NS}}}sObject")
    if notification_id is None or not is_id(notification_id) or len(sobjects) != 1:
        raise InvalidWebhook("salesforce: a notification without an id or an sObject")
    sobject = sobjects[0]
    xsi_type = sobject.get(f"{{{XSI_NS}}}type", "")
    type_name = xsi_type.rsplit(":", 1)[-1]
    fields: dict[str, str | None] = {}
    for child in sobject:
        if not child.tag.startswith(f"{{{SOBJECT_NS}}}"):
            continue
        name = child.tag[len(SOBJECT_NS) + 2 :]
        nil = child.get(f"{{{XSI_NS}}}nil") == "true"
        fields[name] = None if nil else (child.text or "")
    record_id = fields.get("Id")
    if not type_name.isidentifier() or record_id is None or not is_id(record_id):
        raise InvalidWebhook("salesforce: a notification's sObject has no type or id")
    return Notification(canonical_id(notification_id), type_name, canonical_id(record_id), fields)


__all__ = [
    "ACK_ENVELOPE",
    "MAX_NOTIFICATIONS",
    "Notification",
    "OutboundMessage",
    "check_content_type",
    "check_path_secret",
    "parse_outbound_message",
]

"""Outbound messages as the simulated org sends them: SOAP ``notifications`` envelopes.

The shape follows the outbound messaging WSDL: ``OrganizationId``, ``ActionId``,
``SessionId`` (``xsi:nil`` unless a session is sent), ``EnterpriseUrl``, ``PartnerUrl`` and
1 to 100 ``Notification`` elements of ``Id`` + ``sObject`` (``xsi:type="sf:<Object>"``,
fields in ``urn:sobject.enterprise.soap.sforce.com``; empty fields ``xsi:nil``). Sent as
``Content-Type: text/xml; charset=utf-8`` with ``SOAPAction: ""``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from syncbridge_salesforce.ids import to_18
from syncbridge_salesforce.outbound import OUTBOUND_NS, SOAP_ENV, SOBJECT_NS, XSI_NS
from syncbridge_salesforce.sim_org import KEY_PREFIXES

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


def derived_id(sobject: str, *parts: object) -> str:
    """A stable 18-character id derived from ``parts`` (same parts, same id)."""
    digest = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8])
    digits = ""
    for _ in range(12):
        digest, rest = divmod(digest, 62)
        digits += _BASE62[rest]
    return to_18(KEY_PREFIXES[sobject] + digits)


def soap_text(value: Any) -> str:
    """A typed value as SOAP sends it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def envelope(
    *,
    organization_id: str,
    action_id: str,
    session_id: str | None,
    instance_url: str,
    version: str,
    notifications: Sequence[tuple[str, str, Mapping[str, Any]]],
) -> bytes:
    """The SOAP message for ``(notification id, sObject type, fields)`` notifications."""
    number = version.removeprefix("v")
    session = (
        f"<SessionId>{escape(session_id)}</SessionId>"
        if session_id
        else '<SessionId xsi:nil="true"/>'
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="{XSI_NS}">',
        "<soapenv:Body>",
        f'<notifications xmlns="{OUTBOUND_NS}">',
        f"<OrganizationId>{organization_id}</OrganizationId>",
        f"<ActionId>{action_id}</ActionId>",
        session,
        f"<EnterpriseUrl>{escape(instance_url)}/services/Soap/c/{number}/"
        f"{organization_id[:15]}</EnterpriseUrl>",
        f"<PartnerUrl>{escape(instance_url)}/services/Soap/u/{number}/"
        f"{organization_id[:15]}</PartnerUrl>",
    ]
    for notification_id, sobject, fields in notifications:
        parts.append(f"<Notification><Id>{notification_id}</Id>")
        parts.append(f'<sObject xsi:type={quoteattr("sf:" + sobject)} xmlns:sf="{SOBJECT_NS}">')
        for name, value in fields.items():
            if value is None:
                parts.append(f'<sf:{name} xsi:nil="true"/>')
            else:
                parts.append(f"<sf:{name}>{escape(soap_text(value))}</sf:{name}>")
        parts.append("</sObject></Notification>")
    parts += ["</notifications>", "</soapenv:Body>", "</soapenv:Envelope>"]
    return "".join(parts).encode()


__all__ = ["HEADERS", "derived_id", "envelope", "soap_text"]

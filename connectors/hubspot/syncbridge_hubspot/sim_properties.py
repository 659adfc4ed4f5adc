"""The simulated properties API: each object type's properties with HubSpot's types."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MODIFIED = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}

#: (name, label, type, fieldType) of each simulated property, per object type.
PROPERTY_DEFINITIONS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "contacts": (
        ("email", "Email", "string", "text"),
        ("firstname", "First Name", "string", "text"),
        ("lastname", "Last Name", "string", "text"),
        ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio"),
        ("associatedcompanyid", "Primary Associated Company ID", "number", "number"),
        ("hs_analytics_source", "Original Traffic Source", "enumeration", "select"),
        ("hs_analytics_source_data_1", "Original Traffic Source Drill-Down 1", "string", "text"),
        ("hs_analytics_source_data_2", "Original Traffic Source Drill-Down 2", "string", "text"),
        ("hs_analytics_first_url", "First Page Seen", "string", "text"),
        (
            "hs_analytics_first_touch_converting_campaign",
            "First Touch Converting Campaign",
            "string",
            "text",
        ),
        ("createdate", "Create Date", "datetime", "date"),
        ("lastmodifieddate", "Last Modified Date", "datetime", "date"),
        ("hs_object_id", "Record ID", "number", "number"),
    ),
    "companies": (
        ("name", "Company name", "string", "text"),
        ("domain", "Company Domain Name", "string", "text"),
        ("industry", "Industry", "enumeration", "select"),
        ("createdate", "Create Date", "datetime", "date"),
        ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
        ("hs_object_id", "Record ID", "number", "number"),
    ),
    "deals": (
        ("dealname", "Deal Name", "string", "text"),
        ("amount", "Amount", "number", "number"),
        ("deal_currency_code", "Currency", "enumeration", "select"),
        ("dealstage", "Deal Stage", "enumeration", "radio"),
        ("pipeline", "Pipeline", "enumeration", "select"),
        ("closedate", "Close Date", "datetime", "date"),
        ("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox"),
        ("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox"),
        ("hs_campaign", "HubSpot Campaign", "string", "text"),
        ("hs_analytics_source", "Original Traffic Source", "enumeration", "select"),
        ("createdate", "Create Date", "datetime", "date"),
        ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
        ("hs_object_id", "Record ID", "number", "number"),
    ),
}


def industry_code(industry: str) -> str:
    """The enumeration value of an industry (``Financial Services`` -> ``FINANCIAL_SERVICES``)."""
    return industry.upper().replace(" ", "_")


def property_definitions(kind: str, industries: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The properties API's answer items for ``kind`` (``industries``: the industry options)."""
    out = []
    for order, (name, label, prop_type, field_type) in enumerate(PROPERTY_DEFINITIONS[kind]):
        options: list[dict[str, Any]] = []
        if name == "industry":
            options = [
                {"label": i, "value": industry_code(i), "displayOrder": n, "hidden": False}
                for n, i in enumerate(industries)
            ]
        elif prop_type == "bool":
            options = [
                {"label": "True", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "False", "value": "false", "displayOrder": 1, "hidden": False},
            ]
        out.append(
            {
                "name": name,
                "label": label,
                "type": prop_type,
                "fieldType": field_type,
                "description": "",
                "groupName": f"{SINGULAR[kind]}information",
                "options": options,
                "displayOrder": order,
                "calculated": False,
                "externalOptions": False,
                "hasUniqueValue": name == "hs_object_id",
                "hidden": False,
                "hubspotDefined": True,
                "formField": prop_type == "string",
                "modificationMetadata": {
                    "archivable": False,
                    "readOnlyDefinition": True,
                    "readOnlyValue": name in ("createdate", MODIFIED[kind], "hs_object_id"),
                },
            }
        )
    return out


__all__ = ["MODIFIED", "PROPERTY_DEFINITIONS", "SINGULAR", "industry_code", "property_definitions"]

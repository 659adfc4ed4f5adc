"""The simulated Salesforce org: sObject tables built from the sandbox ``World``.

Accounts (the world's companies), Campaigns (its campaigns, with the custom fields
``UTM_Source__c``, ``UTM_Medium__c``, ``UTM_Campaign__c`` = the campaign key, and
``DAM_Asset_Ids__c`` = the ids of the assets the campaign used, ``;``-separated), Contacts,
CampaignMembers (each contact in its first-touch campaign) and Opportunities (the world's
deals, ``CampaignId`` = the primary campaign). Ids are deterministic 18-character ids with
each object's key prefix.

Each table keeps its rows as typed Python values (for filters), their JSON form (for
answers; replaced, never mutated, so a query's snapshot stays as it was) and a sorted
``(SystemModstamp, Id)`` index, so a read ordered that way costs about the page it returns.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from syncbridge.sandbox.world import World
from syncbridge_salesforce.ids import to_18

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "CampaignMember": "00v",
    "Campaign": "701",
    "Organization": "00D",
    "User": "005",
    "QueryLocator": "01g",
    "WorkflowOutboundMessage": "04k",
    "Notification": "04l",
}
STAGES = {
    "appointmentscheduled": ("Prospecting", 10.0),
    "qualifiedtobuy": ("Qualification", 10.0),
    "presentationscheduled": ("Value Proposition", 50.0),
    "decisionmakerboughtin": ("Id. Decision Makers", 60.0),
    "contractsent": ("Negotiation/Review", 90.0),
    "closedwon": ("Closed Won", 100.0),
    "closedlost": ("Closed Lost", 0.0),
}
CAMPAIGN_TYPES = {
    "email": "Email",
    "display": "Banner Ads",
    "website": "Partners",
    "organic-social": "Public Relations",
}
SUBJECT_TYPES = {"webinar-series": "Webinar", "trade-show": "Trade Show"}

_AUDIT = {"CreatedDate": "datetime", "LastModifiedDate": "datetime", "SystemModstamp": "datetime"}
#: object -> field -> type (custom fields end in ``__c``; references in REFERENCES)
SCHEMA: dict[str, dict[str, str]] = {
    "Account": {
        "Id": "id", "IsDeleted": "boolean", "Name": "string", "Website": "url",
        "Industry": "picklist", **_AUDIT,
    },
    "Campaign": {
        "Id": "id", "IsDeleted": "boolean", "Name": "string", "ParentId": "reference",
        "Type": "picklist", "Status": "picklist", "StartDate": "date", "EndDate": "date",
        "IsActive": "boolean", "BudgetedCost": "currency", "ActualCost": "currency",
        "Description": "textarea", **_AUDIT, "UTM_Source__c": "string",
        "UTM_Medium__c": "string", "UTM_Campaign__c": "string", "DAM_Asset_Ids__c": "textarea",
    },
    "CampaignMember": {
        "Id": "id", "IsDeleted": "boolean", "CampaignId": "reference",
        "ContactId": "reference", "LeadId": "reference", "Status": "picklist",
        "HasResponded": "boolean", "FirstRespondedDate": "date", **_AUDIT,
    },
    "Contact": {
        "Id": "id", "IsDeleted": "boolean", "AccountId": "reference", "FirstName": "string",
        "LastName": "string", "Name": "string", "Email": "email", "LeadSource": "picklist",
        **_AUDIT,
    },
    "Opportunity": {
        "Id": "id", "IsDeleted": "boolean", "AccountId": "reference",
        "CampaignId": "reference", "Name": "string", "Amount": "currency",
        "StageName": "picklist", "Probability": "percent", "CloseDate": "date",
        "IsClosed": "boolean", "IsWon": "boolean", "Type": "picklist",
        "LeadSource": "picklist", **_AUDIT,
    },
}  # fmt: skip
REFERENCES = {
    "ParentId": "Campaign",
    "CampaignId": "Campaign",
    "ContactId": "Contact",
    "LeadId": "Lead",
    "AccountId": "Account",
}


def sf_id(sobject: str, number: int) -> str:
    """The deterministic 18-character id of record ``number`` of ``sobject``."""
    digits = ""
    for _ in range(9):
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    return to_18(f"{KEY_PREFIXES[sobject]}Hs0{digits}")


def json_value(kind: str, value: Any) -> Any:
    """A typed value in Salesforce's JSON form."""
    if value is None:
        return None
    if kind == "datetime":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if kind == "date":
        return value.isoformat()
    return value


@dataclass
class Table:
    """One sObject's rows, their JSON form, and the ``(SystemModstamp, Id)`` index."""

    name: str
    types: Mapping[str, str]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    json: dict[str, dict[str, Any]] = field(default_factory=dict)
    index: list[tuple[datetime, str]] = field(default_factory=list)

    def put(self, row: dict[str, Any]) -> None:
        """Insert or replace a row (its JSON form is replaced, never mutated)."""
        record_id = row["Id"]
        old = self.rows.get(record_id)
        if old is not None:
            del self.index[bisect.bisect_left(self.index, (old["SystemModstamp"], record_id))]
        self.rows[record_id] = row
        self.json[record_id] = {k: json_value(self.types[k], row.get(k)) for k in self.types}
        bisect.insort(self.index, (row["SystemModstamp"], record_id))

    def from_stamp(self, floor: datetime | None) -> Iterable[str]:
        """Ids in ``(SystemModstamp, Id)`` order from the first at or after ``floor``."""
        start = 0 if floor is None else bisect.bisect_left(self.index, (floor, ""))
        return (record_id for _, record_id in self.index[start:])


class Org:
    """The org's tables, filled from the world, and the changes tests make to them."""

    def __init__(self, world: World, *, clock: Callable[[], datetime] | None = None) -> None:
        self.world = world
        self.clock = clock or (lambda: datetime.now(UTC))
        self.organization_id = sf_id("Organization", world.seed)
        self.user_id = sf_id("User", world.seed)
        self.tables = {name: Table(name, types) for name, types in SCHEMA.items()}
        self.latest = datetime(2000, 1, 1, tzinfo=UTC)
        self.account_ids = {c.id: sf_id("Account", c.index) for c in world.companies}
        self.campaign_ids = {c.key: sf_id("Campaign", c.index) for c in world.campaigns}
        self.contact_ids = {c.id: sf_id("Contact", c.index) for c in world.contacts}
        self.opportunity_ids = {d.id: sf_id("Opportunity", d.index) for d in world.deals}
        self._next_number = 10_000_000
        self._fill()

    # -- reading -----------------------------------------------------------------------------

    def table_of(self, record_id: str) -> Table | None:
        """The table whose key prefix ``record_id`` carries."""
        for name, table in self.tables.items():
            if record_id.startswith(KEY_PREFIXES[name]):
                return table
        return None

    def live_ids(self, sobject: str) -> set[str]:
        """Ids of the rows not deleted."""
        return {i for i, row in self.tables[sobject].rows.items() if not row["IsDeleted"]}

    # -- changing ----------------------------------------------------------------------------

    def next_stamp(self) -> datetime:
        """Now, to the second, never before the latest stamp in the org (ties allowed)."""
        now = self.clock().astimezone(UTC).replace(microsecond=0)
        self.latest = max(self.latest, now)
        return self.latest

    def update(self, sobject: str, record_id: str, **values: Any) -> dict[str, Any]:
        """Change fields of a row as a user would: ``LastModifiedDate``/``SystemModstamp`` move."""
        table = self.tables[sobject]
        row = dict(table.rows[record_id])
        unknown = set(values) - set(table.types)
        if unknown:
            raise KeyError(f"{sobject} has no field {sorted(unknown)}")
        stamp = values.pop("SystemModstamp", None) or self.next_stamp()
        row.update(values, LastModifiedDate=stamp, SystemModstamp=stamp)
        self.latest = max(self.latest, stamp)
        table.put(row)
        return row

    def delete(self, sobject: str, record_id: str) -> None:
        """Move a row to the recycle bin (``IsDeleted``; only ``queryAll`` still sees it)."""
        self.update(sobject, record_id, IsDeleted=True)

    def insert(self, sobject: str, **values: Any) -> str:
        """A new row; returns its id."""
        self._next_number += 1
        stamp = self.next_stamp()
        row = dict.fromkeys(SCHEMA[sobject])
        row.update(
            Id=sf_id(sobject, self._next_number),
            IsDeleted=False,
            CreatedDate=stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
        )
        row.update(values)
        self.tables[sobject].put(row)
        return str(row["Id"])

    # -- the world ---------------------------------------------------------------------------

    def _add(self, sobject: str, created: datetime, modified: datetime, **values: Any) -> None:
        row = dict.fromkeys(SCHEMA[sobject])
        row.update(values, IsDeleted=False, CreatedDate=created)
        row.update(LastModifiedDate=modified, SystemModstamp=modified)
        self.latest = max(self.latest, modified)
        self.tables[sobject].put(row)

    def _fill(self) -> None:
        w = self.world
        for company in w.companies:
            self._add(
                "Account",
                company.created_at,
                company.modified_at,
                Id=self.account_ids[company.id],
                Name=company.name,
                Website=f"https://{company.domain}",
                Industry=company.industry,
            )
        for campaign in w.campaigns:
            self._add_campaign(campaign)
        for contact in w.contacts:
            self._add_contact(contact)
        for deal in w.deals:
            stage, probability = STAGES[deal.stage]
            self._add(
                "Opportunity",
                deal.created_at,
                deal.modified_at,
                Id=self.opportunity_ids[deal.id],
                AccountId=self.account_ids[deal.company_id],
                CampaignId=self.campaign_ids[deal.campaign_key],
                Name=deal.name[:120],
                Amount=float(deal.amount),
                StageName=stage,
                Probability=probability,
                CloseDate=deal.close_date,
                IsClosed=deal.is_closed,
                IsWon=deal.is_won,
                Type="New Customer",
                LeadSource="Web",
            )

    def _add_campaign(self, campaign: Any) -> None:
        w = self.world
        today = w.analytics_end  # the sandbox's "today" (world API)
        start, end = campaign.start.date(), campaign.end.date()
        status = "Planned" if today < start else "Completed" if today > end else "In Progress"
        spent = random.Random(f"sf-campaign:{w.seed}:{campaign.index}").uniform(0.7, 1.1)
        if status == "In Progress":
            spent *= (today - start).days / max(1, (end - start).days)
        subject = campaign.key.rsplit("-", 2)[0]
        kind = SUBJECT_TYPES.get(subject) or CAMPAIGN_TYPES.get(campaign.channel, "Advertisement")
        assets = w.campaign_assets(campaign.key)
        self._add(
            "Campaign",
            campaign.start - timedelta(days=14),
            campaign.modified_at,
            Id=self.campaign_ids[campaign.key],
            Name=campaign.name[:80],
            Type=kind,
            Status=status,
            StartDate=start,
            EndDate=end,
            IsActive=status == "In Progress",
            BudgetedCost=float(campaign.budget),
            ActualCost=0.0 if status == "Planned" else round(float(campaign.budget) * spent, 2),
            UTM_Source__c=campaign.utm_source,
            UTM_Medium__c=campaign.utm_medium,
            UTM_Campaign__c=campaign.utm_campaign,
            DAM_Asset_Ids__c=";".join(w.utm_content(a) for a in assets) or None,
        )

    def _add_contact(self, contact: Any) -> None:
        campaign = self.world.campaign(contact.campaign_key)
        contact_id = self.contact_ids[contact.id]
        self._add(
            "Contact",
            contact.created_at,
            contact.modified_at,
            Id=contact_id,
            AccountId=self.account_ids[contact.company_id],
            FirstName=contact.first_name,
            LastName=contact.last_name,
            Name=f"{contact.first_name} {contact.last_name}",
            Email=contact.email,
            LeadSource="Partner Referral" if campaign.channel == "website" else "Web",
        )
        responded = contact.lifecycle_stage != "lead"
        self._add(
            "CampaignMember",
            contact.created_at,
            contact.created_at,
            Id=sf_id("CampaignMember", contact.index),
            CampaignId=self.campaign_ids[contact.campaign_key],
            ContactId=contact_id,
            Status="Responded" if responded else "Sent",
            HasResponded=responded,
            FirstRespondedDate=contact.created_at.date() if responded else None,
        )


def describe(sobject: str, version: str, root: str = "") -> dict[str, Any]:
    """The object's describe answer (the parts clients read: fields and their types)."""
    fields = [_field_describe(name, kind) for name, kind in SCHEMA[sobject].items()]
    base = f"{root}/services/data/{version}/sobjects/{sobject}"
    return {
        "name": sobject,
        "label": sobject,
        "labelPlural": f"{sobject}s",
        "keyPrefix": KEY_PREFIXES[sobject],
        "custom": False,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "createable": False,
        "updateable": False,
        "deletable": False,
        "fields": fields,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "currency": "xsd:double",
    "double": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date",
    "datetime": "xsd:dateTime",
}  # fmt: skip


def _field_describe(name: str, kind: str) -> dict[str, Any]:
    numeric = kind in ("currency", "double", "percent")
    return {
        "name": name,
        "label": name.removesuffix("__c").replace("_", " "),
        "type": kind,
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "length": 255 if kind in ("string", "picklist", "url", "email") else 0,
        "precision": 18 if numeric else 0,
        "scale": 2 if numeric else 0,
        "nillable": name not in ("Id", "IsDeleted", "CreatedDate", "SystemModstamp"),
        "custom": name.endswith("__c"),
        "referenceTo": [REFERENCES[name]] if kind == "reference" else [],
        "relationshipName": name.removesuffix("Id") if kind == "reference" else None,
        "filterable": True,
        "sortable": kind != "textarea",
    }


__all__ = ["KEY_PREFIXES", "SCHEMA", "Org", "Table", "describe", "json_value", "sf_id"]

"""The simulated HubSpot CRM: contacts, companies and deals drawn from the sandbox ``World``.

Every property value is stored as the string HubSpot would send (numbers as decimal text,
datetimes as ISO 8601 with milliseconds and ``Z``, booleans as ``true``/``false``). Records
are indexed for listing (ids in numeric order, active and archived apart) and for search
(``(modified ms, id)`` pairs in order), so a page costs about the page.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from syncbridge.sandbox.world import Campaign, Contact, SandboxAsset, World
from syncbridge_hubspot.sim_properties import MODIFIED, industry_code

OBJECT_TYPES = ("contacts", "companies", "deals")
#: Object type id (``0-1`` ...) and singular, as HubSpot names them.
TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
#: First id of each object type: same width within a type, so text order is numeric order.
ID_BASE = {"contacts": 30_000_000_000, "companies": 20_000_000_000, "deals": 40_000_000_000}
#: Properties returned when a request names none (hubspot-api-client docstrings).
DEFAULT_PROPERTIES = {
    "contacts": ("firstname", "lastname", "email"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
}
#: Properties every answer carries, asked for or not.
ALWAYS = ("createdate", "hs_object_id")
#: Properties ``query`` searches (the object's default searchable properties).
SEARCHABLE = {
    "contacts": ("firstname", "lastname", "email"),
    "companies": ("name", "domain"),
    "deals": ("dealname",),
}
#: utm_medium -> HubSpot's ``hs_analytics_source`` value.
SOURCE_OF_MEDIUM = {
    "paid_social": "PAID_SOCIAL",
    "cpc": "PAID_SEARCH",
    "display": "OTHER_CAMPAIGNS",
    "email": "EMAIL_MARKETING",
    "organic_social": "SOCIAL_MEDIA",
    "referral": "REFERRALS",
}
WEBSITE = "https://www.example.com"
#: (from, to) -> (HubSpot-defined association type id, its name in v3 answers).
ASSOCIATION_TYPES = {
    ("deals", "contacts"): (3, "deal_to_contact"),
    ("contacts", "deals"): (4, "contact_to_deal"),
    ("deals", "companies"): (341, "deal_to_company"),
    ("companies", "deals"): (342, "company_to_deal"),
    ("contacts", "companies"): (279, "contact_to_company"),
    ("companies", "contacts"): (280, "company_to_contact"),
}


def sandbox_present(world: World) -> datetime:
    """The sandbox's "now": ``analytics_end`` at 18:00 UTC, and never before any record."""
    present = datetime.combine(world.analytics_end, time(18, 0), tzinfo=UTC)
    latest = [
        *(c.modified_at for c in world.campaigns),
        *(c.modified_at for c in world.companies),
        *(c.modified_at for c in world.contacts),
        *(d.modified_at for d in world.deals),
    ]
    return max([present, *latest])


def hubspot_time(at: datetime) -> str:
    """HubSpot's datetime text: ISO 8601 in UTC with milliseconds and ``Z``."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def epoch_ms(at: datetime) -> int:
    """``at`` in epoch milliseconds."""
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def number_text(value: Decimal | int) -> str:
    """A number as HubSpot writes it: no exponent, no trailing zeros."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def tracked_url(campaign: Campaign, asset: SandboxAsset, world: World) -> str:
    """The landing-page URL an asset's links lead to, with the campaign's UTM parameters."""
    query = urlencode(
        {
            "utm_source": campaign.utm_source,
            "utm_medium": campaign.utm_medium,
            "utm_campaign": campaign.utm_campaign,
            "utm_content": world.utm_content(asset),
        }
    )
    return f"{WEBSITE}{world.page_path(asset)}?{query}"


@dataclass
class SimObject:
    """One CRM record: its property strings and its lifecycle."""

    id: str
    properties: dict[str, str | None]
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    archived_at: datetime | None = None


@dataclass
class ObjectTable:
    """The records of one object type, with their listing and search indexes."""

    kind: str
    records: dict[str, SimObject] = field(default_factory=dict)
    active: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    #: ``(modified ms, id)`` of active records, ascending.
    by_modified: list[tuple[int, str]] = field(default_factory=list)

    def add(self, record: SimObject) -> None:
        self.records[record.id] = record
        bisect.insort(self.archived if record.archived else self.active, record.id, key=_id_key)
        if not record.archived:
            bisect.insort(self.by_modified, (epoch_ms(record.updated_at), record.id))

    def remove(self, record_id: str) -> SimObject:
        record = self.records.pop(record_id)
        ids = self.archived if record.archived else self.active
        del ids[bisect.bisect_left(ids, _id_key(record_id), key=_id_key)]
        if not record.archived:
            entry = (epoch_ms(record.updated_at), record.id)
            del self.by_modified[bisect.bisect_left(self.by_modified, entry)]
        return record

    def page(
        self, *, archived: bool, after: str | None, limit: int
    ) -> tuple[list[str], str | None]:
        """Ids from ``after`` (inclusive, HubSpot's next id) and the next page's ``after``."""
        ids = self.archived if archived else self.active
        start = 0 if after is None else bisect.bisect_left(ids, _id_key(after), key=_id_key)
        chunk = ids[start : start + limit]
        following = ids[start + limit] if start + limit < len(ids) else None
        return chunk, following


def _id_key(record_id: str) -> tuple[int, str]:
    return (len(record_id), record_id)


class CrmStore:
    """Contacts, companies and deals of one portal, and their associations."""

    def __init__(self, world: World, now: Callable[[], datetime]) -> None:
        self.world = world
        self.now = now
        self.tables = {kind: ObjectTable(kind) for kind in OBJECT_TYPES}
        #: (from type, to type) -> from id -> to ids (numeric order).
        self.links: dict[tuple[str, str], dict[str, list[str]]] = {
            pair: {} for pair in ASSOCIATION_TYPES
        }
        self.world_ids: dict[str, dict[str, str]] = {kind: {} for kind in OBJECT_TYPES}
        self.industries = sorted({c.industry for c in world.companies})
        self._load(world)

    def hubspot_id(self, kind: str, world_id: str) -> str:
        """The HubSpot id of a world record."""
        return self.world_ids[kind][world_id]

    def _load(self, world: World) -> None:
        company_ids = {c.id: str(ID_BASE["companies"] + c.index + 1) for c in world.companies}
        contact_ids = {c.id: str(ID_BASE["contacts"] + c.index + 1) for c in world.contacts}
        for kind, ids in (("companies", company_ids), ("contacts", contact_ids)):
            self.world_ids[kind] = ids
        for company in world.companies:
            props = {
                "name": company.name,
                "domain": company.domain,
                "industry": industry_code(company.industry),
            }
            self._add(
                "companies", company_ids[company.id], props, company.created_at, company.modified_at
            )
        for contact in world.contacts:
            self._add_contact(contact, company_ids[contact.company_id], contact_ids[contact.id])
        for deal in world.deals:
            deal_id = str(ID_BASE["deals"] + deal.index + 1)
            self.world_ids["deals"][deal.id] = deal_id
            campaign = world.campaign(deal.campaign_key)
            props = {
                "dealname": deal.name,
                "amount": number_text(deal.amount),
                "deal_currency_code": deal.currency,
                "dealstage": deal.stage,
                "pipeline": "default",
                "closedate": hubspot_time(datetime.combine(deal.close_date, time(), tzinfo=UTC)),
                "hs_is_closed": _bool(deal.is_closed),
                "hs_is_closed_won": _bool(deal.is_won),
                "hs_campaign": campaign.id,
                "hs_analytics_source": SOURCE_OF_MEDIUM.get(campaign.utm_medium, "OTHER_CAMPAIGNS"),
            }
            self._add("deals", deal_id, props, deal.created_at, deal.modified_at)
            self.associate("deals", deal_id, "companies", [company_ids[deal.company_id]])
            self.associate("deals", deal_id, "contacts", [contact_ids[c] for c in deal.contact_ids])

    def _add_contact(self, contact: Contact, company_id: str, contact_id: str) -> None:
        campaign = self.world.campaign(contact.campaign_key)
        # The campaign's assets are every len(campaigns)-th asset from its index on: pick
        # one by the contact's index without building the campaign's whole asset list.
        step = len(self.world.campaigns)
        used = len(range(campaign.index, self.world.assets_count, step))
        first_url = (
            tracked_url(
                campaign,
                self.world.asset(campaign.index + step * (contact.index % used)),
                self.world,
            )
            if used
            else f"{WEBSITE}/"
        )
        props = {
            "email": contact.email,
            "firstname": contact.first_name,
            "lastname": contact.last_name,
            "lifecyclestage": contact.lifecycle_stage,
            "associatedcompanyid": company_id,
            "hs_analytics_source": SOURCE_OF_MEDIUM.get(campaign.utm_medium, "OTHER_CAMPAIGNS"),
            "hs_analytics_source_data_1": campaign.utm_source,
            "hs_analytics_source_data_2": campaign.utm_campaign,
            "hs_analytics_first_url": first_url,
            "hs_analytics_first_touch_converting_campaign": campaign.id,
        }
        self._add("contacts", contact_id, props, contact.created_at, contact.modified_at)
        self.associate("contacts", contact_id, "companies", [company_id])

    def _add(
        self,
        kind: str,
        record_id: str,
        props: Mapping[str, str | None],
        created: datetime,
        modified: datetime,
    ) -> SimObject:
        properties: dict[str, str | None] = dict(props)
        properties["createdate"] = hubspot_time(created)
        properties[MODIFIED[kind]] = hubspot_time(modified)
        properties["hs_object_id"] = record_id
        record = SimObject(record_id, properties, created, modified)
        self.tables[kind].add(record)
        return record

    def associate(self, kind: str, record_id: str, to_kind: str, to_ids: Iterable[str]) -> None:
        """Link ``record_id`` to ``to_ids`` both ways (HubSpot associations are paired)."""
        forward = self.links[(kind, to_kind)].setdefault(record_id, [])
        for to_id in to_ids:
            if to_id not in forward:
                bisect.insort(forward, to_id, key=_id_key)
            back = self.links[(to_kind, kind)].setdefault(to_id, [])
            if record_id not in back:
                bisect.insort(back, record_id, key=_id_key)

    def associated(self, kind: str, record_id: str, to_kind: str) -> list[str]:
        """Ids of ``to_kind`` linked to the record (active ones only)."""
        table = self.tables[to_kind].records
        ids = self.links[(kind, to_kind)].get(record_id, [])
        return [i for i in ids if i in table and not table[i].archived]

    # ----- changes ------------------------------------------------------------------------

    def modify(self, kind: str, record_id: str, changes: Mapping[str, str | None]) -> SimObject:
        """Set properties (as people do in HubSpot), bumping the modification time."""
        table = self.tables[kind]
        record = table.remove(record_id)
        record.properties.update(changes)
        record.updated_at = max(self.now(), record.updated_at + timedelta(milliseconds=1))
        record.properties[MODIFIED[kind]] = hubspot_time(record.updated_at)
        table.add(record)
        return record

    def archive(self, kind: str, record_id: str) -> SimObject:
        """Archive (delete) a record: it leaves listings and search, ``archived=true`` lists it."""
        table = self.tables[kind]
        record = table.remove(record_id)
        record.archived, record.archived_at = True, self.now()
        record.updated_at = record.archived_at
        record.properties[MODIFIED[kind]] = hubspot_time(record.updated_at)
        table.add(record)
        return record

    def create(self, kind: str, props: Mapping[str, str | None]) -> SimObject:
        """A new record with the next id."""
        table = self.tables[kind]
        last = max((int(i) for i in table.records), default=ID_BASE[kind])
        at = self.now()
        return self._add(kind, str(last + 1), props, at, at)


def _bool(value: bool) -> str:
    return "true" if value else "false"


__all__ = [
    "ALWAYS",
    "ASSOCIATION_TYPES",
    "DEFAULT_PROPERTIES",
    "OBJECT_TYPES",
    "SEARCHABLE",
    "TYPE_IDS",
    "CrmStore",
    "ObjectTable",
    "SimObject",
    "epoch_ms",
    "hubspot_time",
    "number_text",
    "sandbox_present",
    "tracked_url",
]

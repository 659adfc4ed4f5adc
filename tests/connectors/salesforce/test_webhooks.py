"""Outbound messages (QUALITY R3 for Salesforce): valid ones accepted, forgeries refused.

Outbound messages are not signed, so the matrix is: another org's id, a wrong or missing
path secret, wrong method or content type, malformed XML, XML bombs (entities, external
references, DTDs, depth, length), and shapes outside the WSDL; nothing but the valid
fixtures gives events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from defusedxml.ElementTree import fromstring
from syncbridge_salesforce import SalesforceConnector
from syncbridge_salesforce.ids import to_18
from syncbridge_salesforce.outbound import OUTBOUND_NS, SOAP_ENV
from syncbridge_salesforce.simulator import SalesforceSimulator

from syncbridge.connector.errors import InvalidWebhook

from .support import client_for, connector_for, make_simulator

SECRET = "outbound-path-secret-0123456789"
ENDPOINT = "https://syncbridge.example.com/webhooks/7f3c"
URL = f"{ENDPOINT}/{SECRET}"


@pytest.fixture
def sim() -> SalesforceSimulator:
    return make_simulator(outbound_endpoint=ENDPOINT, outbound_secret=SECRET)


@pytest.fixture
async def connector(sim: SalesforceSimulator) -> AsyncIterator[SalesforceConnector]:
    async with client_for(sim) as client:
        yield connector_for(sim, client)


def opportunities(sim: SalesforceSimulator, n: int = 3) -> list[str]:
    return sorted(sim.org.live_ids("Opportunity"))[:n]


def message(sim: SalesforceSimulator, ids: list[str] | None = None) -> tuple[dict[str, str], bytes]:
    headers, body, url = sim.outbound_message(ids or opportunities(sim))
    assert url == URL
    return headers, body


def soap(notifications: str, org: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f'<notifications xmlns="{OUTBOUND_NS}"><OrganizationId>{org}</OrganizationId>'
        '<ActionId>04kHs0000000001AAA</ActionId><SessionId xsi:nil="true"/>'
        f"{notifications}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def notification(number: int, record_id: str) -> str:
    return (
        f"<Notification><Id>{to_18(f'04lHs{number:010d}')}</Id>"
        '<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{record_id}</sf:Id></sObject></Notification>"
    )


# ----- valid messages ----------------------------------------------------------------------


async def test_each_notification_is_an_event_keyed_by_its_notification_id(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    ids = opportunities(sim)
    headers, body = message(sim, ids)
    events = await connector.parse_webhook(headers, body, url=URL)
    assert [e.external_id for e in events] == ids
    assert {e.stream for e in events} == {"Opportunity"}
    assert {e.action for e in events} == {"updated"}
    assert len({e.delivery_key for e in events}) == 3
    assert all(e.delivery_key.startswith("04l") and len(e.delivery_key) == 18 for e in events)
    row = sim.org.tables["Opportunity"].rows[ids[0]]
    assert events[0].occurred_at == row["SystemModstamp"]
    assert events[0].payload["fields"]["CampaignId"] == row["CampaignId"]


async def test_a_redelivery_carries_the_same_keys_and_a_change_new_ones(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    headers, body = message(sim)
    first = [e.delivery_key for e in await connector.parse_webhook(headers, body, url=URL)]
    again = [e.delivery_key for e in await connector.parse_webhook(headers, body, url=URL)]
    assert again == first
    sim.org.update("Opportunity", opportunities(sim)[0], Amount=99.0)
    headers, body = message(sim)
    changed = [e.delivery_key for e in await connector.parse_webhook(headers, body, url=URL)]
    assert changed[0] != first[0]
    assert changed[1:] == first[1:]


async def test_the_reply_is_the_ack_envelope(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    headers, body = message(sim)
    status, content_type, reply = connector.webhook_reply(
        await connector.parse_webhook(headers, body, url=URL)
    )
    assert (status, content_type.split(";")[0]) == (200, "text/xml")
    root = fromstring(reply)
    ack = root.find(
        f"{{{SOAP_ENV}}}Body/{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack"
    )
    assert ack is not None
    assert ack.text == "true"


async def test_header_names_match_in_any_case(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    _headers, body = message(sim)
    events = await connector.parse_webhook({"CONTENT-TYPE": "Text/XML"}, body, url=URL)
    assert len(events) == 3


async def test_a_15_character_org_id_in_the_message_is_the_same_org(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    body = soap(notification(1, opportunities(sim)[0]), sim.organization_id[:15])
    events = await connector.parse_webhook({"Content-Type": "text/xml"}, body, url=URL)
    assert len(events) == 1


async def test_objects_that_are_not_streams_are_acknowledged_without_events(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    account = sorted(sim.org.live_ids("Account"))[0]
    headers, body = message(sim, [account, opportunities(sim)[0]])
    events = await connector.parse_webhook(headers, body, url=URL)
    assert [e.stream for e in events] == ["Opportunity"]


async def test_the_session_id_is_never_kept(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    headers, body, _ = sim.outbound_message(opportunities(sim), session_id="00DSESSIONSECRET!xyz")
    events = await connector.parse_webhook(headers, body, url=URL)
    assert events
    assert "SESSIONSECRET" not in repr(events)


async def test_a_secret_url_with_a_trailing_slash_and_query_is_accepted(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    headers, body = message(sim)
    assert await connector.parse_webhook(headers, body, url=f"{URL}/?attempt=2")


# ----- refused ---------------------------------------------------------------------------


async def refused(
    connector: SalesforceConnector, headers: dict[str, str], body: bytes, **kw: str
) -> None:
    with pytest.raises(InvalidWebhook):
        await connector.parse_webhook(headers, body, **{"url": URL, **kw})


async def test_a_message_for_another_organisation_is_refused(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    headers, _ = message(sim)
    _, body, _ = sim.outbound_message(opportunities(sim), organization_id="00DHs0000000XyZMAU")
    await refused(connector, headers, body)


@pytest.mark.parametrize(
    "url",
    [
        f"{ENDPOINT}/not-the-secret-0123456789",
        ENDPOINT,
        "",
        f"{ENDPOINT}?token={SECRET}",
        f"{ENDPOINT}/{SECRET[:-1]}",
        f"{ENDPOINT}/{SECRET}x",
        f"{URL}/extra",
    ],
)
async def test_a_wrong_or_missing_path_secret_is_refused(
    sim: SalesforceSimulator, connector: SalesforceConnector, url: str
) -> None:
    headers, body = message(sim)
    await refused(connector, headers, body, url=url)


async def test_without_a_configured_secret_or_org_every_message_is_refused(
    sim: SalesforceSimulator,
) -> None:
    headers, body = message(sim)
    async with client_for(sim) as client:
        for overrides in ({"outbound_secret": None}, {"organization_id": None}):
            await refused(connector_for(sim, client, **overrides), headers, body)


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Type": "application/json"}, {"Content-Type": "text/html"}]
)
async def test_a_missing_or_wrong_content_type_is_refused(
    sim: SalesforceSimulator, connector: SalesforceConnector, headers: dict[str, str]
) -> None:
    _, body = message(sim)
    await refused(connector, headers, body)


async def test_a_method_other_than_post_is_refused(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    headers, body = message(sim)
    await refused(connector, headers, body, method="GET")


MALFORMED = {
    "empty": b"",
    "truncated": None,  # filled from a real message below
    "json": b'{"OrganizationId": "x"}',
    "not soap": f'<notifications xmlns="{OUTBOUND_NS}"/>'.encode(),
    "no body": f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"/>'.encode(),
    "bad utf-8": b'<?xml version="1.0" encoding="UTF-8"?><a>\xff\xfe</a>',
    "unknown encoding": b'<?xml version="1.0" encoding="x-nonsense"?><a/>',
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_xml_is_refused(
    sim: SalesforceSimulator, connector: SalesforceConnector, case: str
) -> None:
    headers, body = message(sim)
    bad = MALFORMED[case] if MALFORMED[case] is not None else body[: len(body) // 2]
    assert bad is not None
    await refused(connector, headers, bad)


async def test_shapes_outside_the_wsdl_are_refused(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    org = sim.organization_id
    record = opportunities(sim)[0]
    headers = {"Content-Type": "text/xml"}
    no_type = notification(1, record).replace(' xsi:type="sf:Opportunity"', "")
    bad_id = notification(1, record).replace(record, "not-an-id")
    cases = [
        soap("", org),  # no notification
        soap("".join(notification(i, record) for i in range(101)), org),  # over 100
        soap(no_type, org),
        soap(bad_id, org),
        soap(notification(1, record).replace("<Id>", "<Ix>").replace("</Id>", "</Ix>"), org),
        soap(notification(1, record), "not-an-org"),
        soap(notification(1, record), org)
        .replace(b"<OrganizationId>", b"<OrgId>")
        .replace(b"</OrganizationId>", b"</OrgId>"),
    ]
    for body in cases:
        await refused(connector, headers, body)


async def test_a_hundred_notifications_are_accepted(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    record = opportunities(sim)[0]
    body = soap("".join(notification(i, record) for i in range(100)), sim.organization_id)
    events = await connector.parse_webhook({"Content-Type": "text/xml"}, body, url=URL)
    assert len(events) == 100


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<lolz>&lol3;</lolz>"
)
XXE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>'
DTD_ONLY = b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://evil.example/x.dtd"><x/>'


@pytest.mark.parametrize("bomb", [BILLION_LAUGHS, XXE, DTD_ONLY], ids=["laughs", "xxe", "dtd"])
async def test_xml_bombs_are_refused(connector: SalesforceConnector, bomb: bytes) -> None:
    with pytest.raises(InvalidWebhook, match="DTDForbidden"):
        await connector.parse_webhook({"Content-Type": "text/xml"}, bomb, url=URL)


async def test_a_bomb_inside_a_real_message_is_refused(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    headers, body = message(sim)
    prolog = b'<?xml version="1.0" encoding="UTF-8"?>'
    doctype = b'<!DOCTYPE e [<!ENTITY a "aaaaaaaaaa">]>'
    assert body.startswith(prolog)
    with pytest.raises(InvalidWebhook, match="DTDForbidden"):
        await connector.parse_webhook(headers, prolog + doctype + body[len(prolog) :], url=URL)


async def test_deep_and_long_documents_are_refused(
    sim: SalesforceSimulator, connector: SalesforceConnector
) -> None:
    headers = {"Content-Type": "text/xml"}
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    long = b"<a>" + b"<b/>" * 60_000 + b"</a>"
    huge = soap(notification(1, opportunities(sim)[0]), sim.organization_id) + b" " * (3 << 20)
    for body, reason in ((deep, "too deep"), (long, "too long"), (huge, "too large")):
        with pytest.raises(InvalidWebhook, match=reason):
            await connector.parse_webhook(headers, body, url=URL)

"""The contract test suite every connector runs against its simulator (needs pytest).

How to use it (the connector author's guide)
--------------------------------------------
Subclass :class:`ConnectorContract` in a test module, in a class whose name starts with
``Test``, set ``spec`` and implement the hooks. Every ``test_*`` method below then runs
against your connector; tests for capabilities your spec does not declare are skipped::

    class TestBynderContract(ConnectorContract):
        spec = syncbridge_bynder.spec

        async def make_connector(self, *, faults=None, **overrides):
            self.sim = BynderSimulator(World(seed=42, assets_count=57), faults=faults)
            client = self.client_for(self.sim)          # closed after the test
            settings = spec.settings_model(**{**BASE_SETTINGS, **overrides})
            return spec.factory(settings, client)

        def expected_ids(self, stream):
            return set(self.sim.media)

Hooks (``make_connector``, ``expected_ids`` and ``expected_fields`` are always required):

* ``make_connector(faults=None, **overrides)``: a connector pointed at a **fresh** simulator,
  its settings changed by ``overrides``; ``faults`` goes to the simulator. Keep the last
  simulator on ``self``: the hooks below act on it. Make the world larger than one page
  (the resume test needs at least two pages), e.g. 57 assets and a page size of 10.
* ``expected_ids(stream)``: the ids the simulator holds in ``stream``.
* ``expected_fields(stream, external_id)``: from the **simulator's own state** (never from the
  connector), a few ``key: value`` pairs that the record's ``data`` must hold with exactly
  those values, typed as the connector emits them (a name, a parsed number, a timestamp,
  the tags). Every record of a full read and of a fetch is held to it, so a connector that
  returns the wrong item's data, or stale data, fails even when read and fetch agree.
* ``incremental_rereads(stream)`` (``incremental``): ids an incremental read may return
  again although nothing changed (a vendor's late-data window, such as GA4's last days);
  default none.
* ``bad_credentials_overrides()``: settings overrides with refused credentials
  (None: the connector has no credentials and the auth test is skipped).
* ``modify_item(stream, external_id)`` (capability ``incremental``): change the item in the
  simulator so that an incremental read must see it.
* ``signed_webhook()`` (``webhooks``): ``(headers, raw_body)`` of a valid delivery to
  ``webhook_url`` (a class attribute: the URL the vendor called, passed to ``parse_webhook``
  with ``method="POST"``); ``tamper(headers, body)`` breaks it (default: flip one body
  byte).
* ``human_tags(external_id)`` (``write_back``): tags people put on the asset (must not be
  empty on the ``write_target``); ``record_tags(record)`` reads tags off a fetched record
  (default ``record.data["tags"]``); ``settle()`` lets a simulator apply queued writes
  (Bynder's 202); ``owned_tags`` are three tags in syncbridge's namespace.
* ``injected_faults()``: how many faults the simulator injected (None: unknown); when given,
  the fault test insists that some were.
* ``comparable(record)``: what must be equal between ``read`` and ``fetch`` (default: data).

What the suite holds a connector to (see each test): check() passes and fails cleanly on bad
credentials; streams have primary keys; a full read gives every id exactly once, each
record carrying what the simulator holds for it; resuming from any page's cursor gives
exactly the rest; the last page of an incremental stream carries a watermark cursor from
which a read with no vendor change returns nothing and a read after a change returns that
item and no other; fetch matches read and the simulator and leaves unknown ids out;
write-back adds and removes owned tags only and a repeated write is skipped; webhooks
verify and tampering is refused; and a read through 10 % 429s, 5 % 5xx, timeouts and
dropped connections returns exactly what a fault-free read returns (QUALITY R10).

Every connector made through the suite runs on virtual time (:class:`FakeClock`): its rate
limiter and backoff compute the real waits, but nobody sleeps them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from typing import Any, ClassVar

import httpx
import pytest
from starlette.types import ASGIApp

from syncbridge.connector.errors import AuthError, InvalidWebhook
from syncbridge.connector.http import create_http_client
from syncbridge.connector.ratelimit import TimeSource, override_time
from syncbridge.connector.spec import Connector, ConnectorSpec
from syncbridge.connector.types import Capability, Page, Record, Ref, TagChange
from syncbridge.sandbox.faults import FaultKnobs

#: 2026-01-01T00:00:00Z: where a fake wall clock starts.
FAKE_EPOCH = 1_767_225_600.0


class FakeClock:
    """Virtual time: ``sleep`` advances the clock at once instead of waiting.

    ``slept`` keeps every requested sleep so tests can assert the waits a limiter computed.
    """

    def __init__(self, start: float = 0.0, epoch: float = FAKE_EPOCH) -> None:
        self.now = start
        self.epoch = epoch
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        """Unix time on the same virtual timeline."""
        return self.epoch + self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        # Let other tasks run, as a real sleep would.
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def source(self) -> TimeSource:
        """This clock as a limiter time source."""
        return TimeSource(clock=self, sleep=self.sleep, wall_clock=self.wall)


async def read_all(connector: Connector, stream: str, cursor: str | None = None) -> list[Page]:
    """Every page of one read, in order."""
    return [page async for page in connector.read(stream, cursor)]


def ids_of(pages: list[Page]) -> list[str]:
    """The external ids of the records of ``pages``, in order, duplicates kept."""
    return [record.external_id for page in pages for record in page.records]


class ConnectorContract:
    """Base class of a connector's contract tests; see the module docstring."""

    spec: ClassVar[ConnectorSpec]
    #: Three tags in syncbridge's owned namespace, used by the write-back tests.
    owned_tags: ClassVar[tuple[str, str, str]] = ("perf:top-10", "perf:rising", "perf:steady")
    #: The URL the vendor calls to deliver webhooks (handed to ``parse_webhook``).
    webhook_url: ClassVar[str] = "https://syncbridge.example.com/webhooks/contract"
    #: The faults of the R10 test: 10 % 429, 5 % 5xx, 3 % dropped connections, 3 % timeouts.
    fault_knobs: ClassVar[FaultKnobs] = FaultKnobs(
        rate_429=0.10, rate_5xx=0.05, rate_drop=0.03, rate_timeout=0.03, retry_after_s=1, seed=11
    )

    resources: AsyncExitStack
    clock: FakeClock

    @pytest.fixture(autouse=True)
    async def _contract_resources(self) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            self.resources = stack
            self.clock = FakeClock()
            yield

    # ----- hooks the author implements ---------------------------------------------------

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        """A connector pointed at a fresh simulator (see the module docstring)."""
        raise NotImplementedError

    def expected_ids(self, stream: str) -> set[str]:
        """The ids the current simulator holds in ``stream``."""
        raise NotImplementedError

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        """What the simulator holds for the item: pairs its record's ``data`` must contain."""
        raise NotImplementedError

    def incremental_rereads(self, stream: str) -> set[str]:  # noqa: ARG002
        """Ids an incremental read may return again with no vendor change (default: none)."""
        return set()

    def bad_credentials_overrides(self) -> Mapping[str, Any] | None:
        """Settings overrides the simulator refuses (None: no credentials to refuse)."""
        return None

    async def modify_item(self, stream: str, external_id: str) -> None:
        """Change one item in the simulator so that an incremental read sees it."""
        raise NotImplementedError

    async def signed_webhook(self) -> tuple[dict[str, str], bytes]:
        """A valid, signed delivery for the current simulator's connection."""
        raise NotImplementedError

    def tamper(self, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        """A forged variant of a valid delivery (default: one body byte flipped)."""
        i = len(body) // 2
        return headers, body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]

    def human_tags(self, external_id: str) -> set[str]:
        """Tags people put on the asset in the simulator."""
        raise NotImplementedError

    def record_tags(self, record: Record) -> set[str]:
        """The tags a fetched record carries."""
        return set(record.data["tags"])

    def write_target(self, stream: str) -> str:
        """The asset the write-back tests change (it must carry human tags)."""
        return sorted(self.expected_ids(stream))[0]

    async def settle(self) -> None:
        """Let the simulator apply writes it accepted for later (default: nothing to do)."""

    def injected_faults(self) -> int | None:
        """How many faults the current simulator injected (None: it cannot tell)."""
        return None

    def comparable(self, record: Record) -> Any:
        """The part of a record that ``read`` and ``fetch`` must agree on."""
        return dict(record.data)

    # ----- helpers for authors and tests -------------------------------------------------

    def client_for(self, app: ASGIApp) -> httpx.AsyncClient:
        """A shared-style HTTP client talking to ``app`` in-process, closed after the test."""
        client = create_http_client(transport=httpx.ASGITransport(app=app))
        self.resources.push_async_callback(client.aclose)
        return client

    async def connector(self, *, faults: FaultKnobs | None = None, **overrides: Any) -> Connector:
        """``make_connector`` on virtual time; the instance is closed after the test."""
        with override_time(self.clock.source):
            made = await self.make_connector(faults=faults, **overrides)
        self.resources.push_async_callback(made.aclose)
        return made

    def require(self, capability: Capability) -> None:
        """Skip the running test unless the spec declares ``capability``."""
        if capability not in self.spec.capabilities:
            pytest.skip(f"{self.spec.key} does not declare {capability.value}")

    async def _streams(self, connector: Connector) -> list[str]:
        return [s.name for s in connector.streams()]

    def assert_matches_the_simulator(self, record: Record) -> None:
        """``record.data`` holds what the simulator holds for it (``expected_fields``)."""
        expected = dict(self.expected_fields(record.stream, record.external_id))
        assert expected, f"{record.stream}: expected_fields must name at least one field"
        got = {key: record.data.get(key, "<missing>") for key in expected}
        assert got == expected, f"{record.stream}/{record.external_id} differs from the simulator"

    async def _watermark(self, connector: Connector, stream: str) -> str:
        """The cursor a full read of ``stream`` ends on: where incremental reads start."""
        pages = await read_all(connector, stream)
        watermark = pages[-1].next_cursor
        assert watermark is not None, f"{stream}: the last page carries a watermark"
        return watermark

    async def _parse(self, connector: Connector, headers: Mapping[str, str], body: bytes) -> Any:
        return await connector.parse_webhook(headers, body, url=self.webhook_url, method="POST")

    async def _asset_stream(self, connector: Connector) -> str:
        assets = [s.name for s in connector.streams() if s.entity == "asset"]
        assert assets, "a write_back connector declares at least one stream of assets"
        return assets[0]

    # ----- the contract ------------------------------------------------------------------

    async def test_check_passes(self) -> None:
        result = await (await self.connector()).check()
        assert result.ok, result.detail

    async def test_check_refuses_bad_credentials(self) -> None:
        overrides = self.bad_credentials_overrides()
        if overrides is None:
            pytest.skip(f"{self.spec.key} has no credentials")
        connector = await self.connector(**overrides)
        try:
            result = await connector.check()
        except AuthError:
            return
        assert not result.ok, "check() with refused credentials must fail"

    async def test_read_with_bad_credentials_raises_auth_error(self) -> None:
        overrides = self.bad_credentials_overrides()
        if overrides is None:
            pytest.skip(f"{self.spec.key} has no credentials")
        connector = await self.connector(**overrides)
        with pytest.raises(AuthError):
            await read_all(connector, (await self._streams(connector))[0])

    async def test_streams_declare_primary_keys(self) -> None:
        streams = list((await self.connector()).streams())
        assert streams, "a connector reads at least one stream"
        assert len({s.name for s in streams}) == len(streams), "stream names are unique"
        for s in streams:
            assert s.name, s
            assert s.primary_key, s
        if Capability.incremental in self.spec.capabilities:
            assert any(s.cursor_field for s in streams), "incremental needs a cursor field"

    async def test_full_read_yields_every_id_once(self) -> None:
        connector = await self.connector()
        for stream in await self._streams(connector):
            pages = await read_all(connector, stream)
            ids = ids_of(pages)
            assert len(ids) == len(set(ids)), f"{stream}: duplicate ids in a full read"
            assert set(ids) == self.expected_ids(stream), stream
            assert all(r.stream == stream for p in pages for r in p.records)
            for page in pages:
                for record in page.records:
                    self.assert_matches_the_simulator(record)

    async def test_resume_from_any_page_yields_exactly_the_rest(self) -> None:
        connector = await self.connector()
        for stream in await self._streams(connector):
            pages = await read_all(connector, stream)
            assert len(pages) >= 2, f"{stream}: make the world larger than one page"
            for k in sorted({0, len(pages) // 2, len(pages) - 2}):
                cursor = pages[k].next_cursor
                assert cursor is not None, f"{stream}: page {k} has no resume cursor"
                rest = ids_of(await read_all(connector, stream, cursor))
                assert sorted(rest) == sorted(ids_of(pages[k + 1 :])), f"{stream} after page {k}"

    async def test_incremental_read_without_changes_returns_nothing(self) -> None:
        """From the last cursor, with nothing changed at the vendor, nothing comes back: a
        connector that restarts its incremental reads from the beginning fails here."""
        self.require(Capability.incremental)
        connector = await self.connector()
        for spec in [s for s in connector.streams() if s.cursor_field]:
            watermark = await self._watermark(connector, spec.name)
            again = await read_all(connector, spec.name, watermark)
            extra = set(ids_of(again)) - self.incremental_rereads(spec.name)
            assert extra == set(), f"{spec.name}: unchanged items read again: {sorted(extra)}"
            last = next((p.next_cursor for p in reversed(again) if p.next_cursor), watermark)
            twice = set(ids_of(await read_all(connector, spec.name, last)))
            assert twice - self.incremental_rereads(spec.name) == set(), spec.name

    async def test_incremental_read_returns_the_changed_item_only(self) -> None:
        self.require(Capability.incremental)
        connector = await self.connector()
        for spec in [s for s in connector.streams() if s.cursor_field]:
            watermark = await self._watermark(connector, spec.name)
            ids = sorted(self.expected_ids(spec.name))
            changed = ids[len(ids) // 3]
            await self.modify_item(spec.name, changed)
            records = [
                r for p in await read_all(connector, spec.name, watermark) for r in p.records
            ]
            seen = {r.external_id for r in records}
            assert changed in seen, f"{spec.name}: the incremental read missed {changed}"
            extra = seen - {changed} - self.incremental_rereads(spec.name)
            assert extra == set(), f"{spec.name}: unchanged items came back: {sorted(extra)}"
            for record in records:
                self.assert_matches_the_simulator(record)

    async def test_fetch_matches_read_and_leaves_out_unknown_ids(self) -> None:
        connector = await self.connector()
        for stream in await self._streams(connector):
            read = {r.external_id: r for p in await read_all(connector, stream) for r in p.records}
            wanted = sorted(read)[:3]
            refs = [Ref(stream, i) for i in wanted] + [Ref(stream, "syncbridge-contract-missing")]
            fetched = {r.external_id: r for r in await connector.fetch(refs)}
            assert set(fetched) == set(wanted), stream
            for i in wanted:
                assert self.comparable(fetched[i]) == self.comparable(read[i]), i
                self.assert_matches_the_simulator(fetched[i])

    async def _tags_now(self, connector: Connector, stream: str, external_id: str) -> set[str]:
        await self.settle()
        (record,) = await connector.fetch([Ref(stream, external_id)])
        return self.record_tags(record)

    async def test_write_changes_owned_tags_and_keeps_human_tags(self) -> None:
        self.require(Capability.write_back)
        connector = await self.connector()
        stream = await self._asset_stream(connector)
        target = self.write_target(stream)
        human = self.human_tags(target)
        assert human, "pick a write target that carries human tags"
        first, kept, added = self.owned_tags
        outcomes = await connector.write([TagChange(stream, target, frozenset({first, kept}))])
        assert [(o.external_id, o.status) for o in outcomes] in (
            [(target, "applied")],
            [(target, "accepted")],
        )
        assert await self._tags_now(connector, stream, target) == human | {first, kept}
        change = TagChange(
            stream,
            target,
            desired=frozenset({kept, added}),
            add=frozenset({added}),
            remove=frozenset({first}),
        )
        await connector.write([change])
        assert await self._tags_now(connector, stream, target) == human | {kept, added}

    async def test_repeated_write_changes_nothing(self) -> None:
        self.require(Capability.write_back)
        connector = await self.connector()
        stream = await self._asset_stream(connector)
        target = self.write_target(stream)
        change = TagChange(stream, target, frozenset(self.owned_tags[:2]))
        await connector.write([change])
        before = await self._tags_now(connector, stream, target)
        (again,) = await connector.write([change])
        # DESIGN guarantee 4: a write that would change nothing is skipped, not sent again.
        assert again.status == "skipped", again
        assert await self._tags_now(connector, stream, target) == before

    async def test_signed_webhook_gives_events_with_delivery_keys(self) -> None:
        self.require(Capability.webhooks)
        connector = await self.connector()
        headers, body = await self.signed_webhook()
        events = await self._parse(connector, headers, body)
        assert events, "a valid delivery gives at least one event"
        assert all(e.delivery_key for e in events)
        assert len({e.delivery_key for e in events}) == len(events), "keys unique per event"
        again = await self._parse(connector, headers, body)
        assert [e.delivery_key for e in again] == [e.delivery_key for e in events], (
            "a redelivery must carry the same keys, so the inbox drops it"
        )

    async def test_tampered_webhook_is_refused(self) -> None:
        self.require(Capability.webhooks)
        connector = await self.connector()
        headers, body = await self.signed_webhook()
        forged_headers, forged_body = self.tamper(dict(headers), body)
        with pytest.raises(InvalidWebhook):
            await self._parse(connector, forged_headers, forged_body)
        with pytest.raises(InvalidWebhook):
            await self._parse(connector, {}, body)

    async def test_read_through_vendor_faults_equals_fault_free_read(self) -> None:
        """QUALITY R10: a full read, and a fetch of every item, through injected faults."""
        clean = await self.connector()
        streams = await self._streams(clean)
        expected = {s: [r for p in await read_all(clean, s) for r in p.records] for s in streams}
        faulty = await self.connector(faults=self.fault_knobs)
        for stream in streams:
            got = [r for p in await read_all(faulty, stream) for r in p.records]
            assert [self.comparable(r) for r in got] == [
                self.comparable(r) for r in expected[stream]
            ], stream
            # One call per item as well, so that even a small world meets many faults.
            refs = [Ref(stream, r.external_id) for r in expected[stream]]
            fetched = {r.external_id: self.comparable(r) for r in await faulty.fetch(refs)}
            assert fetched == {r.external_id: self.comparable(r) for r in expected[stream]}
        injected = self.injected_faults()
        if injected is not None:
            assert injected > 0, "the simulator injected no faults; use a larger world"


__all__ = ["ConnectorContract", "FakeClock", "ids_of", "read_all"]

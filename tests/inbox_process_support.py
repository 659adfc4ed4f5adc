"""What the inbox's process-level tests share: a HubSpot simulator served over a real socket,
`syncbridge worker` and `syncbridge serve` processes, storms of signed deliveries, and
reading the inbox, the runs and the store back from the database.

The test process holds its own copy of the simulator, built from the same seeded world as
the served one: the same ids, secret and portal, so it signs deliveries the served API
accepts and knows the state every record must end in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from syncbridge_hubspot.sim_properties import MODIFIED
from syncbridge_hubspot.simulator import HubSpotSimulator

from syncbridge.connections.schemas import ConnectionCreate
from syncbridge.connections.secrets import SecretBox
from syncbridge.connections.service import ConnectionContext, create_connection
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.types import Ref
from syncbridge.inbox.service import PROCESS_JOB
from syncbridge.jobs.runner import running_worker
from syncbridge.models import Connection, InboxEvent, Job, Run, RunStream, StoredRecord
from syncbridge.sandbox.world import World
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.encoding import Encoded, encode
from syncbridge.sync.service import build_connector
from tests.jobs_support import ManualClock

Sessionmaker = async_sessionmaker[AsyncSession]

ROOT = Path(__file__).resolve().parent.parent
SYNCBRIDGE = str(Path(sys.executable).parent / "syncbridge")
#: The key connection secrets are sealed with, in the test process and every child.
SECRET_KEY = "inbox-process-tests-key-0123456789abcdef0123456789"
#: The URL vendors call (HubSpot v3 signs it): every API, in-process or served, is told so.
PUBLIC_URL = "http://127.0.0.1:8000"
#: The CRM streams the storms are about (HubSpot fetches them in batches of 100).
STREAMS = ("deals", "contacts")
#: A lease short enough that a killed worker's job is taken over soon after its restart.
LEASE_S = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a child process on the test's store (settings as env vars)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCBRIDGE_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "SYNCBRIDGE_DATABASE_URL": db_url,
            "SYNCBRIDGE_SECRET_KEY": SECRET_KEY,
            "SYNCBRIDGE_ALLOW_LOCAL_CONNECTIONS": "true",
            "SYNCBRIDGE_PUBLIC_URL": PUBLIC_URL,
            "SYNCBRIDGE_LOG_JSON": "true",
            "SYNCBRIDGE_FREEZE_GC_AT_START": "false",
            "SYNCBRIDGE_WORKER_POLL_INTERVAL_S": "0.2",
            "SYNCBRIDGE_WORKER_LEASE_S": str(LEASE_S),
            "SYNCBRIDGE_WORKER_GRACE_S": "1",
            "SYNCBRIDGE_INBOX_DEBOUNCE_S": "0",
            # The inbox on its own: the ticker's catch-up would also sync every connection.
            "SYNCBRIDGE_SCHEDULER_ENABLED": "false",
        }
    )
    env.update(extra)
    return env


class Child:
    """A child process with its output in a log file; started again after a kill."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self._out = self.log.open("ab")
        self.process = subprocess.Popen(
            self.args, env=self.env, cwd=self.log.parent, stdout=self._out, stderr=self._out
        )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._close()

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after a while); the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close()
        return self.process.returncode

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def worker(db_url: str, folder: Path, name: str = "worker", **env: str) -> Child:
    """A `syncbridge worker` process (not started)."""
    return Child([SYNCBRIDGE, "worker"], child_env(db_url, **env), folder / f"{name}.log")


def api(db_url: str, folder: Path, port: int, name: str = "api", **env: str) -> Child:
    """A `syncbridge serve` process on ``port`` (not started)."""
    args = [SYNCBRIDGE, "serve", "--port", str(port), "--no-migrate"]
    return Child(args, child_env(db_url, **env), folder / f"{name}.log")


async def answering(url: str, child: Child, what: str) -> None:
    """Wait until ``url`` answers over HTTP (any status); the bound only stops a hung test."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            if not child.alive:
                raise AssertionError(f"{what} exited:\n{child.output()[-4000:]}")
            with contextlib.suppress(httpx.TransportError):
                await client.get(url)
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{what} never answered at {url}")


@dataclass
class Vendor:
    """The served HubSpot simulator and the test's own copy of it."""

    sim: HubSpotSimulator
    base_url: str
    process: Child

    def objects(self) -> list[tuple[str, str]]:
        return [(s, i) for s in STREAMS for i in sorted(self.sim.ids(s), key=int)]


@contextlib.asynccontextmanager
async def served_hubspot(folder: Path, assets: int) -> AsyncIterator[Vendor]:
    """`syncbridge sandbox serve hubspot` on a free port, for the life of the block."""
    port = free_port()
    child = Child(
        [SYNCBRIDGE, "sandbox", "serve", "hubspot", "--port", str(port), "--assets", str(assets)],
        child_env("sqlite+aiosqlite:///unused.db"),
        folder / "hubspot.log",
    )
    child.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        await answering(base_url + "/account-info/v3/details", child, "the HubSpot simulator")
        yield Vendor(HubSpotSimulator(World(assets_count=assets)), base_url, child)
    finally:
        child.stop()


def connection_context() -> ConnectionContext:
    return ConnectionContext(
        registry=ConnectorRegistry.from_entry_points(),
        box=SecretBox.from_key_material(SECRET_KEY),
        allow_local=True,
    )


async def connect(sessionmaker: Sessionmaker, sim: HubSpotSimulator, base_url: str) -> uuid.UUID:
    """Store a HubSpot connection to ``sim`` served at ``base_url``; its id."""
    body = ConnectionCreate(
        connector="hubspot",
        name=f"hubspot-{uuid.uuid4().hex[:6]}",
        settings=sim.connection_settings(base_url),
    )

    async def create(session: AsyncSession) -> uuid.UUID:
        connection = await create_connection(session, connection_context(), body, actor="test")
        return connection.id

    return await in_unit_of_work(sessionmaker, create)


# ----- storms of deliveries ------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """The events of one POST (signed when sent, so the timestamp is fresh)."""

    events: tuple[dict[str, Any], ...]
    duplicate: bool = False


@dataclass
class Storm:
    deliveries: list[Delivery]
    #: The events, each once: (stream, object id) by delivery key.
    distinct: int
    objects: set[tuple[str, str]] = field(default_factory=set)

    @property
    def duplicate_deliveries(self) -> int:
        return sum(1 for d in self.deliveries if d.duplicate)

    @property
    def events_sent(self) -> int:
        return sum(len(d.events) for d in self.deliveries)


def _event(
    sim: HubSpotSimulator, rng: random.Random, stream: str, object_id: str
) -> dict[str, Any]:
    change = "creation" if rng.random() < 0.05 else "propertyChange"
    name = MODIFIED[stream] if change == "propertyChange" else None
    value = str(rng.randrange(10**9)) if name else None
    return sim.webhooks.event(stream, object_id, change, property_name=name, property_value=value)


def storm(
    vendor: Vendor,
    rng: random.Random,
    *,
    distinct: int,
    duplicate_deliveries: int,
    singles: int,
    largest: int = 100,
) -> Storm:
    """``distinct`` events about the vendor's objects in deliveries (``singles`` of them
    alone, the rest in arrays of up to ``largest``), plus ``duplicate_deliveries`` that
    redeliver 1 to 3 of those events each (a vendor retry: ``attemptNumber`` one higher, so
    the body differs but the delivery key does not), all shuffled together."""
    objects = vendor.objects()
    events = [_event(vendor.sim, rng, *rng.choice(objects)) for _ in range(distinct)]
    deliveries = [Delivery((e,)) for e in events[:singles]]
    rest = events[singles:]
    while rest:
        size = min(len(rest), rng.randint(2, largest))
        deliveries.append(Delivery(tuple(rest[:size])))
        rest = rest[size:]
    for _ in range(duplicate_deliveries):
        again = rng.sample(events, rng.randint(1, 3))
        retried = tuple({**e, "attemptNumber": e["attemptNumber"] + 1} for e in again)
        deliveries.append(Delivery(retried, duplicate=True))
    rng.shuffle(deliveries)
    touched = {(_stream_of(e), str(e["objectId"])) for e in events}
    return Storm(deliveries, distinct, touched)


def _stream_of(event: Mapping[str, Any]) -> str:
    subject = str(event["subscriptionType"]).partition(".")[0]
    return {"deal": "deals", "contact": "contacts", "company": "companies"}[subject]


@dataclass
class Answers:
    """What the API answered: status counts and the sums of the 200 bodies."""

    statuses: Counter[int] = field(default_factory=Counter)
    received: int = 0
    new: int = 0
    #: Deliveries sent again after a broken connection (as a vendor does), and those that
    #: never got an answer.
    retried: int = 0
    errors: list[str] = field(default_factory=list)


async def send(
    client: httpx.AsyncClient,
    sim: HubSpotSimulator,
    url: str,
    delivery: Delivery,
    answers: Answers,
) -> int | None:
    """POST one delivery, signed now (for ``PUBLIC_URL`` + its path); its status, None when
    no answer came. A connection that breaks before the answer (a kept-alive one the server
    closed meanwhile) is retried, as a vendor retries a delivery."""
    path = httpx.URL(url).path
    for attempt in range(3):
        headers, body, _ = sim.webhooks.delivery(list(delivery.events), url=PUBLIC_URL + path)
        try:
            answer = await client.post(url, content=body, headers=headers)
            break
        except httpx.TransportError as exc:
            if attempt == 2:
                answers.errors.append(type(exc).__name__)
                return None
            answers.retried += 1
    answers.statuses[answer.status_code] += 1
    if answer.status_code == 200:
        reply = answer.json()
        answers.received += int(reply["received"])
        answers.new += int(reply["new"])
    return answer.status_code


async def send_all(
    client: httpx.AsyncClient,
    sim: HubSpotSimulator,
    urls: Sequence[str],
    deliveries: Sequence[Delivery],
    *,
    concurrency: int,
) -> Answers:
    """Send every delivery (the i-th to ``urls[i % len(urls)]``), ``concurrency`` at a time."""
    targets = [(urls[i % len(urls)], d) for i, d in enumerate(deliveries)]
    return await send_to(client, sim, targets, concurrency=concurrency)


async def send_to(
    client: httpx.AsyncClient,
    sim: HubSpotSimulator,
    targets: Sequence[tuple[str, Delivery]],
    *,
    concurrency: int,
) -> Answers:
    """Send each delivery to its URL, in order, ``concurrency`` at a time."""
    answers = Answers()
    queue: asyncio.Queue[tuple[str, Delivery]] = asyncio.Queue()
    for item in targets:
        queue.put_nowait(item)

    async def sender() -> None:
        while not queue.empty():
            url, delivery = queue.get_nowait()
            await send(client, sim, url, delivery, answers)

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return answers


# ----- reading the outcome -------------------------------------------------------------------


@dataclass
class Outcome:
    events: list[InboxEvent]
    runs: list[Run]
    run_streams: list[RunStream]
    #: The run streams of the connection in runs of every kind (a scheduled sync too).
    all_run_streams: list[RunStream]
    records: list[StoredRecord]
    jobs: list[Job]


async def outcome(sessionmaker: Sessionmaker, connection_id: uuid.UUID) -> Outcome:
    """The connection's inbox, events runs, stored records, and every job, as committed."""

    async def read(session: AsyncSession) -> Outcome:
        def of(model: Any) -> Any:
            return select(model).where(model.connection_id == connection_id)

        return Outcome(
            events=list(await session.scalars(of(InboxEvent))),
            runs=list(await session.scalars(of(Run).where(Run.kind == "events"))),
            run_streams=list(
                await session.scalars(
                    of(RunStream).join(Run, Run.id == RunStream.run_id).where(Run.kind == "events")
                )
            ),
            all_run_streams=list(await session.scalars(of(RunStream))),
            records=list(await session.scalars(of(StoredRecord))),
            jobs=list(await session.scalars(select(Job))),
        )

    return await in_unit_of_work(sessionmaker, read, write=False)


def job_summary(jobs: Sequence[Job]) -> Counter[tuple[str, str]]:
    return Counter((j.kind, j.status) for j in jobs)


async def inbox_at_rest(sessionmaker: Sessionmaker, connection_id: uuid.UUID) -> bool:
    """No event pending and every ``inbox.process`` job finished."""
    result = await outcome(sessionmaker, connection_id)
    return all(e.status != "pending" for e in result.events) and all(
        j.status in ("done", "dead") for j in result.jobs if j.kind == PROCESS_JOB
    )


async def drain_follow_ups(settings: Settings, sessionmaker: Sessionmaker) -> None:
    """Run the jobs the events runs queued (metric facts, then scoring: each waits 30 s on
    purpose) to their end, in a worker whose clock is moved past those waits (every worker
    process must be stopped first: this clock would see their leases as run out)."""
    clock = ManualClock()

    async def terminal(session: AsyncSession) -> bool:
        live = select(Job.id).where(Job.status.in_(("queued", "running"))).limit(1)
        return (await session.scalars(live)).first() is None

    async with running_worker(settings, clock=clock):
        for _ in range(2400):  # a bound that only stops a hung test
            if await in_unit_of_work(sessionmaker, terminal, write=False):
                return
            clock.advance(1)
            await asyncio.sleep(0.05)
    raise AssertionError("the follow-up jobs never finished")


async def fresh_state(
    sessionmaker: Sessionmaker, connection_id: uuid.UUID, objects: Iterator[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The content hash of each object as the vendor holds it now, fetched through the
    connection's connector (as the processor fetches it)."""
    connection = await in_unit_of_work(
        sessionmaker, lambda s: s.get(Connection, connection_id), write=False
    )
    assert connection is not None
    refs = [Ref(stream, external_id) for stream, external_id in objects]
    async with httpx.AsyncClient(timeout=60) as client:
        connector = build_connector(connection_context(), connection, client)
        try:
            records = await connector.fetch(refs)
        finally:
            await connector.aclose()
    hashes: dict[tuple[str, str], str] = {}
    for record in records:
        item = encode(record)
        assert isinstance(item, Encoded), item
        hashes[(record.stream, record.external_id)] = item.hash
    return hashes


def stored_state(records: Sequence[StoredRecord]) -> dict[tuple[str, str], str]:
    return {(r.stream, r.external_id): r.content_hash for r in records if r.deleted_at is None}


def check_exactly_once(result: Outcome, storm_: Storm, *, synced: bool = False) -> None:
    """Every event handled once: one inbox row per distinct event, each handled by an events
    run; every run's counts are the objects of the events it handled, and the objects were
    inserted once in all (a second application of a batch, from a zombie or a replay after
    a crash, shows as a run without events or as counts beyond its events). ``synced``: other
    runs (the ticker's syncs) may have written the connection's records too."""
    events = result.events
    assert len(events) == storm_.distinct
    assert Counter(e.status for e in events) == {"handled": storm_.distinct}
    assert all(e.run_id is not None and e.outcome == "fetched" for e in events), Counter(
        (e.outcome, e.run_id is None) for e in events
    )
    assert {(e.stream, str(e.external_id)) for e in events} == storm_.objects
    objects_of: dict[uuid.UUID, set[tuple[str, str]]] = {}
    for e in events:
        assert e.run_id is not None
        objects_of.setdefault(e.run_id, set()).add((e.stream, str(e.external_id)))
    runs = {r.id: r for r in result.runs}
    assert set(objects_of) == set(runs), "an events run that handled no event, or the reverse"
    assert all(r.status == "succeeded" for r in runs.values()), Counter(
        r.status for r in runs.values()
    )
    counted: dict[uuid.UUID, int] = {}
    for rs in result.run_streams:
        assert rs.deleted == rs.rejected == 0
        touched = rs.inserted + rs.updated + rs.unchanged
        assert rs.read == touched
        counted[rs.run_id] = counted.get(rs.run_id, 0) + touched
    assert counted == {run_id: len(objs) for run_id, objs in objects_of.items()}
    if synced:
        assert sum(rs.inserted for rs in result.all_run_streams) == len(result.records)
        assert storm_.objects <= {(r.stream, r.external_id) for r in result.records}
    else:
        assert sum(rs.inserted for rs in result.run_streams) == len(storm_.objects)
        assert len(result.records) == len(storm_.objects)


async def raw_post(
    port: int, path: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, bytes] | None:
    """POST over a connection of its own, as plain HTTP/1.1 bytes (a client that costs next
    to nothing, so it keeps up with a server under a storm); ``(status, body)``, or None when
    the connection broke before a status line came."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None
    try:
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        answer = await reader.read()
    except OSError:
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    # A status line counts even if the rest was cut: the server had decided by then.
    head, _, content = answer.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    if not status or not status[0].isdigit():
        return None
    return int(status[0]), content

"""B1, webhook ingest: signed HubSpot deliveries into ``syncbridge serve`` on PostgreSQL against a
bare FastAPI endpoint, same client, same run (QUALITY B1).

Usage: ``python benchmarks/b1_webhook_ingest.py [--duration 10] [--connections 32]
[--clients 1] [--warmup 2]``. It migrates a throwaway ``sbbench_<random>`` PostgreSQL database
(dropped WITH (FORCE) at the end), creates one ``hubspot`` connection with a client secret,
then starts two single-process servers with the uvicorn settings ``serve`` uses (uvloop,
httptools, uvicorn log level warning):

* real: ``syncbridge serve --no-migrate`` (production settings: INFO JSON logs, a random
  secret key, ``SYNCBRIDGE_PUBLIC_URL`` set as behind a proxy, no worker in the process);
* bare: ``b1_bare.py``, ``POST /webhooks/{id}`` that reads the body and answers 202.

The load generator is this script itself (``--generate``, wrk is not on the machine): an
asyncio program on uvloop with raw keep-alive HTTP/1.1 connections (``asyncio.Protocol``),
closed loop like wrk (each connection sends its next request when the previous answer has been
read). Every request is a distinct single-event delivery (its own ``objectId``) signed the
HubSpot v3 way, built and signed before the timed window; the bare endpoint gets the very same
bytes, so the client does the same work for both. ``--clients N`` splits the connections over
N generator processes, started together.

After a warm-up of each, the real endpoint and then the bare one are driven for
``--duration`` seconds each. Printed: events/s of both and the ratio (target >= 0.7), p50 and
p99 of both (target: real p99 < 50 ms), non-2xx and socket errors, the CPU seconds of the
server, the client and the whole machine, the group-commit batch sizes from ``/metrics``, the
inbox rows against the real server's 2xx count (must be equal) and the load average. The full
figures go to ``benchmarks/results/b1_webhook_ingest-<UTC timestamp>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import hashlib
import json
import math
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from subprocess import PIPE
from typing import Any, cast

import asyncpg
import httpx
from admin_api import (
    HOST,
    PG_ADMIN_DSN,
    _stop,
    _wait_ready,
    free_port,
    machine,
    postgres_store,
    server_problems,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_hubspot.sim_webhooks import WebhookSender

from syncbridge.connections.schemas import ConnectionCreate
from syncbridge.connections.service import ConnectionContext, create_connection
from syncbridge.db import migrate, open_store
from syncbridge.jobs.services import job_services
from syncbridge.logs import configure_logging
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SYNCBRIDGE = Path(sys.executable).with_name("syncbridge")
TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0
#: What the real server believes vendors call it at (signatures cover this URL).
PUBLIC_URL = "https://syncbridge.example.com"
PORTAL_ID = 62_515
APP_ID = 1_160_452
#: Object ids per phase and per generator process: every request is a distinct event.
PHASE_SPAN = 100_000_000
CLIENT_SPAN = 10_000_000


# --- the load generator (a child process) ------------------------------------------------------


@dataclass
class Job:
    """What one generator process does: whom it calls, with what, when, for how long."""

    host: str
    port: int
    path: str
    sign_url: str
    client_secret: str
    timestamp_ms: int
    first_object_id: int
    connections: int
    per_connection: int
    duration: float
    timeout: float
    out: str


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


def build_requests(job: Job) -> list[list[bytes]]:
    """Every request of the job, pre-signed, one list per connection (object ids in order)."""
    sender = WebhookSender(
        client_secret=job.client_secret,
        app_id=APP_ID,
        portal_id=PORTAL_ID,
        wall_clock=lambda: job.timestamp_ms / 1000,
    )
    head = f"POST {job.path} HTTP/1.1\r\nHost: {job.host}:{job.port}\r\n".encode()
    lists: list[list[bytes]] = [[] for _ in range(job.connections)]
    for n in range(job.connections * job.per_connection):
        event = sender.event(
            "deals",
            job.first_object_id + n,
            property_name="dealstage",
            property_value="closedwon",
            occurred_ms=job.timestamp_ms - 1000,
        )
        headers, body, _ = sender.delivery([event], url=job.sign_url, timestamp_ms=job.timestamp_ms)
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        lists[n % job.connections].append(
            head + lines.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
    return lists


class _Stats:
    def __init__(self) -> None:
        self.latencies = array.array("d")
        self.statuses: Counter[int] = Counter()
        self.socket_errors = 0
        self.exhausted = 0
        self.last_done = 0.0


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending its requests one after the other."""

    def __init__(self, requests: list[bytes], stats: _Stats, deadline: list[float]) -> None:
        self.requests = requests
        self.stats = stats
        self.deadline = deadline
        self.next = 0
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send_next(self) -> None:
        assert self.transport is not None
        if time.perf_counter() >= self.deadline[0]:
            self._finish()
            return
        if self.next >= len(self.requests):
            self.stats.exhausted += 1
            self._finish()
            return
        request = self.requests[self.next]
        self.next += 1
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = _CONTENT_LENGTH.search(self.buffer, 0, end + 2)
        if length is None:  # no Content-Length (chunked, close-delimited): not expected here
            self.stats.socket_errors += 1
            self._finish()
            return
        total = end + 4 + int(length.group(1))
        if len(self.buffer) < total:
            return
        now = time.perf_counter()
        self.stats.latencies.append(now - self.sent_at)
        self.stats.statuses[int(self.buffer[9:12])] += 1
        self.stats.last_done = time.time()
        del self.buffer[:total]
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        if not self.finished.done():
            self.stats.socket_errors += 1
            self.finished.set_result(None)

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)
        if self.transport is not None:
            self.transport.close()


async def _drive(job: Job, requests: list[list[bytes]]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = _Stats()
    deadline = [math.inf]
    connections: list[_Connection] = []
    for own in requests:
        _, protocol = await loop.create_connection(
            lambda own=own: _Connection(own, stats, deadline),  # type: ignore[misc]
            job.host,
            job.port,
        )
        connections.append(protocol)
    # Built and connected: say so, and start when the parent says (every generator at once;
    # soon, as uvicorn closes a keep-alive connection idle for 5 s).
    print("ready", flush=True)  # noqa: T201
    start_at = float(sys.stdin.readline())
    await asyncio.sleep(max(0.0, start_at - time.time()))
    started_wall = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    deadline[0] = time.perf_counter() + job.duration
    for connection in connections:
        connection.send_next()
    await asyncio.wait_for(
        asyncio.gather(*(c.finished for c in connections)), job.duration + job.timeout
    )
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "latencies": stats.latencies,
        "started": started_wall,
        "finished": stats.last_done or time.time(),
        "statuses": {str(k): v for k, v in stats.statuses.items()},
        "socket_errors": stats.socket_errors,
        "exhausted_connections": stats.exhausted,
        "cpu_s": (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
    }


def generate(spec: str) -> None:
    """The ``--generate`` entry point: build, connect, wait for the start, drive, report."""
    import uvloop

    job = Job(**json.loads(spec))
    requests = build_requests(job)
    result = uvloop.run(_drive(job, requests))
    Path(job.out + ".lat").write_bytes(result.pop("latencies").tobytes())
    Path(job.out).write_text(json.dumps(result))


# --- one measurement (the parent side) -------------------------------------------------------


@dataclass
class Measurement:
    """One timed load run against one server, summed over the generator processes."""

    target: str
    phase: str
    seconds: float
    responses: int
    events_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    non_2xx: int
    socket_errors: int
    exhausted_connections: int
    client_cpu_s: float
    server_cpu_s: float
    #: CPU of the PostgreSQL backends serving the store (those alive at the end of the run).
    db_cpu_s: float
    machine_busy: float
    loadavg_before: str
    loadavg_after: str
    ok_2xx: int = field(init=False)
    server_cpu_ms_per_event: float = field(init=False)
    db_cpu_ms_per_event: float = field(init=False)

    def __post_init__(self) -> None:
        self.ok_2xx = sum(v for k, v in self.statuses.items() if k.startswith("2"))
        self.server_cpu_ms_per_event = self.server_cpu_s / max(1, self.responses) * 1e3
        self.db_cpu_ms_per_event = self.db_cpu_s / max(1, self.responses) * 1e3


@dataclass
class Servers:
    """The two servers under test and what the generator needs to sign for them."""

    real_port: int
    bare_port: int
    real_pid: int
    bare_pid: int
    path: str
    client_secret: str
    admin_dsn: str
    database: str


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a backend that has gone
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backends(admin_dsn: str, database: str) -> list[int]:
    """The process ids of the PostgreSQL backends connected to ``database``."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
        return [row[0] for row in rows]
    finally:
        await conn.close()


def _db_cpu(servers: Servers) -> dict[int, float]:
    pids = asyncio.run(_backends(servers.admin_dsn, servers.database))
    return {pid: _cpu_s(pid) for pid in pids}


def _machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _percentile(ordered: array.array[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1e3


def measure(
    servers: Servers, target: str, phase: int, duration: float, args: argparse.Namespace
) -> Measurement:
    """Drive ``target`` (real or bare) with ``args.clients`` generator processes."""
    port = servers.real_port if target == "real" else servers.bare_port
    pid = servers.real_pid if target == "real" else servers.bare_pid
    per_client = args.connections // args.clients
    per_connection = math.ceil(args.pool_rate * duration / args.connections) + 1
    timestamp_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory(prefix="sbbench-b1-") as folder:
        outs, procs = [], []
        for client in range(args.clients):
            out = f"{folder}/client{client}.json"
            job = Job(
                host=HOST,
                port=port,
                path=servers.path,
                sign_url=PUBLIC_URL + servers.path,
                client_secret=servers.client_secret,
                timestamp_ms=timestamp_ms,
                first_object_id=1 + phase * PHASE_SPAN + client * CLIENT_SPAN,
                connections=per_client + (1 if client < args.connections % args.clients else 0),
                per_connection=per_connection,
                duration=duration,
                timeout=args.timeout,
                out=out,
            )
            cmd = [sys.executable, __file__, "--generate", json.dumps(asdict(job))]
            procs.append(subprocess.Popen(cmd, cwd=HERE, stdin=PIPE, stdout=PIPE, text=True))
            outs.append(out)
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"generator exited with {proc.wait()} before it was ready")
        start_at = time.time() + 0.2
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start_at}\n")
            proc.stdin.close()
        db_before = _db_cpu(servers)
        profiled = args.profile and target == "real" and phase == 1
        time.sleep(max(0.0, start_at - time.time()))
        if profiled:
            os.kill(pid, signal.SIGUSR1)
        before = _loadavg(), _cpu_s(pid), _machine_ticks()
        for proc in procs:
            if proc.wait(timeout=duration + args.timeout + 60) != 0:
                raise RuntimeError(f"generator exited with {proc.returncode}")
        if profiled:
            os.kill(pid, signal.SIGUSR2)
        after = _loadavg(), _cpu_s(pid), _machine_ticks()
        db_after = _db_cpu(servers)
        results = [json.loads(Path(o).read_text()) for o in outs]
        latencies = array.array("d")
        for out in outs:
            latencies.frombytes(Path(out + ".lat").read_bytes())
    started = min(r["started"] for r in results)
    seconds = max(r["finished"] for r in results) - started
    statuses: Counter[str] = Counter()
    for r in results:
        statuses.update(r["statuses"])
    ordered = array.array("d", sorted(latencies))
    busy = (after[2][0] - before[2][0]) / max(1, after[2][1] - before[2][1])
    return Measurement(
        target=target,
        phase="warm-up" if phase % 2 == 0 else "timed",
        seconds=seconds,
        responses=len(ordered),
        events_per_s=len(ordered) / seconds if seconds > 0 else math.nan,
        p50_ms=_percentile(ordered, 0.50),
        p90_ms=_percentile(ordered, 0.90),
        p99_ms=_percentile(ordered, 0.99),
        max_ms=ordered[-1] * 1e3 if ordered else math.nan,
        statuses=dict(statuses),
        non_2xx=sum(v for k, v in statuses.items() if not k.startswith("2")),
        socket_errors=sum(r["socket_errors"] for r in results),
        exhausted_connections=sum(r["exhausted_connections"] for r in results),
        client_cpu_s=sum(r["cpu_s"] for r in results),
        server_cpu_s=after[1] - before[1],
        db_cpu_s=sum(cpu - db_before.get(p, 0.0) for p, cpu in db_after.items()),
        machine_busy=busy,
        loadavg_before=before[0],
        loadavg_after=after[0],
    )


#: ``serve`` with diagnostics (``--profile``, ``--timings``, ``--pool-size``), for finding
#: where a delivery's time goes; never the B1 figure itself. ``syncbridge`` is unchanged: the
#: wrapper wraps a few of its functions before ``serve`` starts. uvicorn re-raises SIGTERM once
#: it has shut down, so the figures are written by the handler it restores before that.
DIAGNOSED_SERVE = """
import cProfile, json, os, signal, sys, time
from sqlalchemy import event
from sqlalchemy.pool import Pool
import syncbridge.app, syncbridge.db
from syncbridge.inbox import endpoints, receiver
from syncbridge_hubspot import webhooks
from syncbridge.cli import app
PROFILE, TIMINGS, POOL = {profile!r}, {timings!r}, {pool!r}
spent = {{}}
def note(name, seconds):
    spent.setdefault(name, []).append(seconds)
def timed(owner, name, label, is_async=True):
    inner = getattr(owner, name)
    if is_async:
        async def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return await inner(*a, **k)
            finally:
                note(label, time.perf_counter() - t)
    else:
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                note(label, time.perf_counter() - t)
    setattr(owner, name, wrapper)
if TIMINGS:
    timed(endpoints, "receive", "request (route)")
    timed(receiver.WebhookTargets, "get", "connection lookup (targets.get)")
    timed(webhooks.WebhookVerifier, "parse", "signature check and parse", is_async=False)
    timed(receiver.InboxWriter, "write", "inbox write (queue + group commit)")
    timed(receiver.InboxWriter, "_commit", "group-commit transaction")
    timed(receiver, "queue_processing", "enqueue processing job")
    timed(receiver.repository, "insert_events", "insert events statement")
    event.listen(Pool, "connect", lambda *a: note("new database connection", 0.0))
    event.listen(Pool, "checkout", lambda *a: note("pool checkout", 0.0))
if POOL:
    plain = syncbridge.db.create_engine
    def sized(url, **kwargs):
        kwargs.setdefault("pool_size", POOL)
        kwargs.setdefault("max_overflow", 0)
        return plain(url, **kwargs)
    syncbridge.app.create_engine = sized
profile = cProfile.Profile() if PROFILE else None
def dump(*_):
    if profile is not None:
        profile.disable()
        profile.dump_stats(PROFILE)
    if TIMINGS:
        out = {{}}
        for name, values in spent.items():
            values.sort()
            n = len(values)
            p99 = values[min(n - 1, int(n * 0.99))]
            out[name] = {{"count": n, "total_s": sum(values), "mean_ms": sum(values) / n * 1e3,
                         "p50_ms": values[n // 2] * 1e3, "p99_ms": p99 * 1e3}}
        with open(TIMINGS, "w") as f:
            json.dump(out, f, indent=2)
    os._exit(0)
signal.signal(signal.SIGTERM, dump)
if profile is not None:  # profiled only while the timed run of the real server lasts
    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
    signal.signal(signal.SIGUSR2, lambda *_: profile.disable())
sys.argv[0] = "syncbridge"
app()
"""


# --- the store and the servers -----------------------------------------------------------------


async def create_hubspot_connection(settings: Settings, client_secret: str) -> uuid.UUID:
    """One enabled ``hubspot`` connection with ``client_secret`` (its API is never called)."""
    async with job_services(settings) as services, open_store(settings.database_url) as maker:
        ctx = services.connections
        # The base URL is never called during ingest; a local one only needs the guard's leave.
        ctx = ConnectionContext(registry=ctx.registry, box=ctx.box, allow_local=True)
        body = ConnectionCreate(
            connector="hubspot",
            name="b1-hubspot",
            settings={
                "base_url": "http://127.0.0.1:9/hubspot",
                "access_token": secrets.token_urlsafe(24),
                "client_secret": client_secret,
                "portal_id": PORTAL_ID,
            },
        )

        async def create(session: AsyncSession) -> uuid.UUID:
            connection = await create_connection(session, ctx, body, actor="b1")
            created: uuid.UUID = connection.id
            return created

        made: uuid.UUID = await in_unit_of_work(maker, create)
        return made


@contextmanager
def started(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[int, int]]:
    """A server process listening on a free port; yields (port, pid)."""
    port = free_port()
    cmd = [c.replace("{port}", str(port)) for c in cmd]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=out, cwd=HERE)
        try:
            _wait_ready(f"http://{HOST}:{port}", proc, log)
            yield port, proc.pid
        finally:
            _stop(proc)


def _libraries(pid: int) -> dict[str, bool]:
    """Whether the server process loaded uvloop's and httptools' extension modules."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {"uvloop": "uvloop/loop." in maps, "httptools": "httptools/parser/" in maps}


def batch_histogram(port: int) -> dict[str, Any]:
    """The group-commit batch sizes the real server observed (from ``/metrics``)."""
    text = httpx.get(f"http://{HOST}:{port}/metrics", timeout=10).text
    buckets: dict[str, float] = {}
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("syncbridge_webhook_commit_batch_size_bucket"):
            le = re.search(r'le="([^"]+)"', line)
            if le:
                buckets[le.group(1)] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("syncbridge_webhook_commit_batch_size_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("syncbridge_webhook_commit_batch_size_count"):
            count = float(line.rsplit(" ", 1)[1])
    return {"buckets": buckets, "sum": total, "count": count,
            "mean": total / count if count else math.nan}  # fmt: skip


def sanity(servers: Servers) -> int:
    """One valid delivery (200, stored) and one with a flipped signature byte (401) on the real
    server, one on the bare; returns the 2xx the real server gave (for the inbox check)."""
    stamp = int(time.time() * 1000)
    job = Job(HOST, servers.real_port, servers.path, PUBLIC_URL + servers.path,
              servers.client_secret, stamp, 9 * PHASE_SPAN, 1, 2, 0, 0, "")  # fmt: skip
    good, other = build_requests(job)[0]
    head, body = good.split(b"\r\n\r\n", 1)
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[2:-1])
    with httpx.Client(timeout=10) as client:
        url = f"http://{HOST}:{servers.real_port}{servers.path}"
        answer = client.post(url, content=body, headers=headers)
        if answer.status_code != 200 or answer.json() != {"received": 1, "new": 1}:
            raise RuntimeError(f"real server refused a signed delivery: {answer.status_code} "
                               f"{answer.text[:300]}")  # fmt: skip
        head, body = other.split(b"\r\n\r\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[2:-1])
        signature = headers["X-HubSpot-Signature-v3"]
        headers["X-HubSpot-Signature-v3"] = ("B" if signature[0] == "A" else "A") + signature[1:]
        forged = client.post(url, content=body, headers=headers)
        if forged.status_code != 401:
            raise RuntimeError(f"real server took a forged delivery: {forged.status_code}")
        bare = client.post(f"http://{HOST}:{servers.bare_port}{servers.path}", content=body)
        if bare.status_code != 202:
            raise RuntimeError(f"bare server answered {bare.status_code}")
    return 1


async def _inbox_rows(admin_dsn: str, url: str) -> int:
    database = make_url(url).database
    conn = await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + f"/{database}", timeout=10)
    try:
        rows: int = await conn.fetchval("SELECT count(*) FROM inbox_events")
        return rows
    finally:
        await conn.close()


async def _pg_settings(admin_dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        names = ("server_version", "synchronous_commit", "fsync", "shared_buffers", "wal_level")
        return {n: await conn.fetchval(f"SHOW {n}") for n in names}
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark on one throwaway PostgreSQL database."""
    client_secret = secrets.token_urlsafe(32)
    secret_key = secrets.token_urlsafe(48)
    with (
        postgres_store(args.pg_admin_dsn) as url,
        tempfile.TemporaryDirectory(prefix="sbbench-logs-") as logs,
    ):
        migrate(url)
        settings = Settings(database_url=url, secret_key=secret_key, environment="production")
        connection_id = asyncio.run(create_hubspot_connection(settings, client_secret))
        env = {
            "SYNCBRIDGE_DATABASE_URL": url,
            "SYNCBRIDGE_SECRET_KEY": secret_key,
            "SYNCBRIDGE_ENVIRONMENT": "production",
            "SYNCBRIDGE_PUBLIC_URL": PUBLIC_URL,
            "SYNCBRIDGE_LOG_LEVEL": "INFO",
            "SYNCBRIDGE_LOG_JSON": "true",
        }
        real_cmd = [str(SYNCBRIDGE), "serve", "--host", HOST, "--port", "{port}", "--no-migrate"]
        if args.profile or args.timings or args.pool_size:
            wrapper = DIAGNOSED_SERVE.format(
                profile=args.profile and str(Path(args.profile).resolve()),
                timings=args.timings and str(Path(args.timings).resolve()),
                pool=args.pool_size,
            )
            real_cmd = [sys.executable, "-c", wrapper, *real_cmd[1:]]
        bare_cmd = [sys.executable, "-m", "uvicorn", "--factory", "b1_bare:create_app",
                    "--host", HOST, "--port", "{port}", "--log-level", "warning",
                    "--app-dir", str(HERE)]  # fmt: skip
        real_log, bare_log = Path(logs) / "real.log", Path(logs) / "bare.log"
        with started(real_cmd, env, real_log) as real, started(bare_cmd, {}, bare_log) as bare:
            database = str(make_url(url).database)
            servers = Servers(real[0], bare[0], real[1], bare[1], f"/webhooks/{connection_id}",
                              client_secret, args.pg_admin_dsn, database)  # fmt: skip
            libraries = {"real": _libraries(real[1]), "bare": _libraries(bare[1])}
            real_2xx = sanity(servers)
            runs: list[Measurement] = []
            if args.warmup > 0:
                for target in ("real", "bare"):
                    runs.append(measure(servers, target, 0, args.warmup, args))
            for target in ("real", "bare"):
                runs.append(measure(servers, target, 1, args.duration, args))
            histogram = batch_histogram(real[0])
            real_2xx += sum(m.ok_2xx for m in runs if m.target == "real")
        log_lines = len(real_log.read_text(errors="replace").splitlines())
        problems = {"real": server_problems(real_log), "bare": server_problems(bare_log)}
        inbox_rows = asyncio.run(_inbox_rows(args.pg_admin_dsn, url))
    timed = {m.target: m for m in runs if m.phase == "timed"}
    ratio = timed["real"].events_per_s / timed["bare"].events_per_s
    return {
        "diagnostic_run": bool(args.profile or args.timings or args.pool_size),
        "runs": [asdict(m) for m in runs],
        "ratio": ratio,
        "ratio_ok": ratio >= TARGET_RATIO,
        "real_p99_ok": timed["real"].p99_ms < TARGET_P99_MS,
        "inbox_rows": inbox_rows,
        "real_2xx": real_2xx,
        "inbox_ok": inbox_rows == real_2xx,
        "commit_batch_size": histogram,
        "server_libraries": libraries,
        "real_server_log_lines": log_lines,
        "server_problems": problems,
        "postgresql": asyncio.run(_pg_settings(args.pg_admin_dsn)),
    }


# --- output ------------------------------------------------------------------------------------


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    say(f"  {'server':6} {'phase':8} {'events/s':>9} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'non2xx':>6} {'sock':>4} {'srv cpu':>7} {'ms/ev':>5} {'db cpu':>6} "
        f"{'ms/ev':>5} {'cli cpu':>7} {'busy':>5}  "
        "load before -> after")  # fmt: skip
    for m in result["runs"]:
        say(f"  {m['target']:6} {m['phase']:8} {m['events_per_s']:9,.0f} {m['p50_ms']:7.2f} "
            f"{m['p90_ms']:7.2f} {m['p99_ms']:7.2f} {m['max_ms']:7.1f} {m['non_2xx']:6d} "
            f"{m['socket_errors']:4d} {m['server_cpu_s']:6.1f}s "
            f"{m['server_cpu_ms_per_event']:5.2f} {m['db_cpu_s']:5.1f}s "
            f"{m['db_cpu_ms_per_event']:5.2f} {m['client_cpu_s']:6.1f}s "
            f"{m['machine_busy']:5.0%}  {m['loadavg_before']} -> {m['loadavg_after']}")  # fmt: skip
        if m["exhausted_connections"]:
            say(f"    {m['exhausted_connections']} connections ran out of pre-built requests: "
                "raise --pool-rate")  # fmt: skip
    timed = {m["target"]: m for m in result["runs"] if m["phase"] == "timed"}
    say(f"ratio real/bare {result['ratio']:.3f} (target >= {TARGET_RATIO}: "
        f"{_verdict(result['ratio_ok'])}); real p99 {timed['real']['p99_ms']:.1f} ms "
        f"(target < {TARGET_P99_MS:g} ms: {_verdict(result['real_p99_ok'])})")  # fmt: skip
    sign = "=" if result["inbox_ok"] else "!="
    say(f"inbox rows {result['inbox_rows']:,} {sign} real 2xx {result['real_2xx']:,} (sanity "
        f"check, warm-up and timed run): {_verdict(result['inbox_ok'])}")  # fmt: skip
    h = result["commit_batch_size"]
    say(f"group commit: {h['count']:,.0f} transactions, mean {h['mean']:.1f} deliveries each; "
        f"cumulative buckets {h['buckets']}")  # fmt: skip
    say(
        "  (srv cpu: the server process's CPU seconds in the run; db cpu: the store's "
        "PostgreSQL backends'; ms/ev: per response; busy: the whole machine's CPU, other work "
        "included)"
    )
    say(f"uvloop/httptools loaded: {result['server_libraries']}; real server log lines "
        f"{result['real_server_log_lines']}; PostgreSQL {result['postgresql']}")  # fmt: skip
    if result["diagnostic_run"]:
        say("DIAGNOSTIC RUN (--profile, --timings or --pool-size): the real server was changed; "
            "these are not B1 figures")  # fmt: skip
    for side, problems in result["server_problems"].items():
        if problems:
            say(f"{side} server logged {len(problems)} error line(s), first: {problems[0]}")
    say(f"generator: {args.clients} process(es), {args.connections} connections; "
        f"load {_loadavg()}, {os.cpu_count()} CPUs")  # fmt: skip


def source_state() -> dict[str, Any]:
    """Which ``src/`` was measured: the servers import the working tree, which other work may
    have changed since the last commit."""
    diff = subprocess.run(["git", "diff", "HEAD", "--", "src"], cwd=ROOT, capture_output=True,
                          timeout=30).stdout  # fmt: skip
    changed = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30).stdout  # fmt: skip
    return {"src_diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None,
            "src_changed": changed.splitlines()}  # fmt: skip


def write_results(report: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"b1_webhook_ingest-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="timed seconds per server")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=1, help="generator processes")
    parser.add_argument("--timeout", type=float, default=10.0, help="tail allowance, s")
    parser.add_argument("--pool-rate", type=float, default=20_000,
                        help="requests/s the pre-built pool of each run allows")  # fmt: skip
    diagnostics = parser.add_argument_group(
        "diagnostics (they change the real server: never report these runs as B1)"
    )
    diagnostics.add_argument(
        "--profile", help="profile the real server's timed run with cProfile, stats to this file"
    )
    diagnostics.add_argument("--timings", help="time the receiver's steps, JSON to this file")
    diagnostics.add_argument(
        "--pool-size", type=int, help="what-if: the real server's pool (max_overflow 0)"
    )
    parser.add_argument("--pg-admin-dsn", default=PG_ADMIN_DSN)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.generate:
        generate(args.generate)
        return
    if not 1 <= args.clients <= args.connections:
        raise SystemExit("--clients must be between 1 and --connections")
    configure_logging("WARNING", json=False)
    say(f"B1 webhook ingest: {args.connections} connections, {args.clients} generator "
        f"process(es), {args.duration:g} s per server after {args.warmup:g} s warm-up; "
        f"load {_loadavg()}, {os.cpu_count()} CPUs")  # fmt: skip
    result = run(args)
    report(result, args)
    targets = {"ratio_min": TARGET_RATIO, "p99_ms_max": TARGET_P99_MS}
    out = {"benchmark": "b1_webhook_ingest", "args": vars(args),
           "machine": {**machine(), **source_state()},
           "targets": targets, **result}  # fmt: skip
    say(f"results: {write_results(out).relative_to(ROOT)}")


if __name__ == "__main__":
    main()

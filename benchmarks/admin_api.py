"""Admin API cost: the real app against a bare FastAPI app that answers the same bytes.

Usage: ``python benchmarks/admin_api.py [--db sqlite|postgresql|both] [--duration 10]
[--connections 10]``. For each store it migrates a throwaway database (a temporary SQLite file,
or ``sbbench_<random>`` on PostgreSQL, dropped WITH (FORCE) at the end), bootstraps the default
taxonomy and an admin key, saves 20 mapping rules for ``hubspot`` over HTTP, then measures
``GET /v1/taxonomy/concepts?limit=50`` and ``POST /v1/mappings/preview`` on the real app and on
a bare FastAPI app (``admin_api_bare.py``) that serves the real app's captured response bodies.
Each app runs in its own single-worker uvicorn process; both are measured alternately in one
run with the same load generator (wrk, else a Python asyncio/httpx fallback), connections and
duration, after a warm-up. Prints req/s, p50, p99, errors and the ratio real/bare next to the
targets (ratio >= 0.2, real p99 < 50 ms), and writes ``benchmarks/results/admin_api-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

import syncbridge
from syncbridge.bootstrap import bootstrap_store
from syncbridge.db import migrate
from syncbridge.logs import configure_logging
from syncbridge.settings import Settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
HOST = "127.0.0.1"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 0.2
TARGET_P99_MS = 50.0
READY_TIMEOUT_S = 60.0
CONNECTOR = "hubspot"


@dataclass(frozen=True)
class Endpoint:
    """One measured call: what wrk sends, and the body it sends (POST only)."""

    name: str
    method: str
    path: str
    body: bytes | None = None


@dataclass
class Measurement:
    """One load run against one app."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    seconds: float

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


@dataclass
class Comparison:
    """Real against bare for one endpoint on one store."""

    endpoint: str
    real: Measurement
    bare: Measurement
    ratio: float = field(init=False)
    ratio_ok: bool = field(init=False)
    p99_ok: bool = field(init=False)

    def __post_init__(self) -> None:
        self.ratio = self.real.rps / self.bare.rps if self.bare.rps else math.nan
        self.ratio_ok = self.ratio >= TARGET_RATIO
        self.p99_ok = self.real.p99_ms < TARGET_P99_MS


@dataclass(frozen=True)
class Load:
    """How hard to push: the same for every run in one invocation."""

    generator: str
    duration: float
    warmup: float
    connections: int
    threads: int
    timeout: float


# --- the mapping rules and the previewed record ----------------------------------------------


def _rule(path: str, op: str, values: list[Any], concept: str, **extra: Any) -> dict[str, Any]:
    return {"connector_key": CONNECTOR, "field_path": path, "operator": op,
            "values": values, "concept": concept, **extra}  # fmt: skip


RULES: list[dict[str, Any]] = [
    _rule("properties.utm_source", "equals", ["linkedin"], "channel:linkedin", stream="deals"),
    _rule("properties.utm_source", "in", ["facebook", "fb", "meta"], "channel:meta"),
    _rule("properties.utm_medium", "in", [], "channel:email", match_labels=True),
    _rule("properties.utm_campaign", "prefix", ["q3-launch"], "objective:product-launch"),
    _rule("properties.utm_campaign", "contains", ["webinar"], "channel:webinar", priority=80),
    _rule("properties.dealname", "regex", [r"^Enterprise\b"], "audience:enterprise"),
    _rule("properties.amount", "range", [0, 10_000], "audience:smb", stream="deals"),
    _rule("properties.amount", "range", [10_000, 100_000], "audience:mid-market"),
    _rule("properties.amount", "range", [100_000, None], "audience:target-accounts"),
    _rule("properties.partner_id", "exists", [], "channel:partner", priority=20),
    _rule("properties.country", "equals", ["DE"], "region:germany", stream="deals"),
    _rule("properties.country", "in", ["US", "USA", "United States"], "region:us"),
    _rule("tags[*]", "equals", ["newsletter"], "channel:email", priority=60),
    _rule("properties.hs_analytics_source", "prefix", ["PAID_SEARCH"], "channel:paid-search"),
    _rule("properties.utm_content", "contains", ["hero"], "format:hero-banner"),
    _rule("properties.lifecyclestage", "regex", ["^(lead|mql)$"], "funnel:consideration"),
    _rule("properties.product", "in", [], "product:analytics-cloud", match_labels=True),
    _rule("properties.event_name", "exists", [], "channel:events", enabled=True),
    _rule("properties.dealstage", "prefix", ["closedwon"], "funnel:decision", priority=150),
    _rule("properties.dealtype", "equals", ["existingbusiness"], "audience:existing-customers"),
]

PREVIEW: dict[str, Any] = {
    "connector_key": CONNECTOR,
    "stream": "deals",
    "record": {
        "id": "9001",
        "properties": {
            "utm_source": "linkedin",
            "utm_medium": "Email",
            "utm_campaign": "q3-launch-webinar",
            "dealname": "Enterprise renewal 2025",
            "amount": 125_000,
            "country": "DE",
            "hs_analytics_source": "ORGANIC_SEARCH",
            "lifecyclestage": "customer",
            "dealstage": "closedwon",
            "dealtype": "newbusiness",
            "utm_content": "banner-a",
        },
        "tags": ["newsletter", "q3"],
    },
}


# --- stores ------------------------------------------------------------------------------------


@contextmanager
def sqlite_store() -> Iterator[str]:
    """A SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="sbbench-") as folder:
        yield f"sqlite+aiosqlite:///{folder}/syncbridge.db"


async def _pg_admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres_store(admin_dsn: str) -> Iterator[str]:
    """A throwaway ``sbbench_<random>`` database, dropped WITH (FORCE) afterwards."""
    name = f"sbbench_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(admin_dsn).set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def prepare_store(url: str) -> str:
    """Migrate, load the default taxonomy and return the bootstrap admin key."""
    migrate(url)
    key = asyncio.run(bootstrap_store(Settings(database_url=url, environment="development")))
    if not key:
        raise RuntimeError("bootstrap_store returned no admin key (is the store fresh?)")
    return key


# --- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base}/healthz not ready after {READY_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextmanager
def server(factory: str, env: dict[str, str], log: Path, app_dir: Path = ROOT) -> Iterator[str]:
    """One single-worker uvicorn process on a free port; yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", HOST,
           "--port", str(port), "--log-level", "warning", "--no-access-log",
           "--app-dir", str(app_dir)]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=out)
        try:
            _wait_ready(f"http://{HOST}:{port}", proc, log)
            yield f"http://{HOST}:{port}"
        finally:
            _stop(proc)


def server_problems(log: Path) -> list[str]:
    """Lines of a server log that look like errors (tracebacks, error-level events)."""
    pattern = re.compile(r"Traceback|\bERROR\b|\"level\": ?\"(error|critical)\"|Exception in")
    return [line for line in log.read_text(errors="replace").splitlines() if pattern.search(line)]


# --- seeding and capture -----------------------------------------------------------------------


def seed_rules(base: str, key: str) -> None:
    """Save the 20 rules over HTTP, checking every target concept exists."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        listed = client.get("/v1/taxonomy/concepts", params={"limit": 200}).raise_for_status()
        known = {c["key"] for c in listed.json()["items"]}
        missing = sorted({r["concept"] for r in RULES} - known)
        if missing:
            raise RuntimeError(f"concepts missing from the default taxonomy: {missing}")
        for rule in RULES:
            response = client.post("/v1/mappings", json=rule)
            if response.status_code != 201:
                raise RuntimeError(f"rule refused ({response.status_code}): {response.text}")


def send(base: str, key: str, endpoint: Endpoint) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return httpx.request(
        endpoint.method, base + endpoint.path, content=endpoint.body, headers=headers, timeout=30
    )


def capture(base: str, key: str, endpoint: Endpoint) -> bytes:
    """The real app's response body, which must be 200 and the same when asked twice."""
    first, second = send(base, key, endpoint), send(base, key, endpoint)
    if first.status_code != 200:
        raise RuntimeError(f"{endpoint.name}: {first.status_code} {first.text[:500]}")
    if first.content != second.content:
        raise RuntimeError(f"{endpoint.name}: the real app's body changes between calls")
    return first.content


# --- load generators ---------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _wrk_latency(output: str, percent: str) -> float:
    found = re.search(rf"^\s*{percent}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else math.nan


def _wrk_int(pattern: str, output: str) -> int:
    found = re.search(pattern, output)
    return sum(int(g) for g in found.groups()) if found else 0


def parse_wrk(output: str) -> Measurement:
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rps is None:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    return Measurement(
        rps=float(rps.group(1)),
        p50_ms=_wrk_latency(output, "50"),
        p99_ms=_wrk_latency(output, "99"),
        requests=int(total.group(1)),
        non_2xx=_wrk_int(r"Non-2xx or 3xx responses: (\d+)", output),
        socket_errors=_wrk_int(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
        ),
        seconds=float(total.group(2)) * _UNITS[total.group(3)] / 1e3,
    )


def _wrk_script(endpoint: Endpoint, folder: Path) -> list[str]:
    if endpoint.body is None:
        return []
    body = folder / f"{endpoint.name}-body.json"
    body.write_bytes(endpoint.body)
    script = folder / f"{endpoint.name}.lua"
    script.write_text(
        f'wrk.method = "{endpoint.method}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = assert(io.open({json.dumps(str(body))}, "rb"))\n'
        'wrk.body = f:read("*a")\nf:close()\n'
    )
    return ["-s", str(script)]


def run_wrk(url: str, key: str, endpoint: Endpoint, seconds: float, load: Load) -> Measurement:
    with tempfile.TemporaryDirectory(prefix="sbbench-wrk-") as folder:
        cmd = ["wrk", "-t", str(min(load.threads, load.connections)),
               "-c", str(load.connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", f"{load.timeout:g}s", "--latency",
               "-H", f"Authorization: Bearer {key}",
               *_wrk_script(endpoint, Path(folder)), url + endpoint.path]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


async def _py_worker(
    client: httpx.AsyncClient, endpoint: Endpoint, deadline: float, stats: dict[str, Any]
) -> None:
    while (started := time.perf_counter()) < deadline:
        try:
            response = await client.request(endpoint.method, endpoint.path, content=endpoint.body)
        except httpx.HTTPError:
            stats["socket_errors"] += 1
            continue
        stats["latencies"].append(time.perf_counter() - started)
        stats["non_2xx"] += response.status_code >= 400


async def _py_load(url: str, key: str, endpoint: Endpoint, seconds: float, load: Load) -> Any:
    stats: dict[str, Any] = {"latencies": [], "non_2xx": 0, "socket_errors": 0}
    limits = httpx.Limits(max_connections=load.connections)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=load.timeout
    ) as client:
        started = time.perf_counter()
        deadline = started + seconds
        workers = [_py_worker(client, endpoint, deadline, stats) for _ in range(load.connections)]
        await asyncio.gather(*workers)
        stats["seconds"] = time.perf_counter() - started
    return stats


def run_python(url: str, key: str, endpoint: Endpoint, seconds: float, load: Load) -> Measurement:
    stats = asyncio.run(_py_load(url, key, endpoint, seconds, load))
    latencies: list[float] = stats["latencies"]
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [math.nan] * 99
    return Measurement(
        rps=len(latencies) / stats["seconds"],
        p50_ms=cuts[49] * 1e3,
        p99_ms=cuts[98] * 1e3,
        requests=len(latencies),
        non_2xx=stats["non_2xx"],
        socket_errors=stats["socket_errors"],
        seconds=stats["seconds"],
    )


def measure(url: str, key: str, endpoint: Endpoint, seconds: float, load: Load) -> Measurement:
    run = run_wrk if load.generator == "wrk" else run_python
    return run(url, key, endpoint, seconds, load)


def compare(real: str, bare: str, key: str, endpoint: Endpoint, load: Load) -> Comparison:
    """Warm both up, then measure real and bare one after the other."""
    for url in (real, bare):
        measure(url, key, endpoint, load.warmup, load)
    real_m = measure(real, key, endpoint, load.duration, load)
    bare_m = measure(bare, key, endpoint, load.duration, load)
    return Comparison(f"{endpoint.method} {endpoint.path}", real_m, bare_m)


# --- one store ---------------------------------------------------------------------------------


def endpoints() -> list[Endpoint]:
    return [
        Endpoint("concepts", "GET", "/v1/taxonomy/concepts?limit=50"),
        Endpoint("preview", "POST", "/v1/mappings/preview", json.dumps(PREVIEW).encode()),
    ]


def _check_bare(bare: str, key: str, captured: dict[str, bytes]) -> None:
    for endpoint in endpoints():
        if send(bare, key, endpoint).content != captured[endpoint.name]:
            raise RuntimeError(f"the bare app's {endpoint.name} body differs from the real one")


def bench_store(url: str, load: Load, logs: Path) -> dict[str, Any]:
    """Set up the real and bare servers on one store and compare every endpoint."""
    key = prepare_store(url)
    env = {"SYNCBRIDGE_DATABASE_URL": url, "SYNCBRIDGE_ENVIRONMENT": "development"}
    real_log, bare_log = logs / "real.log", logs / "bare.log"
    with server("syncbridge.app:create_app", env, real_log) as real:
        seed_rules(real, key)
        captured = {e.name: capture(real, key, e) for e in endpoints()}
        for name, body in captured.items():
            (logs / f"{name}.json").write_bytes(body)
        bare_env = {"SBBENCH_BARE_DIR": str(logs)}
        with server("admin_api_bare:create_app", bare_env, bare_log, app_dir=HERE) as bare:
            _check_bare(bare, key, captured)
            comparisons = [compare(real, bare, key, e, load) for e in endpoints()]
    preview = json.loads(captured["preview"])
    return {
        "rules": len(RULES),
        "preview_matches": len(preview["matches"]),
        "rules_evaluated": preview["rules_evaluated"],
        "concepts_body_bytes": len(captured["concepts"]),
        "comparisons": [_comparison_dict(c) for c in comparisons],
        "real_server_problems": server_problems(real_log),
        "bare_server_problems": server_problems(bare_log),
    }


def _comparison_dict(comparison: Comparison) -> dict[str, Any]:
    out = asdict(comparison)
    for side in ("real", "bare"):
        out[side]["errors"] = getattr(comparison, side).errors
    return out


def run_store(kind: str, load: Load, admin_dsn: str) -> dict[str, Any]:
    store = sqlite_store() if kind == "sqlite" else postgres_store(admin_dsn)
    with store as url, tempfile.TemporaryDirectory(prefix="sbbench-logs-") as logs:
        return bench_store(url, load, Path(logs))


# --- output ------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_store(kind: str, result: dict[str, Any]) -> None:
    print(f"\n[{kind}] {result['rules']} rules; preview matches {result['preview_matches']}, "  # noqa: T201
          f"rules evaluated {result['rules_evaluated']}")  # fmt: skip
    header = f"  {'endpoint':34} {'app':5} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
    print(header)  # noqa: T201
    for c in result["comparisons"]:
        for side in ("real", "bare"):
            m = c[side]
            print(f"  {c['endpoint']:34} {side:5} {m['rps']:9,.1f} {m['p50_ms']:9.2f} "  # noqa: T201
                  f"{m['p99_ms']:9.2f} {m['errors']:7d}")  # fmt: skip
        print(f"  {'':34} ratio real/bare {c['ratio']:.3f} (target >= {TARGET_RATIO}: "  # noqa: T201
              f"{_verdict(c['ratio_ok'])}); real p99 {c['real']['p99_ms']:.1f} ms "
              f"(target < {TARGET_P99_MS:g} ms: {_verdict(c['p99_ok'])})")  # fmt: skip
    for side in ("real", "bare"):
        problems = result[f"{side}_server_problems"]
        if problems:
            print(f"  {side} server logged {len(problems)} error line(s), first: {problems[0]}")  # noqa: T201


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "src_dirty": bool(_git("status", "--porcelain", "src")),
        "syncbridge_from": str(Path(syncbridge.__file__).resolve().parent),
    }


def write_results(report: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"admin_api-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


# --- main --------------------------------------------------------------------------------------


def pick_generator(wanted: str) -> str:
    if wanted in ("auto", "wrk") and shutil.which("wrk"):
        return "wrk"
    if wanted == "wrk":
        raise SystemExit("wrk is not on PATH (apt-get install -y wrk), or use --generator python")
    return "python"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per app")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (<= connections)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout, s")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--pg-admin-dsn", default=PG_ADMIN_DSN, help="where CREATE DATABASE runs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    configure_logging("WARNING", json=False)  # keep migration/bootstrap chatter off the table
    load = Load(pick_generator(args.generator), args.duration, args.warmup,
                args.connections, args.threads, args.timeout)  # fmt: skip
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"generator: {load.generator}; {load.connections} connections, "  # noqa: T201
          f"{load.duration:g} s per run after {load.warmup:g} s warm-up; "
          "real and bare measured alternately")  # fmt: skip
    if load.generator == "python":
        print("note: the Python generator is client-bound on 2 cores: bare figures are "  # noqa: T201
              "its ceiling, not the app's, so ratios read high; install wrk")  # fmt: skip
    print(f"syncbridge from {Path(syncbridge.__file__).resolve().parent}")  # noqa: T201
    stores: dict[str, Any] = {}
    for kind in kinds:
        stores[kind] = run_store(kind, load, args.pg_admin_dsn)
        print_store(kind, stores[kind])
    report = {"benchmark": "admin_api", "load": asdict(load), "machine": machine(),
              "targets": {"ratio_min": TARGET_RATIO, "p99_ms_max": TARGET_P99_MS},
              "stores": stores}  # fmt: skip
    print(f"\nresults: {write_results(report).relative_to(ROOT)}")  # noqa: T201


if __name__ == "__main__":
    main()

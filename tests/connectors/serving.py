"""Serve an ASGI app with a real uvicorn server on a free loopback port, for a test block:
in a thread (:func:`serving`) or, over TLS when asked, in a child process
(:func:`serving_in_child`)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx
import trustme
import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT_S = 10.0
#: A child process imports the app's package first: give it longer.
CHILD_START_TIMEOUT_S = 30.0


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` on a free loopback port (in a thread) for the block; yields its origin.

    Requests still running when the block ends are abandoned, not awaited.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start serving")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        # The block is over, so nobody waits on a request still in flight (a stalled fault
        # outlives the client that gave up on it): stop without draining, tasks are cancelled.
        server.force_exit = True
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
        sock.close()


@dataclass(frozen=True)
class ChildServer:
    """An app served by :func:`serving_in_child`."""

    #: ``https://127.0.0.1:<port>`` (``http://`` without TLS).
    origin: str
    #: PEM file of the throwaway CA that issued the server's certificate (None without TLS).
    ca_file: str | None


_CHILD_PRELUDE = """\
import sys, uvicorn
port, keyfile, args = int(sys.argv[1]), sys.argv[2] or None, sys.argv[3:]
"""
_CHILD_RUN = """
uvicorn.run(app, host="127.0.0.1", port=port, ssl_keyfile=keyfile, ssl_certfile=keyfile,
            log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
"""


def free_port() -> int:
    """A loopback port free right now (for an app that must know its origin before it runs)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving_in_child(
    build: str, *args: str, tls: bool = False, port: int | None = None
) -> Iterator[ChildServer]:
    """Serve an app under uvicorn in a child Python process for the block.

    ``build`` is Python source that binds ``app``; it sees ``args`` (strings) as ``args``.
    With ``tls`` the server presents a certificate for 127.0.0.1 issued by a throwaway
    ``trustme`` CA (the SDKs that always build ``https://`` URLs need one). A child process
    rather than :func:`serving`'s thread: an in-thread TLS server leaves half-closed transports
    behind when its loop stops, which pytest reports.
    """
    with ExitStack() as files:
        keyfile = ca_file = None
        if tls:
            ca = trustme.CA()
            leaf = ca.issue_cert("127.0.0.1", "localhost")
            keyfile = files.enter_context(leaf.private_key_and_cert_chain_pem.tempfile())
            ca_file = files.enter_context(ca.cert_pem.tempfile())
        port = port or free_port()
        origin = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        program = _CHILD_PRELUDE + textwrap.dedent(build) + _CHILD_RUN
        process = subprocess.Popen([sys.executable, "-c", program, str(port), keyfile or "", *args])
        try:
            _wait_until_answering(origin, ca_file, process)
            yield ChildServer(origin, ca_file)
        finally:
            process.terminate()
            try:
                process.wait(timeout=START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_answering(
    origin: str, ca_file: str | None, process: subprocess.Popen[bytes]
) -> None:
    """Until any HTTP answer comes back from ``origin`` (the child is slow to import)."""
    verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
    deadline = time.monotonic() + CHILD_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the app's process exited")
        try:
            httpx.get(f"{origin}/", verify=verify, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the app did not start serving")

"""The SSRF guard: connection URLs may only reach public hosts (QUALITY R7).

Checked twice: when a connection is saved (:func:`validate_url`, a 422 naming the field) and
on every request the shared HTTP client sends (:class:`SSRFGuardTransport`, raising
:class:`SSRFRefused`), so a redirect a connector follows, or DNS that changed since the
connection was saved, cannot reach loopback, private, link-local, metadata or other
non-public addresses.

Hosts are parsed with httpx's own URL parser (the one that will send the request), IPv4
literals are normalised the way ``inet_aton`` reads them (``2130706433``, ``0177.0.0.1``,
``0x7f.1`` and ``127.1`` are all 127.0.0.1), and names are resolved: a name is refused if ANY
of its addresses is. Residual risk: the inner transport resolves the name again when it
connects, so a rebinding DNS server with a zero TTL has a window of milliseconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpx

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.http import DEFAULT_LIMITS
from syncbridge.errors import InvalidInput
from syncbridge.logs import get_logger

__all__ = [
    "Resolver",
    "SSRFGuardTransport",
    "SSRFRefused",
    "address_refusal",
    "guarded_transport",
    "parse_ip_literal",
    "resolve_host",
    "url_refusal",
    "validate_url",
]

log = get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host)`` -> the addresses ``host`` resolves to; raises ``OSError`` when it does not.
Resolver = Callable[[str], Awaitable[Sequence[str]]]

RESOLVE_TIMEOUT_S = 5.0
ALLOWED_SCHEMES = frozenset({"http", "https"})
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "localhost"}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


class SSRFRefused(PermanentConnectorError):
    """A request to a local, private or metadata address was refused at call time."""

    title = "Refused by the SSRF guard"


async def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to (``getaddrinfo`` in a thread, with a time limit)."""
    async with asyncio.timeout(RESOLVE_TIMEOUT_S):
        infos = await asyncio.to_thread(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    # inet_aton reads 1-4 dot-separated parts in decimal, octal (0...) or hex (0x...); the
    # last part fills the remaining bytes, so "127.1" and "2130706433" are 127.0.0.1.
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(p) for p in parts):
        return None
    values = [
        int(p[2:] or "0", 16) if p[:2].lower() == "0x" else int(p, 8 if p[0] == "0" else 10)
        for p in parts
    ]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for value in head:
        number = number << 8 | value
    return ipaddress.IPv4Address(number << (8 * (4 - len(head))) | last)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any spelling ``inet_aton`` or IPv6 accepts; else None."""
    host = host.strip("[]").rstrip(".")
    if ":" in host:
        try:
            # A zone (fe80::1%eth0, %25 in URLs) does not change what the address is.
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    return _inet_aton(host)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    return None


def address_refusal(addr: IPAddress) -> str | None:
    """Why ``addr`` may not be called (None: a public address)."""
    if addr in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return f"an IPv4-mapped IPv6 address (it reaches {addr.ipv4_mapped})"
        if int(addr) >> 32 == 0 and int(addr) > 1:
            return "an IPv4-compatible IPv6 address"
        embedded = _embedded_ipv4(addr)
        if embedded is not None and address_refusal(embedded):
            return f"an IPv6 address embedding {embedded}"
    checks: list[tuple[bool, str]] = [
        (addr.is_unspecified, "an unspecified address"),
        (addr.is_loopback, "a loopback address"),
        (addr.is_link_local, "a link-local address"),
        (addr.is_multicast, "a multicast address"),
        (isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT, "a shared (CGNAT) address"),
        (addr.is_private, "a private address"),
        (addr.is_reserved, "a reserved address"),
        (not addr.is_global, "not a public address"),
    ]
    return next((reason for refused, reason in checks if refused), None)


def _name_refusal(host: str) -> str | None:
    name = host.rstrip(".").lower()
    if name in METADATA_NAMES or name.endswith(".localhost"):
        return f"{name} is a local or cloud metadata host name"
    return None


def origin_of(url: str | httpx.URL) -> str | None:
    """``scheme://host:port`` of ``url`` (the port always written), or None if unparseable."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if not parsed.scheme or not parsed.host:
        return None
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    return f"{parsed.scheme}://{parsed.host.lower()}:{port}"


def origins(urls: Iterable[str]) -> frozenset[str]:
    """The origins of ``urls`` as :func:`origin_of` writes them (unparseable ones dropped)."""
    return frozenset(o for o in map(origin_of, urls) if o is not None)


def allowed_origin(url: str | httpx.URL, origins: frozenset[str]) -> bool:
    """True when ``url`` lies on one of ``origins`` (each as :func:`origin_of` writes it)."""
    return bool(origins) and origin_of(url) in origins


async def url_refusal(url: str | httpx.URL, *, resolver: Resolver = resolve_host) -> str | None:
    """Why ``url`` may not be called (None: it may).

    Raises ``OSError`` (or ``TimeoutError``) when the host name does not resolve.
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return f"it is not a valid URL ({exc})"
    if scheme_reason := _scheme_refusal(parsed):
        return scheme_reason
    host = parsed.host
    literal = parse_ip_literal(host)
    if literal is not None:
        reason = address_refusal(literal)
        spelled = host if host == str(literal) else f"{host} ({literal})"
        return f"{spelled} is {reason}" if reason else None
    if name_reason := _name_refusal(host):
        return name_reason
    addresses = await resolver(host)
    if not addresses:
        raise OSError(f"{host} resolved to no address")
    for address in addresses:
        resolved = parse_ip_literal(address)
        reason = "not an IP address" if resolved is None else address_refusal(resolved)
        if reason:
            return f"{host} resolves to {address}, {reason}"
    return None


def _scheme_refusal(parsed: httpx.URL) -> str | None:
    if parsed.scheme not in ALLOWED_SCHEMES:
        return f"the scheme must be http or https, not {parsed.scheme or 'none'!r}"
    if parsed.userinfo:
        return "credentials in the URL (user@host) are not allowed"
    if not parsed.host:
        return "it has no host"
    return None


async def validate_url(
    url: str,
    *,
    allow_local: bool,
    field: str = "base_url",
    resolver: Resolver = resolve_host,
    allowed_origins: frozenset[str] = frozenset(),
) -> None:
    """Refuse a URL that syncbridge must not call, as :class:`InvalidInput` on ``field``.

    The scheme (http/https only) and userinfo checks always apply; host checks are skipped
    when ``allow_local`` (the sandbox setting) is on. A host that does not resolve is refused.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        reason: str | None = f"it is not a valid URL ({exc})"
    else:
        reason = _scheme_refusal(parsed)
        if reason is None and not allow_local and not allowed_origin(parsed, allowed_origins):
            try:
                reason = await url_refusal(parsed, resolver=resolver)
            except (OSError, TimeoutError):
                reason = f"{parsed.host} does not resolve"
    if reason:
        raise InvalidInput(
            f"{field} is refused by the SSRF guard: {reason}.",
            errors=[{"field": field, "reason": f"refused by the SSRF guard: {reason}"}],
        )


class SSRFGuardTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and re-checks the host of every request before it is sent.

    With ``allow_local`` (the sandbox setting) loopback and private hosts pass, but the
    scheme and userinfo checks still apply.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        resolver: Resolver = resolve_host,
        allow_local: bool = False,
        allowed_origins: frozenset[str] = frozenset(),
    ) -> None:
        self._inner = inner
        self._resolver = resolver
        self.allow_local = allow_local
        self.allowed_origins = allowed_origins

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport, or raise :class:`SSRFRefused`."""
        if self.allow_local or allowed_origin(request.url, self.allowed_origins):
            if reason := _scheme_refusal(request.url):
                raise SSRFRefused(f"Refused by the SSRF guard: {reason}.")
            return await self._inner.handle_async_request(request)
        try:
            reason = await url_refusal(request.url, resolver=self._resolver)
        except (OSError, TimeoutError) as exc:
            # Not an SSRF matter: the host is unknown right now, which may pass.
            raise httpx.ConnectError(
                f"{request.url.host} does not resolve", request=request
            ) from exc
        if reason:
            log.warning("ssrf.refused", host=request.url.host, reason=reason)
            raise SSRFRefused(f"Refused by the SSRF guard: {reason}.")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


def guarded_transport(
    inner: httpx.AsyncBaseTransport | None = None,
    *,
    resolver: Resolver = resolve_host,
    allow_local: bool = False,
    allowed_origins: frozenset[str] = frozenset(),
) -> SSRFGuardTransport:
    """The shared client's transport: ``inner`` (real HTTP by default) behind the guard."""
    return SSRFGuardTransport(
        inner or httpx.AsyncHTTPTransport(limits=DEFAULT_LIMITS),
        resolver=resolver,
        allow_local=allow_local,
        allowed_origins=allowed_origins,
    )

"""The guard on outbound HTTP that user input can aim: pipeline ``http_request`` steps, notification webhooks.

A URL a user typed must not reach the portal itself, its database, the cloud metadata service or anything
else on a private network (SSRF). So the host is resolved here, every address it resolves to must be public
(``refusal``), and the connection is then made to that checked address, never to the name again: a DNS
answer that changes between check and connect (rebinding) cannot slip past. The Host header, TLS SNI and
certificate check still use the name. Redirects open a new connection, so each hop is checked the same way.

Numeric spellings (``2130706433``, ``0x7f.1``, ``017700000001``) are what the resolver turns them into, and
IPv6 forms that carry an IPv4 address (``::ffff:127.0.0.1``, ``::127.0.0.1``, 6to4, Teredo, NAT64) are judged
by that IPv4 address. ``settings.OUTBOUND_ALLOWED_NETWORKS`` lists networks an admin allows anyway.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.error
import urllib.request
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not covered by ``ipaddress``'s flags, or worth naming: CGNAT, cloud metadata, NAT64 local use.
_ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",
        "169.254.169.254/32",
        "fd00:ec2::254/128",
        "64:ff9b:1::/48",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_TIMEOUT: Any = getattr(socket, "_GLOBAL_DEFAULT_TIMEOUT")  # noqa: B009 - private in the stubs


class OutboundRefused(OSError):
    """The destination is not a public address (and not in ``OUTBOUND_ALLOWED_NETWORKS``)."""


@lru_cache(maxsize=8)
def _parse_networks(raw: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in raw if n.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {exc}") from None


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    raw = getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ()) or ()
    if isinstance(raw, str):
        raw = raw.split(",")
    return _parse_networks(tuple(raw))


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, Teredo client, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # NAT64, or the deprecated ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _why_not_public(ip: IPAddress) -> str | None:
    for flag in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{flag}"):
            return flag.replace("_", "-")
    if any(ip in net for net in _ALWAYS_REFUSED if net.version == ip.version):
        return "reserved"
    return None if ip.is_global else "non-public"


def refusal(ip: IPAddress | str) -> str | None:
    """Why the portal must not connect to ``ip`` (e.g. ``"loopback"``), or None when it may."""
    ip = ipaddress.ip_address(ip)
    forms = ([v4] if (v4 := embedded_ipv4(ip)) else []) + [ip]  # the IPv4 inside names the real target
    networks = allowed_networks()
    if any(form in net for form in forms for net in networks if net.version == form.version):
        return None
    for form in forms:
        if reason := _why_not_public(form):
            return reason
    return None


def _refused(host: str, reason: str) -> OutboundRefused:
    # One message whatever the port or whether anything listens there: a refusal must not leak reachability.
    return OutboundRefused(f"{host} is a {reason} address; the portal does not connect to it")


def numeric_host_refusal(host: str) -> str | None:
    """For a host written as an address in any spelling, why it is refused; None for names (resolved later)."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    for info in infos:
        if reason := refusal(str(info[4][0]).split("%")[0]):
            return str(_refused(host, reason))
    return None


def resolve_checked(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, all of them allowed; ``OutboundRefused`` if any is not."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host}: {getattr(exc, 'strerror', None) or exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if reason := refusal(ip):
            raise _refused(host, reason)
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def _pinned_connection(
    address: tuple[str, int], timeout: Any = _DEFAULT_TIMEOUT, source_address: Any = None
) -> socket.socket:
    """``socket.create_connection`` that connects only to addresses checked a moment ago."""
    host, port = address
    error: OSError | None = None
    for ip in resolve_checked(host, port):
        try:
            return socket.create_connection((str(ip), port), timeout, source_address)
        except OSError as exc:
            error = exc
    raise error or OSError(f"cannot connect to {host}")


class GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = _pinned_connection


class GuardedHTTPSConnection(http.client.HTTPSConnection):
    """TLS is wrapped around the pinned socket with ``server_hostname`` = the name: SNI and certificate
    verification are those of the URL, not of the IP."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = _pinned_connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(GuardedHTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(GuardedHTTPSConnection, req, context=self._context)


def build_opener(
    *handlers: urllib.request.BaseHandler, ssl_context: ssl.SSLContext | None = None
) -> urllib.request.OpenerDirector:
    """A urllib opener whose every connection (redirects included) goes through the guard. Environment
    proxies are ignored: through a proxy the portal could not know which address it finally reaches.
    ``ssl_context``: e.g. one trusting a chart repository's own CA."""
    https = _HTTPSHandler(context=ssl_context)
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _HTTPHandler(), https, *handlers)


def urlopen(opener: urllib.request.OpenerDirector, request: urllib.request.Request, *, timeout: float) -> Any:
    """``opener.open`` that raises ``OutboundRefused`` itself rather than wrapped in a ``URLError``."""
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError:
        raise
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, OutboundRefused):
            raise exc.reason from None
        raise

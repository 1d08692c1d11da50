"""The address of the client behind a request, the one place that decides whether to believe X-Forwarded-For.

Anyone can send ``X-Forwarded-For``. It is only believed when the direct peer (``REMOTE_ADDR``) is one of
``TRUSTED_PROXIES``; then the header is read from the right, skipping further trusted proxies, and the first
address that is not one of them is the client (the left part of the header is whatever the client wrote).
The token-failure limiter and django-axes (``AXES_CLIENT_IP_CALLABLE``) both use :func:`client_ip`, so a
forged header can neither dodge the limits nor lock a victim's address out.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer's, or (behind a trusted proxy) the right-most untrusted forwarded one.

    ``None`` when the peer has no IP address (a unix socket, ``force_login``'s bare request): django-axes stores
    the value in an address column, which refuses anything else.
    """
    peer = _parse(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _is_trusted(peer, networks):
        return str(peer)
    client = peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for part in reversed(forwarded.split(",") if forwarded else []):
        address = _parse(part)
        if address is None:
            break  # garbage written by someone: the last address our proxies vouched for stands
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)

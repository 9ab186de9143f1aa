"""The client's address, honouring X-Forwarded-For only from configured proxies."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web


@lru_cache(maxsize=64)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _is_trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(proxies))


def client_ip(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    remote = request.remote or "unknown"
    if not trusted_proxies or not _is_trusted(remote, trusted_proxies):
        return remote
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    for hop in reversed(forwarded):  # the right-most address no trusted proxy vouches for
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return forwarded[0] if forwarded else remote

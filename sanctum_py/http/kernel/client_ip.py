"""The client's address, honouring X-Forwarded-For only from configured proxies.

Every X-Forwarded-For line counts: RFC 9110 §5.3 makes several lines one comma-separated list, and a
proxy such as HAProxy (`option forwardfor`) appends its own line after whatever the client sent, so
reading only the first line would let the client name its own address. The list is walked from the
right: trusted proxies are skipped, and the first hop no trusted proxy stands behind is the client.
A hop that is not an address (`unknown`, garbage) ends the walk: nobody we trust vouches for what
stands left of it, so the last trusted hop is the client's address instead. `1.2.3.4:80` and
`[2001:db8::1]:80` (some balancers add the port) count as their address, and every address is
keyed in its canonical spelling, so one client cannot pass for several.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=64)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse(hop: str) -> IPAddress | None:
    """The address a forwarded hop names (its port dropped), or None when it names none."""
    if hop.startswith("["):  # [IPv6]:port
        hop = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:  # IPv4:port (a bare IPv6 address has at least two colons)
        hop = hop.partition(":")[0]
    try:
        return ipaddress.ip_address(hop)
    except ValueError:
        return None


def _is_trusted(address: IPAddress | None, proxies: tuple[str, ...]) -> bool:
    return address is not None and any(address in network for network in _networks(proxies))


def client_ip(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    remote = request.remote or "unknown"
    if not trusted_proxies or not _is_trusted(_parse(remote), trusted_proxies):
        return remote
    lines = request.headers.getall("X-Forwarded-For", ())
    hops = [part.strip() for line in lines for part in line.split(",") if part.strip()]
    client = remote
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            return client  # the chain of trust breaks here
        client = str(address)
        if not _is_trusted(address, trusted_proxies):
            return client
    return client  # every hop is a trusted proxy: the left-most one

"""The client address behind trusted proxies: every X-Forwarded-For line counts (RFC 9110 §5.3), and a
value that is not an address never becomes one."""

from __future__ import annotations

from multidict import CIMultiDict

from tests.conftest import ClientFactory
from tests.support.api import JSON_HEADERS

PROXY_LINE = "203.0.113.7"  # what a proxy like HAProxy (`option forwardfor`) appends as its own line


def forwarded(*lines: str) -> CIMultiDict[str]:
    headers = CIMultiDict(JSON_HEADERS)
    for line in lines:
        headers.add("X-Forwarded-For", line)
    return headers


async def statuses(client: object, header_sets: list[CIMultiDict[str]]) -> list[int]:
    return [(await client.post("/api/login", json={}, headers=headers)).status for headers in header_sets]  # type: ignore[attr-defined]


async def test_a_client_line_before_the_proxy_line_does_not_pick_the_address(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=2, trusted_proxies=["127.0.0.1"])
    # Each request names another address of its own choosing; the proxy's line names the real one.
    chosen = [forwarded(f"198.51.100.{n}", PROXY_LINE) for n in range(4)]
    assert await statuses(client, chosen) == [422, 422, 429, 429]
    # Another client behind the same proxy has its own budget.
    assert await statuses(client, [forwarded("203.0.113.8")]) == [422]


async def test_lines_and_commas_are_one_list(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=2, trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    spellings = [
        forwarded(f"198.51.100.1, {PROXY_LINE}"),
        forwarded("198.51.100.2", f"{PROXY_LINE}, 10.0.0.1"),
        forwarded("198.51.100.3", PROXY_LINE, "10.0.0.2"),
    ]
    assert await statuses(client, spellings) == [422, 422, 429]


async def test_values_that_are_not_addresses_never_become_the_client(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=2, trusted_proxies=["127.0.0.1"])
    # The proxy could not name its client ("unknown"): what stands left of it was never vouched
    # for, so all of these count against the proxy's own address, whatever the client prepends.
    unnamed = [forwarded(f"198.51.100.{n}", "unknown") for n in range(2)] + [forwarded("garbage, _hidden")]
    assert await statuses(client, unnamed) == [422, 422, 429]


async def test_ports_and_spellings_of_one_address_share_a_budget(make_client: ClientFactory) -> None:
    client = await make_client(api_rate_limit=2, trusted_proxies=["127.0.0.1"])
    ipv4 = [forwarded("203.0.113.9:1234"), forwarded("203.0.113.9"), forwarded("203.0.113.9:80")]
    assert await statuses(client, ipv4) == [422, 422, 429]
    ipv6 = [forwarded("[2001:DB8::1]:443"), forwarded("2001:db8:0::1"), forwarded("2001:db8::1")]
    assert await statuses(client, ipv6) == [422, 422, 429]

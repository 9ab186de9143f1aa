"""A test client that reads every response whole and checks it against openapi.yaml."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from multidict import CIMultiDictProxy

from tests.support.openapi import check_response


@dataclass
class WireResponse:
    """A response as the wire carried it: status, headers and the exact body bytes."""

    method: str
    path: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class ContractClient:
    def __init__(self, client: TestClient) -> None:
        self.raw = client

    @property
    def app(self) -> Any:
        return self.raw.app

    async def request(self, method: str, path: str, **kwargs: Any) -> WireResponse:
        async with self.raw.request(method, path, **kwargs) as response:
            body = await response.read()
            wire = WireResponse(method.upper(), path, response.status, response.headers, body)
        check_response(wire)
        # Imported here: conftest imports this module before it registers secret_scan as a plugin, and a
        # plugin imported earlier cannot have its asserts rewritten (a warning, so an error here).
        from tests.support.secret_scan import observe_exchange

        observe_exchange(wire.method, path, kwargs, wire)  # the secrets it carries must never be logged
        return wire

    async def get(self, path: str, **kwargs: Any) -> WireResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> WireResponse:
        return await self.request("POST", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> WireResponse:
        return await self.request("DELETE", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> WireResponse:
        return await self.request("PUT", path, **kwargs)

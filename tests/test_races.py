"""Concurrent requests racing for the same unique values: the database decides, the client sees 422."""

from __future__ import annotations

import asyncio

from sanctum_py.db.models import User
from tests.conftest import ClientFactory
from tests.support.api import JSON_HEADERS, registration
from tests.support.contract import ContractClient

RACERS = 100
TAKEN = {
    "username": ["The username has already been taken."],
    "email": ["The email has already been taken."],
}


async def test_concurrent_registrations_of_one_identity(make_client: ClientFactory) -> None:
    # 100 anonymous requests from one address: lift the 60/minute API limit so only the race decides.
    client = await make_client(api_rate_limit=1000)
    body = registration()
    responses = await asyncio.gather(
        *(client.post("/api/register", json=body, headers=JSON_HEADERS) for _ in range(RACERS))
    )
    statuses = sorted(response.status for response in responses)
    assert statuses == [201] + [422] * (RACERS - 1)
    assert await User.filter(username=body["username"]).count() == 1
    for response in responses:
        if response.status == 422:
            body = response.json()
            assert body["message"] == "The given data was invalid."
            # Which fields a loser sees depends on where the winner's insert fell between its
            # checks; every field it reports is one that really was taken.
            assert body["errors"] and all(body["errors"][field] == TAKEN[field] for field in body["errors"])


async def test_concurrent_registrations_differing_only_by_case(client: ContractClient) -> None:
    bodies = [
        registration(username=f"RaceUser{'x' * i}", email="race@example.com".upper() if i % 2 else "race@example.com")
        for i in range(10)
    ]
    responses = await asyncio.gather(
        *(client.post("/api/register", json=body, headers=JSON_HEADERS) for body in bodies)
    )
    assert sorted(r.status for r in responses) == [201] + [422] * 9
    for response in responses:
        if response.status == 422:
            assert response.json()["errors"] == {"email": TAKEN["email"]}

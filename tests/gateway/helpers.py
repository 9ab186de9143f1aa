"""Helpers of the gateway wire's tests: an introspection client, and a token of every kind the service issues."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from tests.graphql.helpers import sign_in
from tests.support.api import JSON_HEADERS, register
from tests.support.contract import ContractClient, WireResponse
from tests.support.secret_scan import remember

INTROSPECT = "/oauth/introspect"
FORWARD = "/auth/forward"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
INACTIVE = b'{"active":false}'
INVALID_CLIENT = b'{"error":"invalid_client"}'
USERNAME, EMAIL, PASSWORD = "ahmetyilmaz", "ahmet@example.com", "password123"


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str

    @property
    def setting(self) -> str:
        """Its INTROSPECTION_CLIENTS entry: the secret's SHA-256, never the secret."""
        return f"{self.client_id}:sha256:{hashlib.sha256(self.secret.encode()).hexdigest()}"

    @property
    def basic(self) -> dict[str, str]:
        return basic(self.client_id, self.secret)


def new_client(client_id: str) -> Client:
    secret = secrets.token_urlsafe(32)  # as README's one-liner makes them
    remember(secret, f"introspection client {client_id}'s secret")
    return Client(client_id, secret)


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


async def introspect(
    client: ContractClient, token: str, auth: dict[str, str], headers: dict[str, str] | None = None
) -> WireResponse:
    return await client.post(INTROSPECT, data={"token": token}, headers={**FORM, **auth, **(headers or {})})


@dataclass(frozen=True)
class Tokens:
    """One user's tokens, one of each kind: name -> plain text."""

    user_id: int
    access: dict[str, str]  # every access token kind: all must be active
    refresh: dict[str, str]  # refresh tokens: never active


async def tokens_of_every_kind(client: ContractClient) -> Tokens:
    """Sign one user in through every wire (the app needs REFRESH_TOKENS=true for the Laravel refresh token)."""
    registered = (await register(client)).json()
    login = await client.post("/api/login", json={"login": USERNAME, "password": PASSWORD}, headers=JSON_HEADERS)
    device = await client.post(
        "/sanctum/token", json={"email": EMAIL, "password": PASSWORD, "device_name": "phone"}, headers=JSON_HEADERS
    )
    v1 = await client.post("/api/v1/auth/login", json={"username": USERNAME, "password": PASSWORD})
    envelope = await client.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD})
    jwt_access, jwt_refresh = await sign_in(client, EMAIL, PASSWORD)
    for response in (login, device, v1, envelope):
        assert response.status == 200, response.text
    return Tokens(
        user_id=registered["data"]["id"],
        access={
            "laravel register": registered["access_token"],
            "laravel login": login.json()["access_token"],
            "sanctum/token (device)": device.text,
            "v1": v1.json()["token"],
            "envelope": envelope.json()["data"]["token"],
            "graphql JWT": jwt_access,
        },
        refresh={
            "laravel": login.json()["refresh_token"],
            "v1": v1.json()["refresh_token"],
            "envelope": envelope.json()["data"]["refreshToken"],
            "graphql JWT": jwt_refresh,
        },
    )

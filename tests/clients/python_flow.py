"""register -> login -> me -> tokens -> revoke -> logout -> 401 on every dialect openapi.yaml documents, through
the Python client openapi-python-client generated from it (`sanctum_py_client`, unpatched).

Imported by tests/test_generated_clients.py only once the generated package is importable; each flow takes
a base URL and raises AssertionError on the first answer that is not the documented one.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from sanctum_py_client import AuthenticatedClient, Client
from sanctum_py_client.api.auth import login, logout, me, register
from sanctum_py_client.api.devices import list_tokens, revoke_token
from sanctum_py_client.api.envelope import env_login, env_logout, env_me, env_register
from sanctum_py_client.api.graphql import graphql
from sanctum_py_client.api.v1 import v_1_login, v_1_logout, v_1_me, v_1_register
from sanctum_py_client.models import (
    EnvLoginInput,
    EnvMe,
    EnvRegisterInput,
    EnvSignedIn,
    GraphQLRequest,
    GraphQLRequestVariablesType0,
    GraphQLResponse,
    LoggedOut,
    LoginInput,
    Message,
    Registered,
    RegisterInput,
    SignedIn,
    TokenList,
    User,
    V1LoggedOut,
    V1LoginInput,
    V1RegisterInput,
    V1TokenView,
    V1User,
)

PASSWORD = "generated-client-123"


class Wire:
    """The generated clients for one server, and what they sent: every body must go out as JSON."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sent_bodies: list[str] = []
        self.anonymous = Client(base_url=base_url, httpx_args=self._hooks())
        self._opened: list[Client | AuthenticatedClient] = [self.anonymous]

    def _hooks(self) -> dict[str, Any]:
        def record(request: httpx.Request) -> None:
            if request.content:
                self.sent_bodies.append(request.headers.get("Content-Type", "(none)"))

        return {"event_hooks": {"request": [record]}}

    def bearer(self, token: str) -> AuthenticatedClient:
        client = AuthenticatedClient(base_url=self.base_url, token=token, httpx_args=self._hooks())
        self._opened.append(client)
        return client

    def close(self) -> None:
        for client in self._opened:
            client.get_httpx_client().close()


def _unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def _laravel_register(wire: Wire, username: str) -> Registered:
    answer = register.sync_detailed(
        client=wire.anonymous,
        body=RegisterInput(
            name="Gen",
            username=username,
            email=f"{username}@example.com",
            password=PASSWORD,
            password_confirmation=PASSWORD,
        ),
    )
    assert answer.status_code == 201, answer.content
    assert isinstance(answer.parsed, Registered), answer.parsed
    return answer.parsed


def _list_and_revoke(wire: Wire, token: str, revoked: str) -> None:
    """GET /api/tokens, then DELETE /api/tokens/{id} of `revoked` (not the caller's): the list shrinks by it."""
    client = wire.bearer(token)
    listed = list_tokens.sync_detailed(client=client)
    assert listed.status_code == 200 and isinstance(listed.parsed, TokenList), listed.content
    ids = [row.id for row in listed.parsed.data]
    revoked_id = int(revoked.split("|", 1)[0])
    assert revoked_id in ids
    assert sum(1 for row in listed.parsed.data if row.current) == 1
    answer = revoke_token.sync_detailed(str(revoked_id), client=client)
    assert answer.status_code == 200 and isinstance(answer.parsed, Message), answer.content
    assert answer.parsed.message == "Token revoked."
    after = list_tokens.sync_detailed(client=client)
    assert isinstance(after.parsed, TokenList)
    assert sorted(row.id for row in after.parsed.data) == sorted(set(ids) - {revoked_id})
    assert me.sync_detailed(client=wire.bearer(revoked)).status_code == 401


def laravel(wire: Wire) -> None:
    username = _unique("pyl")
    first = _laravel_register(wire, username)
    signed_in = login.sync_detailed(client=wire.anonymous, body=LoginInput(login=username, password=PASSWORD))
    assert signed_in.status_code == 200 and isinstance(signed_in.parsed, SignedIn), signed_in.content
    token = signed_in.parsed.access_token
    user = me.sync_detailed(client=wire.bearer(token))
    assert user.status_code == 200 and isinstance(user.parsed, User), user.content
    assert (user.parsed.id, user.parsed.username) == (first.data.id, username)
    _list_and_revoke(wire, token, first.access_token)
    out = logout.sync_detailed(client=wire.bearer(token))
    assert out.status_code == 200 and isinstance(out.parsed, LoggedOut), out.content
    gone = me.sync_detailed(client=wire.bearer(token))
    assert gone.status_code == 401 and gone.parsed is not None, gone.content
    assert gone.parsed.to_dict() == {"message": "Unauthenticated."}


def v1(wire: Wire) -> None:
    username = _unique("pyv")
    created = v_1_register.sync_detailed(
        # A Client, not an AuthenticatedClient: the token is optional here (security: [{}, bearerAuth]), which
        # the generator's annotation cannot say; at run time either client works.
        client=wire.anonymous,  # type: ignore[arg-type]
        body=V1RegisterInput(username=username, email=f"{username}@example.com", password=PASSWORD, name="Gen"),
    )
    assert created.status_code == 200 and isinstance(created.parsed, V1User), created.content

    def sign_in() -> str:
        answer = v_1_login.sync_detailed(client=wire.anonymous, body=V1LoginInput(username=username, password=PASSWORD))
        assert answer.status_code == 200 and isinstance(answer.parsed, V1TokenView), answer.content
        return answer.parsed.token

    other, token = sign_in(), sign_in()
    user = v_1_me.sync_detailed(client=wire.bearer(token))
    assert user.status_code == 200 and isinstance(user.parsed, V1User), user.content
    assert user.parsed.user_id == created.parsed.user_id
    _list_and_revoke(wire, token, other)  # the tokens routes are Laravel's; a v1 token works there
    out = v_1_logout.sync_detailed(client=wire.bearer(token))
    assert out.status_code == 200 and isinstance(out.parsed, V1LoggedOut), out.content
    gone = v_1_me.sync_detailed(client=wire.bearer(token))
    assert gone.status_code == 401 and gone.parsed is not None, gone.content
    assert "error" in gone.parsed.to_dict()


def envelope(wire: Wire) -> None:
    username = _unique("pye")
    created = env_register.sync_detailed(
        client=wire.anonymous,
        body=EnvRegisterInput(username=username, email=f"{username}@example.com", password=PASSWORD),
    )
    assert created.status_code == 201 and isinstance(created.parsed, EnvSignedIn), created.content
    signed_in = env_login.sync_detailed(client=wire.anonymous, body=EnvLoginInput(username=username, password=PASSWORD))
    assert signed_in.status_code == 200 and isinstance(signed_in.parsed, EnvSignedIn), signed_in.content
    token = signed_in.parsed.data.token
    user = env_me.sync_detailed(client=wire.bearer(token))
    assert user.status_code == 200 and isinstance(user.parsed, EnvMe), user.content
    assert user.parsed.data.user.username == username
    _list_and_revoke(wire, token, created.parsed.data.token)
    out = env_logout.sync_detailed(client=wire.bearer(token))
    assert out.status_code == 204, out.content
    gone = env_me.sync_detailed(client=wire.bearer(token))
    assert gone.status_code == 401 and gone.parsed is not None, gone.content
    assert gone.parsed.to_dict()["success"] is False


def _graphql(wire: Wire, query: str, variables: dict[str, str] | None = None, token: str | None = None) -> Any:
    body = GraphQLRequest(query=query)
    if variables is not None:
        body.variables = GraphQLRequestVariablesType0.from_dict(variables)
    client = wire.bearer(token) if token else wire.anonymous
    answer = graphql.sync_detailed(client=client, body=body)  # type: ignore[arg-type]  # optional token, as v1
    assert answer.status_code == 200 and isinstance(answer.parsed, GraphQLResponse), answer.content
    return answer.parsed.to_dict()


def graphql_wire(wire: Wire) -> None:
    username = _unique("pyg")
    first = _laravel_register(wire, username)  # the GraphQL schema has no registration
    auth = _graphql(
        wire,
        "mutation($u: String!, $p: String!) { auth(usernameoremail: $u, password: $p) "
        "{ tokens { accessToken refreshToken } } }",
        {"u": username, "p": PASSWORD},
    )
    tokens = auth["data"]["auth"]["tokens"]
    user = _graphql(wire, "{ me { id username } }", token=tokens["accessToken"])
    assert user["data"] == {"me": {"id": str(first.data.id), "username": username}}
    _list_and_revoke(wire, tokens["accessToken"], first.access_token)  # a JWT works on Laravel's routes too
    out = _graphql(
        wire,
        "mutation($a: String!, $r: String!) { logout(access_token: $a, refresh_token: $r) { success } }",
        {"a": tokens["accessToken"], "r": tokens["refreshToken"]},
    )
    assert out["data"] == {"logout": {"success": True}}
    gone = _graphql(wire, "{ me { id } }", token=tokens["accessToken"])
    assert gone["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", gone
    assert me.sync_detailed(client=wire.bearer(tokens["accessToken"])).status_code == 401


FLOWS = {"laravel": laravel, "v1": v1, "envelope": envelope, "graphql": graphql_wire}

"""POST /graphql: read the request, parse and validate with graphql-core, check the limits, execute.

The resolvers are the dialect's handlers: each reads its arguments, calls one AuthService method and
returns what the schema says; an AuthError becomes a GraphQL error with its code (render.py). Tokens are
JWTs (SessionKind.JWT): each is backed by its row, so logout ends both at once on every dialect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from inspect import isawaitable
from typing import Any

from aiohttp import web
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)

from sanctum_py.core.errors import AuthError, ErrorCode, throttled
from sanctum_py.core.login import Challenge, LoginAttempt, Session, SessionKind
from sanctum_py.core.tokens import bearer_token
from sanctum_py.db.models import User
from sanctum_py.http.graphql.limits import check_limits
from sanctum_py.http.graphql.render import (
    LOGIN_THROTTLED,
    LOGOUT_THROTTLED,
    REFRESH_THROTTLED,
    field_error,
    graphql_response,
    is_transport_failure,
)
from sanctum_py.http.kernel.client_ip import client_ip
from sanctum_py.http.kernel.failures import classify
from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.wiring import Services

LOGGED_OUT = "Çıkış işlemi başarılı."
# The lexer's token budget: far above any real query of this schema (the standard introspection query
# is ~300 tokens), far below what a 1 MB body could hold; parsing stops there.
MAX_TOKENS = 2000
MAX_VALIDATION_ERRORS = 10


@dataclass(frozen=True)
class Context:
    request: web.Request
    services: Services

    @property
    def ip(self) -> str:
        return client_ip(self.request, tuple(self.services.settings.trusted_proxies))


class Refused(Exception):
    """A field's failure already rendered: message and extensions (a throttle says which one it was)."""

    def __init__(self, message: str, extensions: dict[str, Any]) -> None:
        super().__init__(message)
        self.extensions = extensions


def schema_sdl() -> str:
    return resources.files("sanctum_py.http.graphql").joinpath("schema.graphql").read_text("utf-8")


@lru_cache(maxsize=1)
def schema() -> GraphQLSchema:
    """The SDL file, with the resolvers attached: the file is the schema, nothing is declared twice."""
    built = build_schema(schema_sdl())
    assert built.query_type is not None and built.mutation_type is not None
    built.query_type.fields["me"].resolve = resolve_me
    mutations = built.mutation_type.fields
    mutations["auth"].resolve = resolve_auth
    mutations["refreshToken"].resolve = resolve_refresh_token
    mutations["logout"].resolve = resolve_logout
    return built


# --- resolvers ----------------------------------------------------------------------------------------


async def resolve_auth(
    _root: None, info: GraphQLResolveInfo[Context], usernameoremail: str, password: str
) -> dict[str, Any]:
    context = info.context
    if not usernameoremail.strip() or not password:
        raise AuthError(
            ErrorCode.INVALID_INPUT, fields=("usernameoremail",) if not usernameoremail.strip() else ("password",)
        )
    attempt = LoginAttempt(
        login=usernameoremail.strip(),
        password=password,
        ip=context.ip,
        session=SessionKind.JWT,
        reveal_unknown=context.services.settings.graphql_reveal_unknown_users,
    )
    outcome = await _refusing(context.services.auth.login(attempt), LOGIN_THROTTLED)
    if isinstance(outcome, Challenge):  # seed 002 has no second-factor step: such accounts sign in elsewhere
        raise AuthError(ErrorCode.TWO_FACTOR_REQUIRED)
    return _tokens(outcome)


async def resolve_refresh_token(_root: None, info: GraphQLResolveInfo[Context], refreshToken: str) -> dict[str, Any]:
    context = info.context
    return _tokens(await _refusing(context.services.auth.refresh(refreshToken), REFRESH_THROTTLED))


async def resolve_logout(
    _root: None, info: GraphQLResolveInfo[Context], access_token: str, refresh_token: str
) -> dict[str, Any]:
    context = info.context
    services = context.services
    seconds = services.settings.graphql_logout_throttle_seconds
    if seconds > 0:
        # Seed 002: one logout per 30 s. Every attempt counts, per client address, so the mutation cannot
        # be used to test token pairs quickly either.
        key = f"graphql-logout:{context.ip}"
        retry_after = await services.limiter.blocked_for(key, 1)
        if retry_after is not None:
            raise Refused(*field_error(throttled(1, retry_after), LOGOUT_THROTTLED))
        await services.limiter.hit(key, seconds)
    await services.auth.revoke_session(access_token, refresh_token)
    return {"success": True, "message": LOGGED_OUT}


async def resolve_me(_root: None, info: GraphQLResolveInfo[Context]) -> dict[str, Any]:
    context = info.context
    verified = await context.services.auth.authenticate(bearer_token(context.request.headers.get("Authorization")))
    return _user(verified.user)


async def _refusing(call: Any, throttled_message: str) -> Any:
    """Await a core call; a throttle is told with the message of the mutation that was throttled."""
    try:
        return await call
    except AuthError as failure:
        if failure.code is ErrorCode.TOO_MANY_ATTEMPTS:
            raise Refused(*field_error(failure, throttled_message)) from None
        raise


def _tokens(session: Session) -> dict[str, Any]:
    return {"tokens": {"accessToken": session.access_token, "refreshToken": session.refresh_token}}


def _user(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "surname": user.surname,
        "role": user.role,
        "emailVerified": user.email_verified_at is not None,
    }


# --- the endpoint ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


class BadRequest(Exception):
    """The body is not a GraphQL request: answered as one GraphQL error (BAD_USER_INPUT), HTTP 200."""


async def graphql(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = services.settings
    try:
        received = _read(await request.read(), settings.graphql_max_query_bytes)
        document = parse(received.query, max_tokens=MAX_TOKENS)
    except (BadRequest, GraphQLError) as refused:
        return _errors([GraphQLError(str(refused.message if isinstance(refused, GraphQLError) else refused))])
    errors = validate(schema(), document, max_errors=MAX_VALIDATION_ERRORS)
    if not errors:
        errors = check_limits(document, max_depth=settings.graphql_max_depth, max_fields=settings.graphql_max_fields)
    if errors:
        return _errors(errors)
    result = execute(
        schema(),
        document,
        context_value=Context(request, services),
        variable_values=received.variables,
        operation_name=received.operation_name,
    )
    if isawaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [_field_error_json(request, services, error) for error in result.errors]
    if result.data is not None or "errors" not in body or any(e.path for e in result.errors or ()):
        body["data"] = result.data
    return graphql_response(body)


def _read(raw: bytes, max_query_bytes: int) -> GraphQLRequest:
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("The body must be a JSON object with a `query`.") from None
    if isinstance(payload, list):
        raise BadRequest("Batched requests are not supported: send one operation per request.")
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object with a `query`.")
    query, variables, operation_name = payload.get("query"), payload.get("variables"), payload.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("`query` must be a non-empty string.")
    if len(query.encode("utf-8", "surrogatepass")) > max_query_bytes:
        raise BadRequest(f"`query` is too long: at most {max_query_bytes} bytes.")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("`variables` must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequest("`operationName` must be a string.")
    return GraphQLRequest(query, variables, operation_name)


def _errors(errors: list[GraphQLError]) -> web.Response:
    """A request that never ran (syntax, validation, limits, variables): no `data`, BAD_USER_INPUT."""
    return graphql_response({"errors": [_bad_input_json(error) for error in errors]})


def _bad_input_json(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    return formatted


def _field_error_json(request: web.Request, services: Services, error: GraphQLError) -> dict[str, Any]:
    """A field's failure with its code; a failure that is not the client's (an outage, a bug) is raised
    so the dialect answers it with its HTTP status (render.render_exception), never as a GraphQL error."""
    original = error.original_error
    if error.path is None:  # no field ran: variable coercion and the like, the request's fault
        return _bad_input_json(error)
    if isinstance(original, Refused):
        message, extensions = str(original), original.extensions
    elif isinstance(original, AuthError):
        message, extensions = field_error(original)
    else:
        # A field failed with something that is not an AuthError: an outage (503) or a bug (500, logged).
        failure = classify(request, original or error, services.events)
        raise failure if is_transport_failure(failure) else AuthError(ErrorCode.INTERNAL)
    formatted = dict(error.formatted)
    formatted.update(message=message, extensions=extensions)
    return formatted


async def jwks(request: web.Request) -> web.Response:
    """The public keys of an asymmetric JWT_ALGORITHM (an empty set for HS256), for offline verification."""
    codec = request.app[SERVICES].tokens.jwt
    keys = codec.jwks() if codec is not None else {"keys": []}
    return web.Response(
        body=json.dumps(keys, separators=(",", ":")).encode(),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )

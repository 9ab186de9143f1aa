"""The GraphQL dialect's routes (seed 002): POST /graphql, and the JWKS of the JWT keys."""

from __future__ import annotations

from sanctum_py.http.graphql import handlers
from sanctum_py.http.graphql.render import render_exception
from sanctum_py.http.kernel.keys import Dialect, RoutePolicy
from sanctum_py.http.kernel.routing import Route

# The guard runs inside the resolvers (only `me` needs a token); the API rate limit runs before them.
PUBLIC = RoutePolicy(authenticated=False)

GRAPHQL = Dialect("graphql", "/graphql", render_exception)

GRAPHQL_ROUTES: tuple[Route, ...] = (
    Route("POST", "/graphql", handlers.graphql, PUBLIC),
    Route("GET", "/.well-known/jwks.json", handlers.jwks, PUBLIC),
)

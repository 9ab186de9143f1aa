"""create_app(settings) -> web.Application: the whole service, wired once."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from sanctum_py.core.events import NO_EVENTS
from sanctum_py.core.gateway_clients import GatewayClients, parse_clients
from sanctum_py.core.introspection import Introspection
from sanctum_py.db.setup import close_database, init_database
from sanctum_py.http.envelope.routes import ENVELOPE, ENVELOPE_ROUTES
from sanctum_py.http.gateway.handlers import INTROSPECTION as INTROSPECTION_SERVICE
from sanctum_py.http.gateway.routes import FORWARD, FORWARD_ROUTES, INTROSPECTION, INTROSPECTION_ROUTES
from sanctum_py.http.graphql.routes import GRAPHQL, GRAPHQL_ROUTES
from sanctum_py.http.kernel import protocol_errors
from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.http.kernel.routing import MountedDialect, mount
from sanctum_py.http.laravel.handlers.metrics import setup_metrics
from sanctum_py.http.laravel.routes import LARAVEL, laravel_routes
from sanctum_py.http.v1.routes import V1, V1_ROUTES
from sanctum_py.observability.metrics import Metrics
from sanctum_py.settings import Settings
from sanctum_py.wiring import Services, build_services


def create_app(settings: Settings) -> web.Application:
    protocol_errors.install()
    metrics = Metrics() if settings.metrics == "on" else None
    # No middleware: every route's handler is wrapped at registration instead (http/kernel/entry.py).
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SERVICES] = build_services(settings, events=metrics or NO_EVENTS)
    app[INTROSPECTION_SERVICE] = _introspection(app[SERVICES])
    dialects = (
        MountedDialect(LARAVEL, laravel_routes()),
        MountedDialect(V1, V1_ROUTES),
        MountedDialect(GRAPHQL, GRAPHQL_ROUTES),
        MountedDialect(ENVELOPE, ENVELOPE_ROUTES),
        MountedDialect(INTROSPECTION, INTROSPECTION_ROUTES),
        MountedDialect(FORWARD, FORWARD_ROUTES),
    )
    mount(app, dialects, metrics)
    setup_metrics(app, metrics)
    app.cleanup_ctx.append(_database)
    app.on_startup.append(_listen_for_revocations)
    app.on_cleanup.append(_close_services)
    return app


def _introspection(services: Services) -> Introspection:
    """The gateway wire's one service of its own (the rest is the shared guard): built here rather than in
    wiring.Services because nothing but that wire uses it. A malformed INTROSPECTION_CLIENTS stops startup."""
    settings = services.settings
    clients = GatewayClients(
        parse_clients(settings.introspection_clients), services.limiter, settings.introspection_max_failures
    )
    return Introspection(clients, services.tokens)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SERVICES].settings
    await init_database(settings.database_url, settings.database_timeout)
    yield
    await app[SERVICES].outbox.drain()  # jobs after the answer (reset links, mail) still need the database
    await app[SERVICES].tokens.drain()
    await close_database()


async def _listen_for_revocations(app: web.Application) -> None:
    """With Redis, serving processes hear other processes' revocations and the acknowledgements of theirs."""
    app[SERVICES].tokens.invalidation.start()


async def _close_services(app: web.Application) -> None:
    await app[SERVICES].close()

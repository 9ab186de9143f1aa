"""create_app(settings) -> web.Application: the whole service, wired once."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from sanctum_py.core.container import Services
from sanctum_py.core.events import NO_EVENTS
from sanctum_py.db.setup import close_database, init_database
from sanctum_py.http import protocol_errors
from sanctum_py.http.docs import setup_docs
from sanctum_py.http.handlers.metrics import setup_metrics
from sanctum_py.http.keys import SERVICES
from sanctum_py.http.middleware import metered_middleware, service_middleware
from sanctum_py.http.routes import setup_routes
from sanctum_py.observability.metrics import Metrics
from sanctum_py.settings import Settings


def create_app(settings: Settings) -> web.Application:
    protocol_errors.install()
    metrics = Metrics() if settings.metrics == "on" else None
    app = web.Application(
        middlewares=[service_middleware if metrics is None else metered_middleware(metrics)],
        client_max_size=settings.max_body_bytes,
    )
    app[SERVICES] = Services.build(settings, events=metrics or NO_EVENTS)
    setup_routes(app)
    setup_docs(app)
    setup_metrics(app, metrics)
    app.cleanup_ctx.append(_database)
    app.on_cleanup.append(_close_services)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SERVICES].settings
    await init_database(settings.database_url, settings.database_timeout)
    yield
    await app[SERVICES].outbox.drain()  # jobs after the answer (reset links, mail) still need the database
    await app[SERVICES].tokens.drain()
    await close_database()


async def _close_services(app: web.Application) -> None:
    await app[SERVICES].close()

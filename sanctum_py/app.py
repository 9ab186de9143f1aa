"""create_app(settings) -> web.Application: the whole service, wired once."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from sanctum_py.core.container import Services
from sanctum_py.db.setup import close_database, init_database
from sanctum_py.http import protocol_errors
from sanctum_py.http.docs import setup_docs
from sanctum_py.http.keys import SERVICES
from sanctum_py.http.middleware import service_middleware
from sanctum_py.http.routes import setup_routes
from sanctum_py.settings import Settings


def create_app(settings: Settings) -> web.Application:
    protocol_errors.install()
    app = web.Application(
        middlewares=[service_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SERVICES] = Services.build(settings)
    setup_routes(app)
    setup_docs(app)
    app.cleanup_ctx.append(_database)
    app.on_cleanup.append(_close_services)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    await init_database(app[SERVICES].settings.database_url)
    yield
    await app[SERVICES].outbox.drain()  # jobs after the answer (reset links, mail) still need the database
    await app[SERVICES].tokens.drain()
    await close_database()


async def _close_services(app: web.Application) -> None:
    await app[SERVICES].close()

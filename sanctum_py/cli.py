"""`python -m sanctum_py <command>`: serve, migrate, key:generate, prune-expired."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from sanctum_py.observability.access_log import SafeAccessLogger
from sanctum_py.observability.logs import configure_logging  # LOG_LEVEL, LOG_FORMAT; SQL loggers held at INFO
from sanctum_py.settings import Settings, generate_app_key, load_settings

log = logging.getLogger("sanctum_py")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sanctum_py", description=__doc__)
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="default: HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: PORT or 8000")
    serve.add_argument("--workers", type=int, help="processes sharing the port (default: WORKERS or 1)")

    commands.add_parser("migrate", help="apply the database migrations")

    key = commands.add_parser("key:generate", help="create a Laravel APP_KEY and save it in the env file")
    key.add_argument("--show", action="store_true", help="print the key without saving it")

    prune = commands.add_parser("prune-expired", help="delete expired tokens (sanctum:prune-expired)")
    prune.add_argument("--hours", type=int, default=24, help="keep tokens expired less than this long ago")

    create = commands.add_parser("create-user", help="create a user, with any role (register cannot choose one)")
    create.add_argument("--name", required=True)
    create.add_argument("--surname")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=("admin", "staff", "user"), default="user")
    create.add_argument("--password", help="default: read from the SANCTUM_PASSWORD variable or prompted")

    args = parser.parse_args(argv)
    if args.command == "key:generate":
        return _key_generate(Path(args.env_file), show=args.show)

    overrides = {
        name: value
        for name, value in (
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
            ("workers", getattr(args, "workers", None)),
        )
        if value is not None
    }
    settings = load_settings(args.env_file, **overrides)
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "prune-expired":
        return _prune(settings, args.hours)
    if args.command == "create-user":
        return _create_user(settings, args)
    return _serve(settings)


def _key_generate(env_file: Path, *, show: bool) -> int:
    key = generate_app_key()
    if not show:
        lines = env_file.read_text(encoding="utf-8").splitlines() if env_file.exists() else []
        kept = [line for line in lines if not line.startswith("APP_KEY=")]
        env_file.write_text("\n".join([*kept, f"APP_KEY={key}"]) + "\n", encoding="utf-8")
        print(f"Application key set successfully in {env_file}.")
    else:
        print(key)
    return 0


def _migrate(settings: Settings) -> int:
    from sanctum_py.db.migrate import migrate

    applied = asyncio.run(migrate(settings.database_url))
    print("Nothing to migrate." if not applied else "\n".join(f"Migrated: {name}" for name in applied))
    return 0


def _prune(settings: Settings, hours: int) -> int:
    from sanctum_py.core.pruning import prune_expired
    from sanctum_py.db.setup import close_database, init_database
    from sanctum_py.wiring import build_services

    async def run() -> int:
        await init_database(settings.database_url)
        services = build_services(settings)  # with Redis, serving processes hear which tokens went
        try:
            return await prune_expired(hours, settings.sanctum_expiration, forget=services.tokens.invalidation.tokens)
        finally:
            await services.close()
            await close_database()

    deleted = asyncio.run(run())
    if not settings.sanctum_expiration:
        print("Expiration value not specified in configuration file.")
    print(f"Tokens expired for more than {hours} hours pruned successfully ({deleted} deleted).")
    return 0


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    """Create a user through the same validation as /api/register, plus a role."""
    import getpass

    from sanctum_py.core.accounts import Registration
    from sanctum_py.core.errors import AuthError, ErrorCode
    from sanctum_py.db.setup import close_database, init_database
    from sanctum_py.http.laravel.handlers.auth import RegisterInput
    from sanctum_py.http.laravel.validation import Unique, ValidationFailed, validate_input
    from sanctum_py.wiring import build_services

    password = args.password or os.environ.get("SANCTUM_PASSWORD") or getpass.getpass("Password: ")
    fields = {
        "name": args.name,
        "surname": args.surname,
        "username": args.username,
        "email": args.email,
        "password": password,
        "password_confirmation": password,
    }

    async def run() -> int:
        services = build_services(settings)
        await init_database(settings.database_url)
        try:
            data = await validate_input(RegisterInput, fields, services.accounts.is_taken)
            registration = Registration(data.name, data.surname, data.username, data.email, data.password)
            user = await services.accounts.register(registration, role=args.role)
        except ValidationFailed as failed:
            for messages in failed.errors.values():
                for message in messages:
                    print(message, file=sys.stderr)
            return 1
        except AuthError as taken:  # lost a race after validation: the same messages
            if taken.code is not ErrorCode.IDENTIFIER_TAKEN:
                raise
            for column in taken.fields:
                print(Unique.taken_message(column), file=sys.stderr)
            return 1
        finally:
            await close_database()
            await services.close()
        print(f"Created user {user.id} ({user.username}) with role {user.role}.")
        return 0

    return asyncio.run(run())


def _unapplied_migrations(settings: Settings) -> list[str]:
    """Migrations the database still lacks. An unreachable database is not a reason to refuse to start
    (it may come back; requests answer 503 meanwhile), a schema that is behind the code is."""
    from sanctum_py.db.migrate import pending_migrations
    from sanctum_py.db.outage import is_link_failure
    from sanctum_py.db.setup import close_database, init_database

    async def check() -> list[str]:
        # DATABASE_TIMEOUT here too: a database behind a dead link must not hold the start for minutes.
        await init_database(settings.database_url, settings.database_timeout)
        try:
            return await pending_migrations()
        finally:
            await close_database()

    try:
        return asyncio.run(check())
    except Exception as error:
        if not is_link_failure(error):
            raise
        log.warning("database unreachable at start (%s); serving anyway", type(error).__name__)
        return []


def _serve(settings: Settings) -> int:
    from sanctum_py.db.ownership import DatabaseInUse, claim_database

    pending = _unapplied_migrations(settings)
    if pending:
        print(
            f"The database is missing migrations ({', '.join(pending)}): run `python -m sanctum_py migrate` first.",
            file=sys.stderr,
        )
        return 1
    try:
        settings = claim_database(settings).settings  # the lock is held until this process exits
    except DatabaseInUse as error:
        print(str(error), file=sys.stderr)
        return 1
    if settings.workers == 1:
        _run_worker(settings)
        return 0
    # N processes bind the same port with SO_REUSEPORT; the kernel spreads connections across them.
    # They share nothing but the database and Redis, as separate machines behind a balancer would.
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_run_worker, args=(settings,), daemon=False) for _ in range(settings.workers)]
    for worker in workers:
        worker.start()

    def forward(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()
    return max((worker.exitcode or 0) for worker in workers)


def _run_worker(settings: Settings) -> None:
    from sanctum_py.app import create_app

    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        reuse_port=settings.workers > 1,
        shutdown_timeout=10,
        print=lambda message: log.info("%s (pid %s)", message.strip(), os.getpid()),
        # Off unless ACCESS_LOG: a line per request costs throughput. When on, never aiohttp's default
        # line, which quotes the query string and the Referer (signatures, reset tokens).
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
        access_log_class=SafeAccessLogger,
    )


async def _freeze_startup_heap(_app: web.Application) -> None:
    """Move everything allocated at start-up (modules, models, the OpenAPI document) out of the
    garbage collector's sight: it lives as long as the process, and full collections would otherwise
    walk it again and again while serving."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())

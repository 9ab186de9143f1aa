"""`python -m sanctum_py <command>`: serve, migrate, key:generate, prune-expired, create-user."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from sanctum_py.observability.access_log import SafeAccessLogger
from sanctum_py.observability.logs import configure_logging  # LOG_LEVEL, LOG_FORMAT; SQL loggers held at INFO
from sanctum_py.settings import Settings, generate_app_key, load_settings

log = logging.getLogger("sanctum_py")

# Exit codes, the same for every command (README "Commands"). 2 is argparse's own for bad arguments.
EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran and failed: the database unreachable, a user not valid, ...
EXIT_USAGE = 2  # bad arguments or settings: nothing was done
EXIT_PENDING_MIGRATIONS = 3  # serve: the database lacks migrations; run `migrate` first

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  success
  {EXIT_FAILURE}  failure (the database is unreachable, the input is not valid, ...)
  {EXIT_USAGE}  usage error: bad arguments or settings, nothing was done"""


def _epilog(*specific: str) -> str:
    return "\n".join([EXIT_CODES, *specific])


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m sanctum_py",
        description="Laravel Sanctum's token API in Python: serve it, migrate its database, manage keys, "
        "tokens and users. Settings come from the environment and the env file (README, Settings).",
        epilog=_epilog(f"  {EXIT_PENDING_MIGRATIONS}  serve: the database lacks migrations"),
        formatter_class=formatter,
    )
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    serve = commands.add_parser(
        "serve",
        help="run the HTTP server",
        description="Serve HTTP until SIGTERM or SIGINT, then finish requests in flight (up to 10 s). Refuses "
        "to start on a database with pending migrations; an unreachable database is not a reason to refuse.",
        epilog=_epilog(
            f"  {EXIT_FAILURE}  also: another serve caches tokens on this SQLite file (README: TOKEN_CACHE)",
            f"  {EXIT_PENDING_MIGRATIONS}  the database lacks migrations: run `migrate` first",
        ),
        formatter_class=formatter,
    )
    serve.add_argument("--host", help="default: HOST or 127.0.0.1")
    serve.add_argument("--port", type=_positive, help="default: PORT or 8000")
    serve.add_argument("--workers", type=_positive, help="processes sharing the port (default: WORKERS or 1)")

    commands.add_parser(
        "migrate",
        help="apply the database migrations",
        description="Apply the migrations in migrations/ that the database lacks (additive on a Laravel database).",
        epilog=_epilog(),
        formatter_class=formatter,
    )

    key = commands.add_parser(
        "key:generate",
        help="create a Laravel APP_KEY and save it in the env file",
        description="Create a Laravel `base64:` APP_KEY and write it into the env file (replacing any APP_KEY).",
        epilog=_epilog(),
        formatter_class=formatter,
    )
    key.add_argument("--show", action="store_true", help="print the key without saving it")

    prune = commands.add_parser(
        "prune-expired",
        help="delete expired tokens (sanctum:prune-expired)",
        description="Delete tokens expired more than --hours ago (and, with SANCTUM_EXPIRATION, tokens older "
        "than it), in small batches with pauses so the API keeps answering. On a terminal a progress bar "
        "shows rows scanned and deleted and the rate; piped or redirected, only the summary line is printed.",
        epilog=_epilog(),
        formatter_class=formatter,
    )
    prune.add_argument(
        "--hours", type=_non_negative, default=24, help="keep tokens expired less than this long ago (default 24)"
    )
    prune.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")

    create = commands.add_parser(
        "create-user",
        help="create a user, with any role (register cannot choose one)",
        description="Create a user validated as /api/register validates one, with any role. The password comes "
        "from --password, the SANCTUM_PASSWORD variable, or a prompt.",
        epilog=_epilog(f"  {EXIT_FAILURE} also when the user is not valid (messages on stderr, as register's)"),
        formatter_class=formatter,
    )
    create.add_argument("--name", required=True)
    create.add_argument("--surname")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=("admin", "staff", "user"), default="user")
    create.add_argument("--password", help="default: read from the SANCTUM_PASSWORD variable or prompted")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # bad arguments: usage on stderr, exit 2
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
    try:
        settings = load_settings(args.env_file, **overrides)
    except ValidationError as invalid:
        # Names and reasons only: a rejected value may be a secret (APP_KEY, a password in a URL).
        for error in invalid.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            print(f"Invalid setting {name}: {error['msg']}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)
    commands: dict[str, Callable[[], int]] = {
        "migrate": lambda: _migrate(settings),
        "prune-expired": lambda: _prune(settings, args.hours, dry_run=args.dry_run),
        "create-user": lambda: _create_user(settings, args),
        "serve": lambda: _serve(settings),
    }
    try:
        return commands[args.command]()
    except Exception as error:
        from sanctum_py.db.outage import is_link_failure

        if not is_link_failure(error):
            raise
        print(f"The database is unreachable ({type(error).__name__}).", file=sys.stderr)
        return EXIT_FAILURE


def _key_generate(env_file: Path, *, show: bool) -> int:
    key = generate_app_key()
    if not show:
        lines = env_file.read_text(encoding="utf-8").splitlines() if env_file.exists() else []
        kept = [line for line in lines if not line.startswith("APP_KEY=")]
        env_file.write_text("\n".join([*kept, f"APP_KEY={key}"]) + "\n", encoding="utf-8")
        print(f"Application key set successfully in {env_file}.")
    else:
        print(key)
    return EXIT_OK


def _migrate(settings: Settings) -> int:
    from sanctum_py.db.migrate import migrate

    applied = asyncio.run(migrate(settings.database_url))
    print("Nothing to migrate." if not applied else "\n".join(f"Migrated: {name}" for name in applied))
    return EXIT_OK


def _prune(settings: Settings, hours: int, *, dry_run: bool) -> int:
    from sanctum_py.core.pruning import count_expired, prune_expired
    from sanctum_py.db.setup import close_database, init_database
    from sanctum_py.terminal import prune_progress, stderr_console
    from sanctum_py.wiring import build_services

    console = stderr_console()

    async def run() -> int:
        # No DATABASE_TIMEOUT per query here: a count or a batch on a big table may rightly take longer.
        await init_database(settings.database_url)
        services = build_services(settings)  # with Redis, serving processes hear which tokens went
        services.tokens.invalidation.start()  # and acknowledge it, which this process must hear
        await services.tokens.invalidation.listening(2.0)  # else each batch waits out the lease instead
        try:
            if dry_run:
                return await count_expired(hours, settings.sanctum_expiration)
            forget = services.tokens.invalidation.tokens
            if not console.is_terminal:  # no bar, so no count for its total either
                return await prune_expired(hours, settings.sanctum_expiration, forget=forget)
            total = await count_expired(hours, settings.sanctum_expiration)
            with prune_progress(console, total) as progress:
                return await prune_expired(hours, settings.sanctum_expiration, progress=progress, forget=forget)
        finally:
            await services.close()
            await close_database()

    deleted = asyncio.run(run())
    if not settings.sanctum_expiration:
        print("Expiration value not specified in configuration file.")
    if dry_run:
        print(f"Dry run: {deleted} tokens expired for more than {hours} hours would be pruned; nothing was deleted.")
    else:
        print(f"Tokens expired for more than {hours} hours pruned successfully ({deleted} deleted).")
    return EXIT_OK


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
            return EXIT_FAILURE
        except AuthError as taken:  # lost a race after validation: the same messages
            if taken.code is not ErrorCode.IDENTIFIER_TAKEN:
                raise
            for column in taken.fields:
                print(Unique.taken_message(column), file=sys.stderr)
            return EXIT_FAILURE
        finally:
            await close_database()
            await services.close()
        print(f"Created user {user.id} ({user.username}) with role {user.role}.")
        return EXIT_OK

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
        return EXIT_PENDING_MIGRATIONS
    try:
        settings = claim_database(settings).settings  # the lock is held until this process exits
    except DatabaseInUse as error:
        print(str(error), file=sys.stderr)
        return EXIT_FAILURE
    if settings.workers == 1:
        _run_worker(settings)
        return EXIT_OK
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
    from sanctum_py.http.serving import serve

    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)
    serve(
        app,
        host=settings.host,
        port=settings.port,
        reuse_port=settings.workers > 1,
        shutdown_timeout=10,
        announce=lambda message: log.info("%s (pid %s)", message.strip(), os.getpid()),
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

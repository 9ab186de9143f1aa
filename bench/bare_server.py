"""The baseline: a bare aiohttp app answering one GET with the bytes of an /api/me response.

It does no routing policy, no authentication, no database: only what aiohttp itself costs to parse a
request and write a small JSON response. /api/me's throughput is reported as a fraction of this one,
measured in the same run, so the figure says how much the service adds on top of aiohttp.

    .venv/bin/python bench/bare_server.py --port 8100 [--body-file me.json] [--workers 2]

With --workers N, N processes share the port with SO_REUSEPORT, as `serve --workers N` does: the
baseline for the service's own N workers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

# The shape /api/me returns (sanctum_py.http.laravel.serializers.stored_user, compact PHP json_encode).
# bench/run.py passes the real response's bytes with --body-file, so both bodies are the same length.
FIXED_USER_BODY = (
    b'{"id":1,"name":"Bench","surname":null,"username":"bench_user","email":"bench@example.com",'
    b'"email_verified_at":null,"created_at":"2024-01-01T00:00:00.000000Z",'
    b'"updated_at":"2024-01-01T00:00:00.000000Z"}'
)


def create_app(body: bytes) -> web.Application:
    async def me(_request: web.Request) -> web.Response:
        # Same body and Content-Type as the service's json_response (no charset parameter).
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/", me)
    app.router.add_get("/api/me", me)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--body-file", type=Path, help="response body (default: a fixed user object)")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    args = parser.parse_args(argv)
    body = args.body_file.read_bytes() if args.body_file else FIXED_USER_BODY
    if args.workers == 1:
        serve(body, args.host, args.port, reuse_port=False)
        return 0
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=serve, args=(body, args.host, args.port, True)) for _ in range(args.workers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return 0


def serve(body: bytes, host: str, port: int, reuse_port: bool) -> None:
    # access_log=None as the service runs it: logging each request would be measured, not aiohttp.
    web.run_app(create_app(body), host=host, port=port, access_log=None, print=None, reuse_port=reuse_port)


if __name__ == "__main__":
    sys.exit(main())

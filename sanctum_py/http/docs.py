"""Swagger UI at /api/docs, showing the repository's openapi.yaml: the one contract the tests check.

The spec is not generated from the handlers (aiohttp-apispec's usual job) but served as written,
so the page can never drift from what the contract tests enforce. aiohttp-apispec contributes its
bundled Swagger UI assets and page template. The docs routes have no policy (routes.py), so the
route pipeline neither authenticates nor rate-limits them.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path

import jinja2
import yaml
from aiohttp import web

from sanctum_py.http.keys import Handler

SPEC_FILE = Path(__file__).resolve().parents[2] / "openapi.yaml"
DOCS_URL = "/api/docs"
SPEC_URL = "/api/docs/swagger.json"
STATIC_URL = "/api/docs/static"


def docs_pages() -> list[tuple[str, Handler]]:
    """(path, GET handler) of the page, the spec and the page's assets (registered by routes.py)."""
    spec_json = _spec_json()
    page = _index_page()
    assets = {path.name: path for path in _swagger_ui_assets().iterdir() if path.is_file()}

    async def swagger_ui(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def swagger_json(_: web.Request) -> web.Response:
        return web.Response(body=spec_json, content_type="application/json")

    async def swagger_asset(request: web.Request) -> web.StreamResponse:
        # Only the files listed at start-up: a name is a key, never a path to resolve.
        asset = assets.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound
        return web.FileResponse(asset)

    return [(DOCS_URL, swagger_ui), (SPEC_URL, swagger_json), (STATIC_URL + "/{name}", swagger_asset)]


@cache
def _spec_json() -> bytes:
    """openapi.yaml as JSON, read once per process: every app built afterwards serves these bytes."""
    with SPEC_FILE.open(encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    return json.dumps(spec, ensure_ascii=False).encode("utf-8")


@cache
def _index_page() -> str:
    """aiohttp-apispec's Swagger UI page, rendered the way it renders it (Jinja2), pointed at our spec."""
    template = (_swagger_ui_assets() / "index.html").read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True)
    return environment.from_string(template).render(path=SPEC_URL, static=STATIC_URL)


@cache
def _swagger_ui_assets() -> Path:
    # Located without importing aiohttp_apispec: importing it pulls in apispec 3, whose use of
    # distutils' LooseVersion emits a DeprecationWarning at import (an error under the test suite's
    # warnings policy), and nothing here needs its code, only its static files.
    spec = importlib.util.find_spec("aiohttp_apispec")
    if spec is None or spec.origin is None:
        raise RuntimeError("aiohttp-apispec is not installed: it provides the Swagger UI assets")
    return Path(spec.origin).parent / "static"

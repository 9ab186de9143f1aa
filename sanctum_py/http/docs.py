"""Swagger UI at /api/docs, showing the repository's openapi.yaml: the one contract the tests check.

The spec is not generated from the handlers but served as written, so the page can never drift from
what the contract tests enforce. The Swagger UI assets come from the swagger-ui-py package, which
bundles a current Swagger UI 5 (aiohttp-apispec's 4.1.0 took its configuration from the query
string: CVE-2021-46708). Only the files the page loads are served; the page is written here, with
`queryConfigEnabled` off (Swagger UI's default since 4.1.3, spelled out so nobody turns it on) and
the base layout, which has no box to type another spec's URL into. The docs routes have no policy
(routes.py), so the route pipeline neither authenticates nor rate-limits them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from functools import cache
from pathlib import Path

import yaml
from aiohttp import web

from sanctum_py.http.kernel.keys import Handler

SPEC_FILE = Path(__file__).resolve().parents[2] / "openapi.yaml"
DOCS_URL = "/api/docs"
SPEC_URL = "/api/docs/swagger.json"
STATIC_URL = "/api/docs/static"
# What the page below loads from swagger-ui-py's static folder; nothing else there is served.
ASSETS = ("swagger-ui.css", "index.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png")

INIT_SCRIPT = f"""
window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "{SPEC_URL}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    queryConfigEnabled: false,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}};
"""

PAGE = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>sanctum_py API</title>
    <link rel="stylesheet" type="text/css" href="{STATIC_URL}/swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="{STATIC_URL}/index.css">
    <link rel="icon" type="image/png" href="{STATIC_URL}/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="{STATIC_URL}/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{STATIC_URL}/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script>{INIT_SCRIPT}</script>
  </body>
</html>
"""


# The page may not be framed (clickjacking) and runs no script but the bundle and the one inline
# script above, named by its hash. Swagger UI sets inline styles, and its CSS draws icons from
# data: URIs; it fetches only the spec, from this origin.
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(INIT_SCRIPT.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' 'sha256-{_SCRIPT_HASH}'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)
DOCS_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Frame-Options": "DENY"}


def docs_pages() -> list[tuple[str, Handler]]:
    """(path, GET handler) of the page, the spec and the page's assets (registered by routes.py)."""
    spec_json = _spec_json()
    folder = _swagger_ui_assets()
    assets = {name: folder / name for name in ASSETS}

    async def swagger_ui(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", headers=DOCS_HEADERS)

    async def swagger_json(_: web.Request) -> web.Response:
        return web.Response(body=spec_json, content_type="application/json", headers=DOCS_HEADERS)

    async def swagger_asset(request: web.Request) -> web.StreamResponse:
        # Only the files listed above: a name is a key, never a path to resolve.
        asset = assets.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound
        return web.FileResponse(asset, headers=DOCS_HEADERS)

    return [(DOCS_URL, swagger_ui), (SPEC_URL, swagger_json), (STATIC_URL + "/{name}", swagger_asset)]


@cache
def _spec_json() -> bytes:
    """openapi.yaml as JSON, read once per process: every app built afterwards serves these bytes."""
    with SPEC_FILE.open(encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    return json.dumps(spec, ensure_ascii=False).encode("utf-8")


@cache
def _swagger_ui_assets() -> Path:
    # Located without importing swagger_ui: nothing here needs its code (its handlers would build
    # their own page), only its static files.
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise RuntimeError("swagger-ui-py is not installed: it provides the Swagger UI assets")
    folder = Path(spec.origin).parent / "static"
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-py lacks the Swagger UI files {missing}")
    return folder

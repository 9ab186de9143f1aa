"""CORS as Laravel's HandleCors over fruitcake/php-cors' CorsService (stack-cors 2 in Laravel 8), with
config/cors.php's options as CORS_* settings.

What a browser sees, rule by rule (read from those projects' sources, not copied):
- only requests whose path matches `paths` (Laravel's `Request::is`/`fullUrlIs`: `*` is any run of
  characters, `/` included) get CORS headers; every other response is left alone;
- a preflight (OPTIONS + Access-Control-Request-Method) is answered 204 before routing, auth, throttles
  and the body-size check; its Allow-* and Max-Age headers come only when the origin is allowed;
- origins: `*` without credentials sends `*` (cacheable, no Vary); a single configured origin (and no
  patterns) is sent whatever the request says; otherwise the request's Origin is echoed when it is listed
  or matches a pattern (`*` inside an origin is a wildcard), with `Vary: Origin` either way;
- methods and headers `*` echo the request's Access-Control-Request-* (with a Vary for each); listed ones
  are sent as the list (headers lower-cased, methods upper-cased);
- Access-Control-Allow-Credentials only with supports_credentials; Access-Control-Expose-Headers on actual
  responses whose origin was allowed; Max-Age unless it is empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from sanctum_py.settings import Settings

PREFLIGHT_STATUS = 204


def wildcard_pattern(text: str) -> str:
    """Laravel's Str::is as a regex: everything literal but `*`, which is any run of characters."""
    return ".*".join(re.escape(part) for part in text.split("*"))


def _add_vary(response: web.StreamResponse, header: str) -> None:
    """php-cors' varyHeader: append `header` to Vary unless it is already one of its entries."""
    existing = response.headers.get("Vary")
    if existing is None:
        response.headers["Vary"] = header
    elif header not in existing.split(", "):
        response.headers["Vary"] = f"{existing}, {header}"


@dataclass(frozen=True)
class CorsPolicy:
    """config/cors.php, worked out once per app."""

    paths: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    allowed_origins_patterns: tuple[re.Pattern[str], ...]
    allowed_headers: tuple[str, ...]
    exposed_headers: tuple[str, ...]
    max_age: int | None
    supports_credentials: bool

    @classmethod
    def build(
        cls,
        *,
        paths: Iterable[str],
        allowed_methods: Iterable[str] = ("*",),
        allowed_origins: Iterable[str] = ("*",),
        allowed_origins_patterns: Iterable[str] = (),
        allowed_headers: Iterable[str] = ("*",),
        exposed_headers: Iterable[str] = (),
        max_age: int | None = 0,
        supports_credentials: bool = False,
    ) -> CorsPolicy:
        origins = tuple(allowed_origins)
        patterns = [re.compile(pattern) for pattern in allowed_origins_patterns]
        if "*" not in origins:  # php-cors: `https://*.example.com` in allowed_origins is a wildcard
            patterns += [re.compile(rf"\A{wildcard_pattern(origin)}\Z") for origin in origins if "*" in origin]
        return cls(
            paths=tuple(paths),
            allowed_methods=tuple(method.upper() for method in allowed_methods),
            allowed_origins=origins,
            allowed_origins_patterns=tuple(patterns),
            allowed_headers=tuple(header.lower() for header in allowed_headers),
            exposed_headers=tuple(exposed_headers),
            max_age=max_age,
            supports_credentials=supports_credentials,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> CorsPolicy:
        return cls.build(
            paths=settings.cors_paths,
            allowed_methods=settings.cors_allowed_methods,
            allowed_origins=settings.cors_allowed_origins,
            allowed_origins_patterns=settings.cors_allowed_origins_patterns,
            allowed_headers=settings.cors_allowed_headers,
            exposed_headers=settings.cors_exposed_headers,
            max_age=settings.cors_max_age,
            supports_credentials=settings.cors_supports_credentials,
        )

    # --- which requests -----------------------------------------------------------------------------

    def path_matcher(self) -> Callable[[web.Request], bool]:
        """HandleCors::hasMatchingPath: a path pattern matches the decoded path without its outer
        slashes (`/` for the root), or the full URL (an entry with a scheme), query string included."""
        path_patterns = [p if p == "/" else p.strip("/") for p in self.paths if "://" not in p]
        url_patterns = [p for p in self.paths if "://" in p]
        path_regex = re.compile("|".join(f"(?:{wildcard_pattern(p)})" for p in path_patterns) or r"(?!)")
        url_regex = re.compile("|".join(f"(?:{wildcard_pattern(p)})" for p in url_patterns) or r"(?!)")

        @lru_cache(maxsize=4096)  # a handful of paths take nearly every request: decided once each
        def path_matches(path: str) -> bool:
            # Laravel trims both slashes (`/api/me/` is `api/me`), which leaves `/api/` as `api`, outside
            # `api/*`; the path as sent, less its leading slash, is tried too, so `/api/` is inside.
            return bool(path_regex.fullmatch(path.strip("/") or "/") or path_regex.fullmatch(path.lstrip("/")))

        def matches(request: web.Request) -> bool:
            if path_matches(request.path):
                return True
            if not url_patterns:
                return False
            url = f"{request.scheme}://{request.host}{request.path.rstrip('/')}"
            return bool(url_regex.fullmatch(f"{url}?{request.query_string}" if request.query_string else url))

        return matches

    # --- origins ------------------------------------------------------------------------------------

    @property
    def allow_all_origins(self) -> bool:
        return "*" in self.allowed_origins

    @property
    def fixed_origin(self) -> str | None:
        """The Access-Control-Allow-Origin every response gets whatever its request, or None when it
        depends on the request's Origin (and `Vary: Origin` is due)."""
        if self.allow_all_origins and not self.supports_credentials:
            return "*"
        if not self.allow_all_origins and not self.allowed_origins_patterns and len(self.allowed_origins) == 1:
            return self.allowed_origins[0]
        return None

    def is_origin_allowed(self, origin: str) -> bool:
        if self.allow_all_origins or origin in self.allowed_origins:
            return True
        # preg_match finds a match anywhere; anchors are the pattern's business, as in config/cors.php.
        return any(pattern.search(origin) for pattern in self.allowed_origins_patterns)

    def _set_allowed_origin(self, request: web.Request, response: web.StreamResponse) -> bool:
        """php-cors' configureAllowedOrigin; True when Access-Control-Allow-Origin was set."""
        fixed = self.fixed_origin
        if fixed is not None:
            response.headers["Access-Control-Allow-Origin"] = fixed
        else:
            origin = request.headers.get("Origin")
            if origin is not None and self.is_origin_allowed(origin):
                response.headers["Access-Control-Allow-Origin"] = origin
            _add_vary(response, "Origin")
        return "Access-Control-Allow-Origin" in response.headers

    # --- answers ------------------------------------------------------------------------------------

    def preflight(self, request: web.Request) -> web.Response | None:
        """The 204 answer to a preflight, else None (the request goes on to its route)."""
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        response = web.Response(status=PREFLIGHT_STATUS)
        if self._set_allowed_origin(request, response):
            if self.supports_credentials:
                response.headers["Access-Control-Allow-Credentials"] = "true"
            if "*" in self.allowed_methods:
                response.headers["Access-Control-Allow-Methods"] = request.headers[
                    "Access-Control-Request-Method"
                ].upper()
                _add_vary(response, "Access-Control-Request-Method")
            else:
                response.headers["Access-Control-Allow-Methods"] = ", ".join(self.allowed_methods)
            if "*" in self.allowed_headers:
                response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                    "Access-Control-Request-Headers", ""
                )
                _add_vary(response, "Access-Control-Request-Headers")
            else:
                response.headers["Access-Control-Allow-Headers"] = ", ".join(self.allowed_headers)
            if self.max_age is not None:
                response.headers["Access-Control-Max-Age"] = str(self.max_age)
        _add_vary(response, "Access-Control-Request-Method")  # HandleCors adds it to every preflight
        return response

    def fixed_actual_headers(self) -> dict[str, str] | None:
        """Every header `actual_headers` adds to a non-OPTIONS response, when none depends on the request
        (the stock `*`, or one origin): the entry adds them with its own in one update. Else None."""
        fixed = self.fixed_origin
        if fixed is None:
            return None
        return {"Access-Control-Allow-Origin": fixed, **self._with_allowed_origin()}

    def _with_allowed_origin(self) -> dict[str, str]:
        """What an actual response gets besides Access-Control-Allow-Origin, once that was set."""
        headers: dict[str, str] = {}
        if self.supports_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if self.exposed_headers:
            headers["Access-Control-Expose-Headers"] = ", ".join(self.exposed_headers)
        return headers

    def actual_headers(self) -> Callable[[web.Request, web.StreamResponse], None]:
        """What HandleCors adds to a routed response (php-cors' addActualRequestHeaders). When the origin
        header does not depend on the request (the stock `*`, or one origin) every header is worked out
        here once, and all but OPTIONS answers only get one dict update."""
        extra = self._with_allowed_origin()
        fixed = self.fixed_origin

        def add(request: web.Request, response: web.StreamResponse) -> None:
            if request.method == "OPTIONS":
                _add_vary(response, "Access-Control-Request-Method")
            if "Access-Control-Allow-Origin" in response.headers:
                return
            if fixed is not None:
                response.headers["Access-Control-Allow-Origin"] = fixed
                response.headers.update(extra)
            elif self._set_allowed_origin(request, response):
                response.headers.update(extra)

        return add

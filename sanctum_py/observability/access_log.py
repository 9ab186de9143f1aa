"""aiohttp's access log, reduced to what cannot carry a credential.

aiohttp's default line quotes the request line (with its query string: a signed verification URL's
`signature`), and the Referer (a SPA's reset page, `/reset-password/<token>`). This one logs the method,
the path without its query, the status, the size and the time, plus the request id; never a header, a
query string or a body. Through the root logger's handler, so LOG_FORMAT=json applies to it as well.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from sanctum_py.observability.request_context import request_id_for


class SafeAccessLogger(AbstractAccessLogger):
    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        milliseconds = round(time * 1000, 3)
        size = response.body_length
        path = request.rel_url.raw_path  # still percent-encoded: no line break or quote can be smuggled in
        self.logger.info(
            '%s "%s %s" %s %s %.3fms',
            request.remote,
            request.method,
            path,
            response.status,
            size,
            milliseconds,
            extra={
                "request_id": request_id_for(request),
                "http": {
                    "remote": request.remote,
                    "method": request.method,
                    "path": path,
                    "status": response.status,
                    "bytes": size,
                    "duration_ms": milliseconds,
                },
            },
        )

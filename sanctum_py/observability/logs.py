"""Process-wide logging: text for people, or one JSON object per line for log pipelines.

Both formats carry what a record says and nothing more: the message (services log ids and error
classes, never a secret), the logger, the level, the request id when the record belongs to a request,
and a traceback without local variables. Libraries that log SQL with its parameters at DEBUG are held
at INFO whatever LOG_LEVEL says: their parameters hold password hashes, token hashes and emails.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from sanctum_py.observability.request_context import current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# tortoise.db_client logs each query and its parameters; aiosqlite logs each call with its arguments.
SQL_LOGGERS = ("tortoise", "aiosqlite")


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id"?, "http"?, "exc_info"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        http = getattr(record, "http", None)  # the access log's fields (observability.access_log)
        if isinstance(http, dict):
            entry["http"] = http
        if record.exc_info:
            # logging's traceback: frames and source lines, never the frames' local variables.
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: Literal["text", "json"] = "text") -> None:
    """One handler on the root logger (stderr), in the chosen format; replaces any earlier one."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in SQL_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))

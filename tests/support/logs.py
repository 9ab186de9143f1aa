"""The captured log records a production process would have emitted.

The suite runs with every logger at DEBUG (tests/support/secret_scan.py), so `caplog` also holds the SQL
loggers' DEBUG lines (statements with their parameters: emails, hashes), which `configure_logging` keeps
out of production logs whatever LOG_LEVEL says. Tests asserting what the service logs look at the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sanctum_py.observability.logs import SQL_LOGGERS


def production_records(records: Iterable[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.INFO or r.name.partition(".")[0] not in SQL_LOGGERS]


def production_text(records: Iterable[logging.LogRecord]) -> str:
    """The messages of production_records, one a line."""
    return "\n".join(record.getMessage() for record in production_records(records))

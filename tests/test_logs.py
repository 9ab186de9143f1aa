"""LOG_FORMAT=json: `serve` writes one JSON object per line, and the lines of a request carry its id.

The id is the client's X-Request-Id when it is sane, else a generated one; work started by a request
(the reset mail, sent after the answer) logs with the same id. The access log (ACCESS_LOG=true) names
the path without its query and nothing of the headers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sanctum_py.observability.logs import JsonFormatter
from tests.conftest import TEST_APP_KEY
from tests.support.secret_scan import observe_mail, record_output, remember
from tests.support.servers import LiveServer, live_server

PASSWORD = "json-logs-password-1"


def call(server: LiveServer, method: str, path: str, body: dict[str, Any] | None, **headers: str) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.base_url + path, data=data, method=method, headers=headers)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_for(path: Path, text: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while text not in path.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, f"{text!r} never logged"
        time.sleep(0.05)


def test_served_app_writes_json_lines_with_request_ids(tmp_path: Path) -> None:
    settings = {
        "DATABASE_URL": f"sqlite://{tmp_path / 'db.sqlite'}",
        "APP_KEY": TEST_APP_KEY,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": "json",
        "ACCESS_LOG": "true",
        "MAIL_DRIVER": "file",
        "MAIL_FILE_PATH": str(tmp_path / "mail"),
    }
    remember(PASSWORD, "password sent by test_logs")
    registration = {"name": "J", "username": "jsonlogs", "email": "json@example.com", "password": PASSWORD}
    with live_server(tmp_path, settings) as server:
        assert call(server, "POST", "/api/register", {**registration, "password_confirmation": PASSWORD}) == 201
        status = call(server, "POST", "/api/forgot-password", {"email": "json@example.com"}, **{"X-Request-Id": "f-1"})
        assert status == 200
        wait_for(server.log_file, "mail written (file driver)")
        # An id that could break a log line is replaced, and the query string never reaches the log.
        assert call(server, "GET", "/up?signature=query-secret-0123456789", None, **{"X-Request-Id": 'a "b"'}) == 200
        assert call(server, "GET", "/up", None, **{"X-Request-Id": "x" * 129}) == 200
    [mail] = (tmp_path / "mail").glob("*.eml")
    observe_mail(mail.read_bytes())  # the reset token it carries joins the secret scan
    output = server.log_file.read_text(encoding="utf-8")
    record_output("serve with LOG_FORMAT=json", output)

    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    assert [(a["http"]["method"], a["http"]["path"], a["http"]["status"]) for a in access[-4:]] == [
        ("POST", "/api/register", 201),
        ("POST", "/api/forgot-password", 200),
        ("GET", "/up", 200),
        ("GET", "/up", 200),
    ]
    register, forgot, odd, long = (a["request_id"] for a in access[-4:])
    assert forgot == "f-1"
    assert all(len(generated) == 32 and int(generated, 16) >= 0 for generated in (register, odd, long))
    assert len({register, odd, long}) == 3
    [mailed] = [line for line in lines if line["message"].startswith("mail written")]
    assert mailed["request_id"] == "f-1"  # logged by the job the request left running after its answer
    assert not any("request_id" in line for line in lines if line["message"].startswith("======== Running"))
    assert "query-secret" not in output and "signature" not in output
    assert "json@example.com" not in output  # nor the SQL parameters (SQL loggers stay at INFO)


def test_json_records_carry_tracebacks_without_locals() -> None:
    def fail(hidden: str) -> None:
        raise ValueError("boom")  # `hidden` is a local of this frame

    secret = "-".join(("local", "value", "never", "logged"))  # not in any source line the traceback quotes
    try:
        fail(secret)
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("sanctum_py.http", logging.ERROR, __file__, 1, "failed %s", ("here",), exc_info)
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "sanctum_py.http", "failed here")
    assert "request_id" not in entry  # outside any request
    assert "ValueError: boom" in entry["exc_info"] and secret not in entry["exc_info"]

"""The service as a browser meets it: headless Chromium (Debian's) driven by Playwright, against a real
`serve` process.

- /api/docs loads with no console error and no CSP violation, lists every operation of openapi.yaml
  (counted from the file now, so an operation added or removed elsewhere is still checked), and its
  "Try it out" on POST /api/login signs in against the live server.
- A page served from another origin (a second port) calls the API with `fetch`: the preflight passes,
  and the script can read `X-RateLimit-Remaining` because CORS exposes it; a header that is not
  exposed stays unreadable, so the browser really is enforcing CORS.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from sanctum_py.http.docs import DOCS_URL, SPEC_FILE
from tests.support.browser import chromium
from tests.support.secret_scan import record_output, remember
from tests.support.servers import LiveServer, free_port, live_server

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
USER = {
    "name": "Tarayıcı",
    "username": "browser_user",
    "email": "browser@example.com",
    "password": "browser-password-1",
}
# Recorded into every page before its own scripts run (an init script is not the page's, so the
# page's CSP does not apply to it): what the page's CSP refused, if anything.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory: Path = tmp_path_factory.mktemp("browser")
    settings = {
        "DATABASE_URL": f"sqlite://{directory / 'browser.sqlite'}",
        "MAIL_FILE_PATH": str(directory / "mail"),
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "WARNING",
    }
    remember(USER["password"], "the browser tests' password")
    with live_server(directory, settings) as running:
        _post_json(running.base_url + "/api/register", {**USER, "password_confirmation": USER["password"]})
        yield running
    record_output("serve (browser tests)", running.log_tail())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.add_init_script(CSP_RECORDER)
    opened = context.new_page()
    yield opened
    context.close()


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _documented_operations() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method in HTTP_METHODS}


def _errors_of(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    return errors


# --- /api/docs ------------------------------------------------------------------------------------------


def test_the_docs_page_lists_every_operation_without_errors(server: LiveServer, page: Page) -> None:
    errors = _errors_of(page)
    page.goto(server.base_url + DOCS_URL)
    page.wait_for_selector(".opblock", timeout=20_000)
    listed = page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(block => [
            block.querySelector(".opblock-summary-method").textContent.trim(),
            block.querySelector(".opblock-summary-path").getAttribute("data-path"),
        ])""",
    )
    documented = _documented_operations()
    assert len(listed) == len(documented), "each operation once"
    assert {(method, path) for method, path in listed} == documented
    page.wait_for_load_state("networkidle")
    assert errors == []
    assert page.evaluate("window.__cspViolations") == []


def test_try_it_out_signs_in_against_the_live_server(server: LiveServer, page: Page) -> None:
    errors = _errors_of(page)
    page.goto(server.base_url + DOCS_URL)
    login = page.locator(".opblock-post").filter(has=page.locator('[data-path="/api/login"]'))
    login.locator(".opblock-summary").click()
    login.locator("button.try-out__btn").click()
    body = login.locator("textarea.body-param__text")
    body.fill(json.dumps({"login": USER["username"], "password": USER["password"]}))
    login.locator("button.execute").click()
    live = login.locator(".live-responses-table .response")
    live.first.wait_for(timeout=20_000)
    assert live.locator(".response-col_status").first.inner_text().strip() == "200"
    answer = json.loads(login.locator(".live-responses-table .response-col_description pre").first.inner_text())
    token = answer["access_token"]
    remember(token, "the docs page's login answer")  # the server's log must never show it
    assert answer["token_type"] == "Bearer"
    # The token is real: the server accepts it.
    request = urllib.request.Request(
        server.base_url + "/api/me", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["username"] == USER["username"]
    assert errors == []
    assert page.evaluate("window.__cspViolations") == []


# --- a cross-origin page --------------------------------------------------------------------------------

CROSS_ORIGIN_SCRIPT = """
async ([api, login, password]) => {
  const signIn = await fetch(api + "/api/login", {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json"},
    body: JSON.stringify({login, password}),
  });
  const body = await signIn.json();
  const me = await fetch(api + "/api/me", {
    headers: {"Authorization": "Bearer " + body.access_token, "Accept": "application/json"},
  });
  return {
    status: signIn.status,
    remaining: signIn.headers.get("X-RateLimit-Remaining"),
    limit: signIn.headers.get("X-RateLimit-Limit"),
    notExposed: signIn.headers.get("Server"),
    meStatus: me.status,
    meRemaining: me.headers.get("X-RateLimit-Remaining"),
    username: (await me.json()).username,
    origin: location.origin,
  };
}
"""


@pytest.fixture(scope="module")
def other_origin() -> Iterator[str]:
    """A tiny page on another port (so another origin) of this machine."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            content = b"<!DOCTYPE html><title>another origin</title><p>a client app</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_page_on_another_origin_reads_the_rate_limit_headers(
    server: LiveServer, other_origin: str, page: Page
) -> None:
    errors = _errors_of(page)
    page.goto(other_origin + "/")
    result = page.evaluate(CROSS_ORIGIN_SCRIPT, [server.base_url, USER["username"], USER["password"]])
    assert result["origin"] == other_origin
    assert other_origin != server.base_url  # localhost:<port> vs 127.0.0.1:<port>: two origins
    assert result["status"] == 200
    assert result["meStatus"] == 200 and result["username"] == USER["username"]
    assert result["limit"] == "60"
    assert result["remaining"] is not None and 0 <= int(result["remaining"]) < 60
    assert result["meRemaining"] is not None and int(result["meRemaining"]) < 60
    assert result["notExposed"] is None  # sent by the server, hidden by the browser: CORS is enforced
    assert errors == []

"""openapi.yaml is generator-friendly: Redocly CLI's recommended ruleset finds no error in it, and clients
generated from it at test time, unpatched, drive every documented dialect of a live server.

- Lint: `redocly lint openapi.yaml` (@redocly/cli pinned in tests/clients/package.json), recommended ruleset:
  0 errors, and no warning but the ones listed in ACCEPTED_WARNINGS.

- Python: `openapi-python-client generate --path openapi.yaml` (pinned in the `test` extra) into a temporary
  directory; every generated module must import, and tests/clients/python_flow.py runs register -> login -> me
  -> tokens -> revoke -> logout -> 401 through it on Laravel's wire, v1, the envelope and GraphQL.
- TypeScript: `openapi-typescript` (types) + `openapi-fetch` (runtime), pinned in tests/clients/package.json and
  its lock file, installed with `npm ci` into a cache directory keyed by those two files (one install per
  change, not per run); tests/clients/flow.test.ts is compiled with `tsc` against the generated types (so a
  type that no longer fits the wire fails here too) and run with `node --test`.

Both check that every request body went out as `application/json`: the one media type openapi.yaml offers.
The server is the real one (`python -m sanctum_py serve`, a temporary SQLite database). A missing `node` or
`npm`, or an install that fails, fails the test: nothing here is skipped.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import TEST_APP_KEY
from tests.support.openapi import SPEC_FILE, load_spec
from tests.support.servers import LiveServer, live_server

CLIENTS = Path(__file__).resolve().parent / "clients"
PACKAGE = "sanctum_py_client"  # openapi-python-client's name for a document titled `sanctum_py`
NODE_FILES = ("package.json", "package-lock.json")
NODE_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sanctum_py-test-clients"
COMMAND_SECONDS = 300
DIALECTS = ("laravel", "v1", "envelope", "graphql")
# The document names no license: choosing one is the owner's call, not the contract's (README says so).
ACCEPTED_WARNINGS = {"info-license"}
SETTINGS = {
    "APP_KEY": TEST_APP_KEY,
    "BCRYPT_ROUNDS": "4",
    "MAIL_DRIVER": "file",
    "LOG_LEVEL": "WARNING",
    # Both clients sign in and out from one address within seconds: what is measured here is the clients,
    # so the per-address budgets (seed 002's one GraphQL logout per 30 s, the API's 60 a minute) are lifted.
    "GRAPHQL_LOGOUT_THROTTLE_SECONDS": "0",
    "API_RATE_LIMIT": "1000000",
}


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool; any failure fails the test with its output."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("clients-server")
    settings = {
        **SETTINGS,
        "DATABASE_URL": f"sqlite://{directory / 'clients.sqlite'}",
        "MAIL_FILE_PATH": str(directory / "mail"),
    }
    with live_server(directory, settings) as running:
        yield running


# --- Python: openapi-python-client ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def python_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    directory = tmp_path_factory.mktemp("python-client")
    tools = Path(sys.executable).parent  # the generator formats its output with ruff, from this venv
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = run(
        tools / "openapi-python-client",
        *("generate", "--path", SPEC_FILE, "--meta", "none", "--output-path", directory / PACKAGE),
        cwd=directory,
        env=env,
    )
    output = generated.stdout + generated.stderr
    # The generator skips what it cannot express and says so with a warning: every operation must make it.
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(directory))
        for name in [
            name for name in sys.modules if name.split(".")[0] == PACKAGE or name == "tests.clients.python_flow"
        ]:
            del sys.modules[name]


def test_the_generated_python_client_imports_every_operation(python_client: ModuleType) -> None:
    api = importlib.import_module(f"{PACKAGE}.api")
    modules = [importlib.import_module(found.name) for found in pkgutil.walk_packages(api.__path__, f"{api.__name__}.")]
    operations = [module for module in modules if hasattr(module, "sync_detailed")]
    documented = [item[method]["operationId"] for item in load_spec()["paths"].values() for method in item]
    assert len(operations) == len(documented), sorted(module.__name__ for module in operations)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_generated_python_client_drives_every_dialect(
    python_client: ModuleType, server: LiveServer, dialect: str
) -> None:
    from tests.clients.python_flow import FLOWS, Wire

    wire = Wire(server.base_url)
    try:
        FLOWS[dialect](wire)
    finally:
        wire.close()
    assert wire.sent_bodies, "the flow sent no body"
    assert set(wire.sent_bodies) == {"application/json"}, wire.sent_bodies


# --- TypeScript: openapi-typescript + openapi-fetch --------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not on PATH: the TypeScript client needs Node.js 20+ and npm")
    return found


def _node_modules() -> Path:
    """node_modules for tests/clients/package.json + its lock, installed once per change of either file.
    Installed beside the cache entry and renamed into place, so an interrupted install is never used."""
    digest = hashlib.sha256(b"".join((CLIENTS / name).read_bytes() for name in NODE_FILES)).hexdigest()[:16]
    ready = NODE_CACHE / digest
    if not (ready / "node_modules").is_dir():
        staging = NODE_CACHE / f"{digest}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in NODE_FILES:
            shutil.copy(CLIENTS / name, staging / name)
        run(_tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=staging)
        try:
            staging.rename(ready)
        except OSError:  # another run installed it first
            shutil.rmtree(staging, ignore_errors=True)
    return ready / "node_modules"


def test_openapi_yaml_passes_redocly_recommended_lint(tmp_path: Path) -> None:
    bin_dir = _node_modules() / ".bin"
    result = subprocess.run(
        [str(bin_dir / "redocly"), "lint", str(SPEC_FILE), "--format=json"],
        cwd=tmp_path,  # no redocly.yaml on the way up: the built-in recommended ruleset
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    report = json.loads(result.stdout)
    problems = [(problem["severity"], problem["ruleId"], problem["message"]) for problem in report["problems"]]
    assert report["totals"]["errors"] == 0, problems
    assert {rule for _, rule, _ in problems} <= ACCEPTED_WARNINGS, problems
    assert result.returncode == 0, result.stderr


def test_the_generated_typescript_client_drives_every_dialect(server: LiveServer, tmp_path: Path) -> None:
    node = _tool("node")
    modules = _node_modules()
    (tmp_path / "node_modules").symlink_to(modules, target_is_directory=True)
    for name in ("flow.test.ts", "tsconfig.json", "package.json"):
        shutil.copy(CLIENTS / name, tmp_path / name)
    bin_dir = modules / ".bin"
    run(bin_dir / "openapi-typescript", SPEC_FILE, "--output", tmp_path / "schema.d.ts", cwd=tmp_path)
    run(bin_dir / "tsc", "-p", "tsconfig.json", cwd=tmp_path)  # type-checks the flow against the generated types
    env = {**os.environ, "SANCTUM_BASE_URL": server.base_url}
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "flow.test.js"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"node --test failed:\n{report}\n\nserver log (tail):\n{server.log_tail()}"
    # One test per dialect, plus the check that every body went out as JSON; none may be skipped.
    assert f"# pass {len(DIALECTS) + 1}" in report, report
    assert "# skipped 0" in report and "# todo 0" in report, report

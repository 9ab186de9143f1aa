"""The README documents every setting and the exact commands CI runs; /api/docs serves a current Swagger UI."""

from __future__ import annotations

import re
from pathlib import Path

from sanctum_py.http.docs import DOCS_URL, SPEC_URL, STATIC_URL
from sanctum_py.settings import Settings
from tests.support.contract import ContractClient

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme() -> None:
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in README]
    assert not missing, f"settings missing from the README table: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.strip().splitlines()[-1]
    assert command in README


# --- the Swagger UI at /api/docs ----------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    match = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', text)
    assert match, "no Swagger UI version in the bundle"
    return tuple(int(part) for part in match.groups())


async def test_the_docs_serve_a_current_swagger_ui(client: ContractClient) -> None:
    # 4.1.0 (what aiohttp-apispec bundles) takes its configuration from ?url= / ?configUrl=
    # (CVE-2021-46708); from 4.1.3 on that needs queryConfigEnabled, which the page leaves off.
    async with client.raw.get(f"{STATIC_URL}/swagger-ui-bundle.js") as asset:
        assert asset.status == 200
        assert _version(await asset.text()) >= (5, 0, 0)
    async with client.raw.get(DOCS_URL + "?url=https://attacker.example/spec.json&configUrl=/x") as response:
        page = await response.text()
    assert f'url: "{SPEC_URL}"' in page
    assert "attacker.example" not in page
    assert "queryConfigEnabled: false" in page
    for referenced in re.findall(r'(?:src|href)="([^"]+)"', page):  # everything the page loads is served
        async with client.raw.get(referenced) as loaded:
            assert loaded.status == 200, referenced

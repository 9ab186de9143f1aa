"""Migration 4_ (users.tenant_id) on every backend: added by `migrate`, nullable, 36 characters, and a
second run changes nothing (it checks before it acts, like 2_ and 3_)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tortoise import connections

from sanctum_py.db.migrate import MIGRATIONS_DIR
from sanctum_py.db.schema_changes import column_names
from tests.envelope.helpers import TENANT, registered, user_row
from tests.support.contract import ContractClient


def migration() -> ModuleType:
    [path] = (MIGRATIONS_DIR / "models").glob("4_*_user_tenants.py")
    spec = importlib.util.spec_from_file_location("user_tenants", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_tenant_column_is_added_once_and_nullable(client: ContractClient) -> None:
    connection = connections.get("default")
    module = migration()
    assert "tenant_id" in await column_names(connection, "users")
    assert await module.upgrade(connection) == "SELECT 1"  # idempotent: already there, nothing done
    assert "tenant_id" in await column_names(connection, "users")
    await registered(client, tenantId=...)
    assert (await user_row())["tenant_id"] is None
    await registered(client, username="mehmet", email="mehmet@example.com")
    assert (await user_row("mehmet"))["tenant_id"] == TENANT

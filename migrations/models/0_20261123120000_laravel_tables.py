"""Laravel's tables (users, personal_access_tokens, password_reset_tokens), created only where missing.

Pointed at an existing Laravel database this migration is purely additive: it keeps every row, adds
`personal_access_tokens.expires_at` to a Sanctum 2 database that lacks it, and adds case-insensitive
unique indexes for email and username where the data allows. The DDL mirrors Laravel's migrations in
each dialect (bigint ids, varchar(255), second-precision timestamps), so Laravel keeps working too.
"""

import logging

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False  # MySQL cannot roll DDL back; each statement below is idempotent instead

log = logging.getLogger("sanctum_py.migrations")

_TABLES = {
    "sqlite": [
        'CREATE TABLE IF NOT EXISTS "users" ("id" integer not null primary key autoincrement, '
        '"name" varchar not null, "surname" varchar, "username" varchar not null, "email" varchar not null, '
        '"email_verified_at" datetime, "password" varchar not null, "remember_token" varchar, '
        '"created_at" datetime, "updated_at" datetime)',
        'CREATE UNIQUE INDEX IF NOT EXISTS "users_username_unique" on "users" ("username")',
        'CREATE UNIQUE INDEX IF NOT EXISTS "users_email_unique" on "users" ("email")',
        'CREATE TABLE IF NOT EXISTS "personal_access_tokens" ("id" integer not null primary key autoincrement, '
        '"tokenable_type" varchar not null, "tokenable_id" integer not null, "name" varchar not null, '
        '"token" varchar not null, "abilities" text, "last_used_at" datetime, "expires_at" datetime, '
        '"created_at" datetime, "updated_at" datetime)',
        'CREATE INDEX IF NOT EXISTS "personal_access_tokens_tokenable_type_tokenable_id_index" '
        'on "personal_access_tokens" ("tokenable_type", "tokenable_id")',
        'CREATE UNIQUE INDEX IF NOT EXISTS "personal_access_tokens_token_unique" on "personal_access_tokens" ("token")',
        'CREATE TABLE IF NOT EXISTS "password_reset_tokens" ("email" varchar not null, '
        '"token" varchar not null, "created_at" datetime, primary key ("email"))',
    ],
    "postgres": [
        'CREATE TABLE IF NOT EXISTS "users" ("id" bigserial not null primary key, "name" varchar(255) not null, '
        '"surname" varchar(255) null, "username" varchar(255) not null, "email" varchar(255) not null, '
        '"email_verified_at" timestamp(0) without time zone null, "password" varchar(255) not null, '
        '"remember_token" varchar(100) null, "created_at" timestamp(0) without time zone null, '
        '"updated_at" timestamp(0) without time zone null)',
        'CREATE UNIQUE INDEX IF NOT EXISTS "users_username_unique" on "users" ("username")',
        'CREATE UNIQUE INDEX IF NOT EXISTS "users_email_unique" on "users" ("email")',
        'CREATE TABLE IF NOT EXISTS "personal_access_tokens" ("id" bigserial not null primary key, '
        '"tokenable_type" varchar(255) not null, "tokenable_id" bigint not null, "name" varchar(255) not null, '
        '"token" varchar(64) not null, "abilities" text null, '
        '"last_used_at" timestamp(0) without time zone null, "expires_at" timestamp(0) without time zone null, '
        '"created_at" timestamp(0) without time zone null, "updated_at" timestamp(0) without time zone null)',
        'CREATE INDEX IF NOT EXISTS "personal_access_tokens_tokenable_type_tokenable_id_index" '
        'on "personal_access_tokens" ("tokenable_type", "tokenable_id")',
        'CREATE UNIQUE INDEX IF NOT EXISTS "personal_access_tokens_token_unique" on "personal_access_tokens" ("token")',
        'CREATE TABLE IF NOT EXISTS "password_reset_tokens" ("email" varchar(255) not null primary key, '
        '"token" varchar(255) not null, "created_at" timestamp(0) without time zone null)',
    ],
    "mysql": [
        "CREATE TABLE IF NOT EXISTS `users` (`id` bigint unsigned not null auto_increment primary key, "
        "`name` varchar(255) not null, `surname` varchar(255) null, `username` varchar(255) not null, "
        "`email` varchar(255) not null, `email_verified_at` timestamp null, `password` varchar(255) not null, "
        "`remember_token` varchar(100) null, `created_at` timestamp null, `updated_at` timestamp null, "
        "UNIQUE KEY `users_username_unique` (`username`), UNIQUE KEY `users_email_unique` (`email`)) "
        "default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
        "CREATE TABLE IF NOT EXISTS `personal_access_tokens` (`id` bigint unsigned not null auto_increment "
        "primary key, `tokenable_type` varchar(255) not null, `tokenable_id` bigint unsigned not null, "
        "`name` varchar(255) not null, `token` varchar(64) not null, `abilities` text null, "
        "`last_used_at` timestamp null, `expires_at` timestamp null, `created_at` timestamp null, "
        "`updated_at` timestamp null, "
        "INDEX `personal_access_tokens_tokenable_type_tokenable_id_index` (`tokenable_type`, `tokenable_id`), "
        "UNIQUE KEY `personal_access_tokens_token_unique` (`token`)) "
        "default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
        "CREATE TABLE IF NOT EXISTS `password_reset_tokens` (`email` varchar(255) not null primary key, "
        "`token` varchar(255) not null, `created_at` timestamp null) "
        "default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
    ],
}

_ADD_EXPIRES_AT = {
    "sqlite": 'ALTER TABLE "personal_access_tokens" ADD COLUMN "expires_at" datetime',
    "postgres": 'ALTER TABLE "personal_access_tokens" ADD COLUMN "expires_at" timestamp(0) without time zone null',
    "mysql": "ALTER TABLE `personal_access_tokens` ADD COLUMN `expires_at` timestamp null AFTER `last_used_at`",
}

# MySQL's default collation already compares case-insensitively; the others need expression indexes.
_CASE_INSENSITIVE_INDEXES = {
    "sqlite": [
        'CREATE UNIQUE INDEX IF NOT EXISTS "users_email_lower_unique" on "users" (lower("email"))',
        'CREATE UNIQUE INDEX IF NOT EXISTS "users_username_lower_unique" on "users" (lower("username"))',
    ],
    "postgres": [
        'CREATE UNIQUE INDEX IF NOT EXISTS "users_email_lower_unique" on "users" (lower("email"))',
        'CREATE UNIQUE INDEX IF NOT EXISTS "users_username_lower_unique" on "users" (lower("username"))',
    ],
    "mysql": [],
}


async def _columns(db: BaseDBAsyncClient, dialect: str, table: str) -> set[str]:
    if dialect == "sqlite":
        rows = await db.execute_query_dict(f'PRAGMA table_info("{table}")')
        return {row["name"] for row in rows}
    if dialect == "postgres":
        rows = await db.execute_query_dict(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            [table],
        )
        return {row["column_name"] for row in rows}
    rows = await db.execute_query_dict(
        "SELECT column_name AS name FROM information_schema.columns "
        "WHERE table_schema = database() AND table_name = %s",
        [table],
    )
    return {row["name"] for row in rows}


async def upgrade(db: BaseDBAsyncClient) -> str:
    dialect = db.capabilities.dialect
    for statement in _TABLES[dialect]:
        await db.execute_script(statement)
    if "expires_at" not in await _columns(db, dialect, "personal_access_tokens"):
        await db.execute_script(_ADD_EXPIRES_AT[dialect])
    for statement in _CASE_INSENSITIVE_INDEXES[dialect]:
        try:
            await db.execute_script(statement)
        except Exception as error:  # existing rows that differ only by case: keep them, skip the index
            log.warning("case-insensitive unique index not created (%s); lookups still ignore case", error)
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    # Never drop a Laravel table: these tables may be shared with a running Laravel app.
    return "SELECT 1"


MODELS_STATE = (
    "eJztWm1z2jgQ/iuMPyUzuQ51SMjdN5LSlhsCncRpO9fpaIS9AU1s2ZXkJple/vtJso3fgO"
    "JLkwDVJ+DZXUl+tKtdLf5hBaEHPn/1AXN+GzLvAjgIJ7wBav3V+mFRHID8skLroGXhKMp1"
    "FCDwxNdmUaqPmDJAQlloDTzhgmFXSKVr7HOQkAfcZSQSJFRT09j3FRi6UpHQaQ7FlHyLQY"
    "41BTEDJgVfvkqYUA/ugGc/oxt0TcD3Sk8BASa+ml6LkLiPNHw2w+ytVlYzTpAb+nFASwbR"
    "vZiFdG4h16TQKVBgWIBXeAy1yvTxMyhZsQQEi2G+VC8HPLjGsS8Kjz1BOWYhNBo76LLvIG"
    "Q1IMoNqSKZUME1CwG+Qz7QqZjJn/bR0UMyUc5FoqZm/Ni7OHvfu9iTWvtqylDuVbKjo1Rk"
    "J7IHPQgWOBlG05/zLTIPWZfvucGv4TsDcsJzZ9tmxnOGXQaKD4RFneYhZvg7+A4JgAscRI"
    "spL49Q4V3uLAhp/yr7ssYupD69KZuwgnNncN6/dHrnH9TwAefffIW+6Tl9JbE1ep+ic93W"
    "6Go4LO9QLvs0cN631M/WP+NRXxMacjFletJcb6+9r1XHV05ZW05GBBRXYan141iEiIa3CH"
    "tF/jI4gx7UwXd9UwhFBUywe3OL5Rlck4R2uEy3LgrsoIpgiqd6QxXzap1ZlgDGQ4r9nusC"
    "58uTyQK11dkkNUBYWzxXOvmSHEtqFUlgHLQKCPGsr0sTDvHqYXlKpgMqFgdjol8JQunJ1b"
    "BLY2xzc81ULeGPP2378LBrtw+PT4463e7RSftE6ur11kXdFZF6Ong3GDnlqFPAGumntG2N"
    "8lDJ0iSk9RJSKTAa+X7V8udRsA2MP2Mg5JugPxu4e6ZvnLyBk79gXbtB94jjzhr0HneWsq"
    "tEZXLxhMgiiACvE+zA3ZLDo2T0v0jeorK1/9kpVawZm3vnvc/7pap1OB69y9QL7J8Nx6cV"
    "1n3MBYr5o64S1THMZWKbLxNF74C7iMh5H+Eb5RGMZ+yKZ5gGhPGMxZ4RR94jPaM8gvGMbf"
    "aMDWlNXXHd4qn1ojR+sKr5JOsa9oJ/XZhO0kt2ksyF+mkv1DxmTSkumOzCfe8ZSFYnWFOW"
    "izY717t4EpbNf8zPwC/6DozIQR9TXS4cyBSZ21xkFv0ke/WkSSgWbUzqXi8eGQQQTIChxk"
    "3xuuXuJfLX7fYalEutpZRrmXnpwxx6pudiPGMrey49WWK5M2tB1yWVHKzqu+BcZ2MaL79L"
    "18V+3el2Tg6PO/NmyxxZ1WP5eT9FVt1cLalBtVAwMaXZeqWZCqoGDKfqO8ju01RhIRVAFy"
    "Tavy/HoyVlV25SzazEFa1/Wz7h2/iW0wpyFRmlfFp7WaH6XkIlS6oB1MsKL5rMHv4Dwy6b"
    "PQ=="
)

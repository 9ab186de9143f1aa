"""Account lifecycle: roles, active flag, last login, Fortify's two-factor columns, refresh tokens and
two-factor challenges.

Additive only: every column added to `users` is nullable or defaulted (a Laravel app that knows nothing
of them keeps working), columns that already exist (Fortify's, on a Fortify database) are left alone, and
the two new tables belong to sanctum_py.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = False  # MySQL cannot roll DDL back; each step below checks before it acts

_USER_COLUMNS = {
    "role": {
        "sqlite": "varchar not null default 'user'",
        "postgres": "varchar(20) not null default 'user'",
        "mysql": "varchar(20) not null default 'user'",
    },
    "is_active": {
        "sqlite": "tinyint(1) not null default '1'",
        "postgres": "boolean not null default true",
        "mysql": "tinyint(1) not null default 1",
    },
    "last_login_at": {
        "sqlite": "datetime",
        "postgres": "timestamp(0) without time zone null",
        "mysql": "timestamp null",
    },
    "two_factor_secret": {"sqlite": "text", "postgres": "text null", "mysql": "text null"},
    "two_factor_recovery_codes": {"sqlite": "text", "postgres": "text null", "mysql": "text null"},
    "two_factor_confirmed_at": {
        "sqlite": "datetime",
        "postgres": "timestamp(0) without time zone null",
        "mysql": "timestamp null",
    },
    # sanctum_py's own: the last accepted TOTP time step, so a code is accepted once, on every worker.
    "two_factor_last_timestep": {"sqlite": "integer", "postgres": "bigint null", "mysql": "bigint null"},
}

_TABLES = {
    "sqlite": [
        'CREATE TABLE IF NOT EXISTS "refresh_tokens" ("id" integer not null primary key autoincrement, '
        '"user_id" integer not null, "family" varchar not null, "parent_id" integer, '
        '"access_token_id" integer, "name" varchar, "abilities" text, "token" varchar not null, '
        '"expires_at" datetime not null, "used_at" datetime, "revoked_at" datetime, "handoff" text, '
        '"created_at" datetime, "updated_at" datetime)',
        'CREATE UNIQUE INDEX IF NOT EXISTS "refresh_tokens_token_unique" on "refresh_tokens" ("token")',
        'CREATE INDEX IF NOT EXISTS "refresh_tokens_family_index" on "refresh_tokens" ("family")',
        'CREATE INDEX IF NOT EXISTS "refresh_tokens_user_id_index" on "refresh_tokens" ("user_id")',
        'CREATE TABLE IF NOT EXISTS "two_factor_challenges" ("id" integer not null primary key autoincrement, '
        '"user_id" integer not null, "token" varchar not null, "attempts" integer not null default 0, '
        '"remember" tinyint(1) not null default 0, "device_name" varchar, "abilities" text, '
        '"expires_at" datetime not null, "used_at" datetime, "created_at" datetime)',
        'CREATE UNIQUE INDEX IF NOT EXISTS "two_factor_challenges_token_unique" on "two_factor_challenges" ("token")',
    ],
    "postgres": [
        'CREATE TABLE IF NOT EXISTS "refresh_tokens" ("id" bigserial not null primary key, '
        '"user_id" bigint not null, "family" varchar(64) not null, "parent_id" bigint null, '
        '"access_token_id" bigint null, "name" varchar(255) null, "abilities" text null, '
        '"token" varchar(64) not null, '
        '"expires_at" timestamp(0) without time zone not null, "used_at" timestamp(0) without time zone null, '
        '"revoked_at" timestamp(0) without time zone null, "handoff" text null, '
        '"created_at" timestamp(0) without time zone null, '
        '"updated_at" timestamp(0) without time zone null)',
        'CREATE UNIQUE INDEX IF NOT EXISTS "refresh_tokens_token_unique" on "refresh_tokens" ("token")',
        'CREATE INDEX IF NOT EXISTS "refresh_tokens_family_index" on "refresh_tokens" ("family")',
        'CREATE INDEX IF NOT EXISTS "refresh_tokens_user_id_index" on "refresh_tokens" ("user_id")',
        'CREATE TABLE IF NOT EXISTS "two_factor_challenges" ("id" bigserial not null primary key, '
        '"user_id" bigint not null, "token" varchar(64) not null, "attempts" integer not null default 0, '
        '"remember" boolean not null default false, "device_name" varchar(255) null, "abilities" text null, '
        '"expires_at" timestamp(0) without time zone not null, "used_at" timestamp(0) without time zone null, '
        '"created_at" timestamp(0) without time zone null)',
        'CREATE UNIQUE INDEX IF NOT EXISTS "two_factor_challenges_token_unique" on "two_factor_challenges" ("token")',
    ],
    "mysql": [
        "CREATE TABLE IF NOT EXISTS `refresh_tokens` (`id` bigint unsigned not null auto_increment primary key, "
        "`user_id` bigint unsigned not null, `family` varchar(64) not null, `parent_id` bigint unsigned null, "
        "`access_token_id` bigint unsigned null, `name` varchar(255) null, `abilities` text null, "
        "`token` varchar(64) not null, `expires_at` timestamp not null "
        "default current_timestamp, `used_at` timestamp null, `revoked_at` timestamp null, `handoff` text null, "
        "`created_at` timestamp null, `updated_at` timestamp null, "
        "UNIQUE KEY `refresh_tokens_token_unique` (`token`), INDEX `refresh_tokens_family_index` (`family`), "
        "INDEX `refresh_tokens_user_id_index` (`user_id`)) "
        "default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
        "CREATE TABLE IF NOT EXISTS `two_factor_challenges` (`id` bigint unsigned not null auto_increment "
        "primary key, `user_id` bigint unsigned not null, `token` varchar(64) not null, "
        "`attempts` int not null default 0, `remember` tinyint(1) not null default 0, "
        "`device_name` varchar(255) null, `abilities` text null, `expires_at` timestamp not null "
        "default current_timestamp, `used_at` timestamp null, `created_at` timestamp null, "
        "UNIQUE KEY `two_factor_challenges_token_unique` (`token`)) "
        "default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
    ],
}


async def _columns(db: BaseDBAsyncClient, dialect: str, table: str) -> set[str]:
    if dialect == "sqlite":
        return {row["name"] for row in await db.execute_query_dict(f'PRAGMA table_info("{table}")')}
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
    existing = await _columns(db, dialect, "users")
    quote = "`" if dialect == "mysql" else '"'
    for column, types in _USER_COLUMNS.items():
        if column not in existing:
            await db.execute_script(
                f"ALTER TABLE {quote}users{quote} ADD COLUMN {quote}{column}{quote} {types[dialect]}"
            )
    for statement in _TABLES[dialect]:
        await db.execute_script(statement)
    return "SELECT 1"


async def downgrade(db: BaseDBAsyncClient) -> str:
    return "SELECT 1"  # additive on shared Laravel tables: nothing is dropped

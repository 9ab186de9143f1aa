"""Every knob of the service, read once from the environment and `.env`.

One pydantic-settings class; the README's settings table documents each field. Nothing else in the
package reads `os.environ`: settings are passed down explicitly, so tests build as many differently
configured apps as they like in one process.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger("sanctum_py.settings")

DEFAULT_DATABASE_URL = "sqlite://database/sanctum.sqlite"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- the application ---------------------------------------------------------------------------
    app_key: str = Field("", description="Laravel APP_KEY (`base64:...`); generated into .env when missing")
    app_url: str = "http://127.0.0.1:8000"
    database_url: str = DEFAULT_DATABASE_URL
    database_timeout: float = Field(
        5.0, gt=0, description="seconds to connect, to wait for a pooled connection, per query; then 503"
    )
    redis_url: str | None = None
    redis_prefix: str = Field("sanctum_py:", description="namespace of every Redis key")
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field("text", description="`json`: one JSON object per line, with request_id")
    access_log: bool = Field(False, description="one line per request: method, path (no query), status, time")

    # --- operating ---------------------------------------------------------------------------------
    metrics: Literal["off", "on"] = Field("off", description="Prometheus metrics at GET /metrics")
    metrics_token: SecretStr | None = Field(None, description="when set, /metrics wants `Authorization: Bearer <it>`")

    # --- serving -----------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1)
    max_body_bytes: int = Field(1024 * 1024, ge=1, description="larger bodies get Laravel's 413")
    body_timeout: float = Field(30.0, gt=0, description="seconds a request body may take to arrive; then 408")
    # NoDecode: the variable is comma-separated (as documented), not JSON; _split_csv splits it.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="peers whose X-Forwarded-For counts"
    )
    # CORS: config/cors.php's options under its own names (kernel/cors.py). Lists are comma-separated, or
    # a JSON array (for regexes that contain commas). Laravel's stock values, except where README says.
    cors_paths: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["api/*", "sanctum/csrf-cookie", "sanctum/token", "graphql"],
        description="paths (Request::is patterns, `*` any run) whose responses get CORS headers",
    )
    cors_allowed_methods: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    cors_allowed_origins_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="regexes an Origin may match (searched, as preg_match does)"
    )
    cors_allowed_headers: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    cors_exposed_headers: Annotated[list[str], NoDecode] = Field(
        # What a browser script needs to pace itself; Laravel's stock list is empty, so it could not.
        default_factory=lambda: ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"],
    )
    cors_max_age: int | None = Field(0, ge=0, description="seconds a preflight may be cached; empty = no header")
    cors_supports_credentials: bool = False

    # --- Sanctum -----------------------------------------------------------------------------------
    sanctum_token_prefix: str = ""
    sanctum_expiration: int | None = Field(None, ge=1, description="minutes from created_at; empty = never")
    tokenable_type: str = "App\\Models\\User"
    token_name: str = "auth_token"
    last_used_write_interval: int = Field(60, ge=0, description="seconds between last_used_at writes")
    token_cache: Literal["auto", "on", "off"] = "auto"
    token_cache_seconds: float = Field(10.0, ge=0, description="how long a verified token is trusted")

    # --- passwords ---------------------------------------------------------------------------------
    bcrypt_rounds: int = Field(10, ge=4, le=31)
    bcrypt_threads: int = Field(2, ge=1)

    # --- identifiers -------------------------------------------------------------------------------
    case_insensitive_identifiers: bool = Field(
        True, description="email/username lookups and uniqueness ignore case (Laravel: depends on the DB)"
    )

    # --- rate limits -------------------------------------------------------------------------------
    api_rate_limit: int = Field(60, ge=1, description="requests per minute per user id, else per IP")
    login_max_attempts: int = Field(5, ge=1, description="failed logins a minute per lower-cased login + IP")
    login_max_failures_per_hour: int = Field(100, ge=1, description="failed logins an hour per account, any IP")

    # --- account lifecycle (issue: refresh, reset, verify, 2FA, devices) --------------------------
    app_name: str = Field("sanctum_py", description="issuer shown in authenticator apps")
    token_minutes: int | None = Field(None, ge=1, description="lifetime of login tokens; empty = never (Sanctum)")
    remember_me_minutes: int = Field(60 * 24 * 30, ge=1, description="lifetime picked by remember_me logins")
    refresh_tokens: bool = Field(False, description="issue refresh tokens; access tokens then expire")
    access_token_minutes: int = Field(60, ge=1, description="access-token lifetime when refresh tokens are on")
    refresh_token_days: int = Field(7, ge=1, description="refresh-token lifetime")
    refresh_reuse_grace_seconds: int = Field(10, ge=0, description="a rotated token may fetch its child this long")
    refresh_throttle_seconds: int = Field(30, ge=0, description="one rotation per token family in this window")
    password_reset_table: str = Field("password_reset_tokens", description="`password_resets` on Laravel 8/9")
    password_reset_expire_minutes: int = Field(60, ge=1)
    password_reset_throttle_seconds: int = Field(60, ge=0, description="one reset mail per email in this window")
    password_reset_url: str = Field(
        "{app_url}/reset-password/{token}?email={email}", description="link mailed for a reset"
    )
    reveal_unknown_emails: bool = Field(False, description="Laravel's 'We can't find a user...' on reset")
    # JWTs (the GraphQL dialect's tokens, core/jwt_tokens.py): HS256 with a key derived from APP_KEY, or an
    # asymmetric algorithm (RS256, ES256, EdDSA, ...) signing with JWT_PRIVATE_KEY (PEM text), published at
    # /.well-known/jwks.json.
    jwt_algorithm: str = Field("HS256", description="HS256, or RS256/ES256/EdDSA with JWT_PRIVATE_KEY")
    jwt_private_key: str | None = Field(None, description="PEM private key for an asymmetric JWT_ALGORITHM")
    graphql_reveal_unknown_users: bool = Field(False, description="seed 002's USER_NOT_FOUND for unknown logins")
    graphql_logout_throttle_seconds: int = Field(30, ge=0, description="one GraphQL logout per client in this window")
    graphql_max_query_bytes: int = Field(8192, ge=256, description="longer GraphQL documents are refused")
    graphql_max_depth: int = Field(8, ge=2, description="deeper GraphQL selections are refused")
    graphql_max_fields: int = Field(64, ge=4, description="GraphQL documents selecting more fields are refused")
    revoke_tokens_on_password_reset: bool = True
    require_verified_email: bool = Field(False, description="unverified users get 409 on protected routes")
    verification_expire_minutes: int = Field(60, ge=1)
    two_factor_window: int = Field(1, ge=0, description="accepted TOTP steps either side of now")
    two_factor_challenge_seconds: int = Field(300, ge=1)
    two_factor_challenge_attempts: int = Field(5, ge=1)
    password_timeout: int = Field(
        10800, ge=1, description="seconds a token's password confirmation lasts (Laravel's auth.password_timeout)"
    )
    # --- the v1 wire (seeds 000/001) ----------------------------------------------------------------
    v1_role_ids: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: {"admin": 1, "user": 2, "staff": 3},
        description="seed 001's role_id of each role, `admin:1,user:2,staff:3`",
    )

    # --- mail --------------------------------------------------------------------------------------
    mail_driver: Literal["file", "smtp"] = Field("file", description="`file`: one .eml per message; `smtp`")
    mail_file_path: str = Field("storage/mail", description="folder of the `file` driver")
    mail_host: str = "127.0.0.1"
    mail_port: int = Field(25, ge=1, le=65535)
    mail_username: str | None = Field(None, description="SMTP AUTH user; empty = no AUTH")
    mail_password: str | None = None
    mail_encryption: Literal["none", "starttls", "tls"] = Field("none", description="`tls` = implicit TLS")
    mail_from_address: str = "noreply@example.com"
    mail_from_name: str = "sanctum_py"
    mail_timeout: float = Field(10.0, gt=0, description="seconds per SMTP connect/command")

    # --- gateways and other services (http/gateway) ------------------------------------------------
    # RFC 7662 introspection clients, `id:sha256:<64 hex>` comma-separated: only the SHA-256 of each client
    # secret is configured, never the secret. Parsed by core/gateway_clients.py (not here: pydantic would
    # quote the whole value in its error, and a secret pasted by mistake would land in a log). Empty: no
    # client, and POST /oauth/introspect answers 404.
    introspection_clients: str = Field("", description="`client-id:sha256:<hex of sha256(secret)>`, comma-separated")
    introspection_max_failures: int = Field(
        10, ge=1, description="failed introspection client authentications a minute per address, then 429"
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "cors_paths",
        "cors_allowed_methods",
        "cors_allowed_origins",
        "cors_allowed_origins_patterns",
        "cors_allowed_headers",
        "cors_exposed_headers",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        """A JSON array, or comma-separated text (an empty value is an empty list)."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]

    @field_validator("cors_allowed_origins_patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"CORS_ALLOWED_ORIGINS_PATTERNS: {pattern!r} is not a regex ({error})") from None
        return patterns

    @field_validator("v1_role_ids", mode="before")
    @classmethod
    def _role_ids(cls, value: object) -> object:
        """`admin:1,user:2,staff:3`: every role once, each id once."""
        if not isinstance(value, str):
            return value
        pairs = [part.strip().split(":", 1) for part in value.split(",") if part.strip()]
        mapping = {role.strip(): int(number) for role, number in pairs}
        if sorted(mapping) != ["admin", "staff", "user"] or len(set(mapping.values())) != 3:
            raise ValueError("V1_ROLE_IDS must give admin, staff and user one distinct id each")
        return mapping

    @field_validator(
        "sanctum_expiration",
        "redis_url",
        "token_minutes",
        "metrics_token",
        "jwt_private_key",
        "cors_max_age",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def app_key_bytes(self) -> bytes:
        """The raw 32-byte key, as Laravel's EncryptionServiceProvider::parseKey decodes it."""
        return decode_app_key(self.app_key)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


def generate_app_key() -> str:
    """Laravel's `key:generate`: `base64:` + 32 random bytes."""
    return "base64:" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def decode_app_key(app_key: str) -> bytes:
    key = app_key.strip()
    if key.startswith("base64:"):
        return base64.b64decode(key[len("base64:") :])
    return key.encode("utf-8")


def load_settings(env_file: str | Path = ".env", **overrides: Any) -> Settings:
    """Read settings; on a fresh clone with no APP_KEY, generate one and persist it in `.env` once."""
    settings = Settings(_env_file=env_file, **overrides)
    if not settings.app_key:
        key = generate_app_key()
        path = Path(env_file)
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        separator = "" if not existing or existing.endswith("\n") else "\n"
        path.write_text(f"{existing}{separator}APP_KEY={key}\n", encoding="utf-8")
        log.warning("APP_KEY was not set: generated a new one and saved it in %s", path)
        settings = settings.model_copy(update={"app_key": key})
    return settings

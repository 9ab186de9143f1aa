"""Tortoise models mapped onto Laravel's own tables, so a Laravel database is a drop-in."""

from __future__ import annotations

import json

from tortoise import fields
from tortoise.models import Model

from sanctum_py.db.fields import LaravelTimestampField


class User(Model):
    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=255)
    surname = fields.CharField(max_length=255, null=True)
    username = fields.CharField(max_length=255, unique=True)
    email = fields.CharField(max_length=255, unique=True)
    email_verified_at = LaravelTimestampField(null=True)
    password = fields.CharField(max_length=255)
    remember_token = fields.CharField(max_length=100, null=True)
    created_at = LaravelTimestampField(null=True)
    updated_at = LaravelTimestampField(null=True)
    # Added by sanctum_py's second migration; all defaulted or nullable, so Laravel ignores them.
    role = fields.CharField(max_length=20, default="user")
    is_active = fields.BooleanField(default=True)
    last_login_at = LaravelTimestampField(null=True)
    # Fortify's columns (encrypted with APP_KEY as Laravel's Encrypter does), and our replay guard.
    two_factor_secret = fields.TextField(null=True)
    two_factor_recovery_codes = fields.TextField(null=True)
    two_factor_confirmed_at = LaravelTimestampField(null=True)
    two_factor_last_timestep = fields.BigIntField(null=True)
    # The envelope dialect's tenant (seed 003's tenantId, a UUID as char(36)); migration 4_. Null: no tenant.
    tenant_id = fields.CharField(max_length=36, null=True)

    class Meta:
        table = "users"

    def __str__(self) -> str:  # never the password hash, whatever logs the object
        return f"User(id={self.id})"

    __repr__ = __str__


class PersonalAccessToken(Model):
    id = fields.BigIntField(primary_key=True)
    tokenable_type = fields.CharField(max_length=255)
    tokenable_id = fields.BigIntField()
    name = fields.CharField(max_length=255)
    token = fields.CharField(max_length=64, unique=True)
    abilities = fields.TextField(null=True)
    last_used_at = LaravelTimestampField(null=True)
    expires_at = LaravelTimestampField(null=True)
    created_at = LaravelTimestampField(null=True)
    updated_at = LaravelTimestampField(null=True)

    class Meta:
        table = "personal_access_tokens"
        indexes = (("tokenable_type", "tokenable_id"),)

    def ability_list(self) -> list[str]:
        return decode_abilities(self.abilities)

    def __str__(self) -> str:  # never the hash
        return f"PersonalAccessToken(id={self.id})"

    __repr__ = __str__


class TokenPasswordConfirmation(Model):
    """When a token last confirmed its password (Fortify's `auth.password_confirmed_at`, which Laravel keeps in
    the session; here the token is the session). A column of `personal_access_tokens` added by sanctum_py's
    third migration, nullable, so Laravel ignores it. Mapped apart from PersonalAccessToken on purpose: the
    token read of every request selects PersonalAccessToken's columns, and only the routes behind a password
    confirmation need this one."""

    id = fields.BigIntField(primary_key=True)
    password_confirmed_at = LaravelTimestampField(null=True)

    class Meta:
        table = "personal_access_tokens"

    def __str__(self) -> str:
        return f"TokenPasswordConfirmation(id={self.id})"

    __repr__ = __str__


class RefreshToken(Model):
    """One link of a rotation chain. `family` groups every token descended from one login, so a
    replayed (already rotated) token can revoke all of them at once."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    family = fields.CharField(max_length=64)
    parent_id = fields.BigIntField(null=True)
    access_token_id = fields.BigIntField(null=True)
    # The login's token name and abilities, copied down the chain: a refresh never widens a session,
    # even once its access token has been pruned.
    name = fields.CharField(max_length=255, null=True)
    abilities = fields.TextField(null=True)
    token = fields.CharField(max_length=64, unique=True)  # sha256 of the secret, never the secret
    expires_at = LaravelTimestampField()
    used_at = LaravelTimestampField(null=True)
    revoked_at = LaravelTimestampField(null=True)
    # The child pair's plain texts, encrypted with APP_KEY, for the reuse grace window only (then NULL).
    handoff = fields.TextField(null=True)
    created_at = LaravelTimestampField(null=True)
    updated_at = LaravelTimestampField(null=True)

    class Meta:
        table = "refresh_tokens"

    def __str__(self) -> str:
        return f"RefreshToken(id={self.id})"

    __repr__ = __str__


class TwoFactorChallenge(Model):
    """A password-verified login waiting for its second factor (Fortify keeps this in the session)."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    token = fields.CharField(max_length=64, unique=True)  # sha256 of the challenge token
    attempts = fields.IntField(default=0)
    remember = fields.BooleanField(default=False)
    device_name = fields.CharField(max_length=255, null=True)
    abilities = fields.TextField(null=True)
    expires_at = LaravelTimestampField()
    used_at = LaravelTimestampField(null=True)
    created_at = LaravelTimestampField(null=True)

    class Meta:
        table = "two_factor_challenges"

    def __str__(self) -> str:
        return f"TwoFactorChallenge(id={self.id})"

    __repr__ = __str__


class PasswordResetToken(Model):
    email = fields.CharField(max_length=255, primary_key=True)
    token = fields.CharField(max_length=255)
    created_at = LaravelTimestampField(null=True)

    class Meta:
        table = "password_reset_tokens"


def decode_abilities(raw: str | None) -> list[str]:
    """Sanctum keeps abilities as a JSON array in a text column; anything else grants nothing."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []

"""Seed 001's user JSON and seed 000's token view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sanctum_py.core.login import Session
from sanctum_py.db.models import User


def v1_time(moment: datetime | None) -> str | None:
    """UTC as `YYYY-MM-DDTHH:MM:SS` (the seeds' form: no fraction, no zone)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def user_json(user: User, role_ids: dict[str, int]) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "role_id": role_ids.get(user.role, role_ids.get("user")),
        "username": user.username,
        "email": user.email,
        "name": user.name or None,  # Laravel's NOT NULL users.name holds "" when none was given
        "last_name": user.surname,
        "created_at": v1_time(user.created_at),
        "updated_at": v1_time(user.updated_at),
        "last_login": v1_time(user.last_login_at),
    }


def token_view(session: Session, role_ids: dict[str, int]) -> dict[str, Any]:
    """The `auth_tokens` row of the access token (seed 000), its refresh token and the user."""
    return {
        "token_id": session.token_id,
        "token": session.access_token,
        "token_type": "Bearer",
        "expiration_time": v1_time(session.expires_at),
        "created_at": v1_time(session.issued_at),
        "refresh_token": session.refresh_token,
        "user": user_json(session.user, role_ids),
    }

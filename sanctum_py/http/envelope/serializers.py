"""Seed 003's AuthUserResponse: camelCase, a string id, `role`, `isActive`, `lastLogin`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sanctum_py.core.login import Session
from sanctum_py.db.models import User


def user_time(moment: datetime | None) -> str | None:
    """`2024-01-01T10:00:00Z`, as the seed writes the user's times (no fraction, unlike the envelope's)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),  # the seed types it as a string (a UUID there)
        "username": user.username,
        "email": user.email,
        "firstName": user.name or None,  # Laravel's NOT NULL users.name holds "" when none was given
        "lastName": user.surname,
        "role": user.role,
        "isActive": bool(user.is_active),
        "lastLogin": user_time(user.last_login_at),
        "createdAt": user_time(user.created_at),
        "updatedAt": user_time(user.updated_at),
    }


def signed_in(session: Session) -> dict[str, Any]:
    """LoginResponse: the user and both tokens."""
    return {"user": user_json(session.user), "token": session.access_token, "refreshToken": session.refresh_token}

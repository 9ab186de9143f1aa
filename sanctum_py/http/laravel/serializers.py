"""Users on the wire, with the keys and key order Laravel's Eloquent serialization produces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sanctum_py.core.login import Session
from sanctum_py.db.models import User


def laravel_timestamp(value: datetime | None) -> str | None:
    """Carbon's toJSON: `2024-02-08T18:00:00.000000Z`."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value is not None else None


def registered_user(user: User) -> dict[str, Any]:
    """A freshly created model: the attributes in the order User::create filled them, then timestamps and id."""
    return {
        "name": user.name,
        "surname": user.surname,
        "username": user.username,
        "email": user.email,
        "updated_at": laravel_timestamp(user.updated_at),
        "created_at": laravel_timestamp(user.created_at),
        "id": user.id,
    }


def stored_user(user: User) -> dict[str, Any]:
    """A model read from the database: its columns in table order, hidden ones left out."""
    return {
        "id": user.id,
        "name": user.name,
        "surname": user.surname,
        "username": user.username,
        "email": user.email,
        "email_verified_at": laravel_timestamp(user.email_verified_at),
        "created_at": laravel_timestamp(user.created_at),
        "updated_at": laravel_timestamp(user.updated_at),
    }


def session_body(session: Session, user_data: dict[str, Any]) -> dict[str, Any]:
    """Seed 004's token body; refresh_token and expires_in only exist when refresh tokens are on."""
    body: dict[str, Any] = {"data": user_data, "access_token": session.access_token, "token_type": "Bearer"}
    if session.refresh_token is not None:
        body["refresh_token"] = session.refresh_token
        body["expires_in"] = session.expires_in
    return body

"""Administration: an admin changes a user's role or deactivates the account."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.core.accounts import ROLES
from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.db.models import User
from sanctum_py.http.kernel.keys import SERVICES
from sanctum_py.http.laravel.input import read_input
from sanctum_py.http.laravel.responses import NotFound, json_response
from sanctum_py.http.laravel.serializers import laravel_timestamp, stored_user
from sanctum_py.http.laravel.validation import (
    BOOLEAN,
    NULLABLE,
    STRING,
    Rule,
    Rules,
    display_name,
    validate_input,
)


class OneOf(Rule):
    """Laravel's `in:` rule."""

    def __init__(self, *allowed: str) -> None:
        self.allowed = allowed

    def message(self, attribute: str, value: Any) -> str | None:
        return None if value in self.allowed else f"The selected {display_name(attribute)} is invalid."


class AccountUpdate(BaseModel):
    role: Annotated[str | None, Rules(NULLABLE, STRING, OneOf(*ROLES))] = None
    is_active: Annotated[bool | int | str | None, Rules(NULLABLE, BOOLEAN)] = None


def admin_view(user: User) -> dict[str, Any]:
    return {
        **stored_user(user),
        "role": user.role,
        "is_active": user.is_active,
        "last_login_at": laravel_timestamp(user.last_login_at),
    }


async def update_user(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    raw_id = request.match_info["id"]
    data = await validate_input(AccountUpdate, await read_input(request))
    active = None if data.is_active is None else data.is_active in (True, 1, "1")
    user_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 19 else None
    missing = NotFound(f"No query results for model [App\\Models\\User] {raw_id}")
    if user_id is None:
        raise missing
    try:
        user = await services.auth.update_account(user_id, role=data.role, is_active=active)
    except AuthError as error:
        raise missing if error.code is ErrorCode.NOT_FOUND else error from None
    return json_response(admin_view(user))

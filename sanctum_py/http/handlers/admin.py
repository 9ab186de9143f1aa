"""Administration: an admin changes a user's role or deactivates the account."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel

from sanctum_py.core.accounts import ROLES, LastActiveAdmin
from sanctum_py.core.container import Services
from sanctum_py.db.models import TwoFactorChallenge, User
from sanctum_py.http.input import read_input
from sanctum_py.http.keys import SERVICES
from sanctum_py.http.responses import NotFound, json_response
from sanctum_py.http.serializers import laravel_timestamp, stored_user
from sanctum_py.http.validation import (
    BOOLEAN,
    NULLABLE,
    STRING,
    Rule,
    Rules,
    ValidationFailed,
    display_name,
    validate_input,
)

# Ours (Laravel has no such rule), in the style of its validation messages.
LAST_ADMIN_MESSAGES = {
    "role": "The role cannot be changed while this user is the last active admin.",
    "is_active": "The is active field cannot be false while this user is the last active admin.",
}


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
    try:
        user = (
            None
            if user_id is None
            else await services.accounts.update_account(user_id, role=data.role, is_active=active)
        )
    except LastActiveAdmin as refused:  # nobody would be left to administer the service
        raise ValidationFailed({field: [LAST_ADMIN_MESSAGES[field]] for field in refused.fields}) from None
    if user is None:
        raise NotFound(f"No query results for model [App\\Models\\User] {raw_id}")
    if active is False:
        await end_sessions(services, user.id)
    services.tokens.cache.forget_user(user.id)  # a role change takes effect before it is answered
    return json_response(admin_view(user))


async def end_sessions(services: Services, user_id: int) -> None:
    """Everything a deactivated user could still sign in with, gone before the answer: refusing them
    while inactive is not enough, since a reactivation would bring them back (refresh families first:
    they revoke the access tokens they issued; then every access token, which drops the cached ones)."""
    if services.refresh is not None:
        await services.refresh.revoke_all_for(user_id)
    await services.tokens.revoke_all_for(user_id)
    await TwoFactorChallenge.filter(user_id=user_id).delete()  # a login halfway through

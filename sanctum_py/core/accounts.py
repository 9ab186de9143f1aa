"""Users: registration, lookup by email or username, credential checks. Plain async Python, no HTTP."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from sanctum_py.core.errors import AuthError, ErrorCode
from sanctum_py.core.hashing import PasswordHasher
from sanctum_py.db.dialects import placeholder, quote
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import User

IDENTIFIER_COLUMNS = ("username", "email")
ROLES = ("admin", "staff", "user")
_LAST_LOGIN_FIELD = User._meta.fields_map["last_login_at"]


def identifier_taken(columns: list[str]) -> AuthError:
    """Registration lost to an existing (or concurrently inserted) username or email."""
    return AuthError(ErrorCode.IDENTIFIER_TAKEN, fields=tuple(columns))


@dataclass(frozen=True, slots=True)
class Registration:
    name: str
    surname: str | None
    username: str
    email: str
    password: str
    tenant_id: str | None = None  # the envelope dialect's tenantId (a lower-case UUID); None elsewhere


class Accounts:
    def __init__(self, hasher: PasswordHasher, *, case_insensitive: bool = True) -> None:
        self.hasher = hasher
        self.case_insensitive = case_insensitive

    async def is_taken(self, column: str, value: str) -> bool:
        """Whether `value` is already someone's username *or* email, whichever column it is for: logins
        match either column (find_by_login), so a username equal to another user's email would capture
        their logins. Compared as logins are (CASE_INSENSITIVE_IDENTIFIERS, the database's collation)."""
        if column not in IDENTIFIER_COLUMNS:
            raise ValueError(f"not an identifier column: {column}")
        rows = await self._select("{col:username} = {p} OR {col:email} = {p}", [value, value])
        return bool(rows)

    async def register(self, registration: Registration, role: str = "user") -> User:
        password_hash = await self.hasher.hash(registration.password)
        now = utc_now()
        try:
            user = await User.create(
                name=registration.name,
                surname=registration.surname,
                username=registration.username,
                email=registration.email,
                password=password_hash,
                role=role,
                tenant_id=registration.tenant_id,
                created_at=now,
                updated_at=now,
            )
        except IntegrityError:
            # Two registrations raced past the uniqueness check: the unique index decided.
            taken = [c for c in IDENTIFIER_COLUMNS if await self.is_taken(c, getattr(registration, c))]
            raise identifier_taken(taken or list(IDENTIFIER_COLUMNS)) from None
        await self._undo_if_crossed(user)
        return user

    async def _undo_if_crossed(self, user: User) -> None:
        """No unique index spans both columns, so two registrations racing past is_taken (one's username
        the other's email) could both be inserted. Checked again once committed: whoever then sees the
        other removes its own row (nothing refers to it yet) and is answered "taken". The later of the
        two commits always sees the earlier, so at most one stays; rarely both give way."""
        crossed = [
            column
            for column, other in (("username", "email"), ("email", "username"))
            if await self._select(f"{{col:{other}}} = {{p}} AND id <> {{v}}", [getattr(user, column), user.id])
        ]
        if crossed:
            await User.filter(id=user.id).delete()
            raise identifier_taken(crossed)

    async def find_by_login(self, login: str) -> User | None:
        """The user whose email or username is `login`; an exact match wins over a case-folded one."""
        rows = await self._select("{col:email} = {p} OR {col:username} = {p}", [login, login])
        if not rows:
            return None
        users = [User._init_from_db(**row) for row in rows]
        folded = login.lower()
        matchers: tuple[Callable[[User], bool], ...] = (
            lambda u: u.email == login,
            lambda u: u.username == login,
            lambda u: u.email.lower() == folded,
            lambda u: u.username.lower() == folded,
        )
        for matches in matchers:
            for user in users:
                if matches(user):
                    return user
        return users[0]

    async def update_account(self, user_id: int, *, role: str | None, is_active: bool | None) -> User | None:
        """An administrator's change of role or active flag. The caller must drop cached tokens.

        Raises LAST_ACTIVE_ADMIN (fields: the demoting changes) when the user is the only active admin
        and the change would make it stop being one. Race-safe: the active admins' rows are locked
        (SELECT ... FOR UPDATE, in id order) before they are counted, so two admins demoting each other
        at once are serialised and the second sees the first's change. SQLite has one writer at a time
        (one connection per process, and a transaction whose snapshot went stale cannot write)."""
        changes: dict[str, object] = {}
        if role is not None:
            changes["role"] = role
        if is_active is not None:
            changes["is_active"] = is_active
        demoting = ["role"] if role not in (None, "admin") else []
        if is_active is False:
            demoting.append("is_active")
        async with in_transaction():
            if demoting:
                admins = await User.filter(role="admin", is_active=True).order_by("id").select_for_update().only("id")
                if [admin.id for admin in admins] == [user_id]:
                    raise AuthError(ErrorCode.LAST_ACTIVE_ADMIN, fields=tuple(demoting))
            user = await User.get_or_none(id=user_id)
            if user is None or not changes:
                return user
            changes["updated_at"] = utc_now()
            await User.filter(id=user_id).update(**changes)
        for name, value in changes.items():
            setattr(user, name, value)
        return user

    async def find_by_email(self, email: str) -> User | None:
        """The user whose email is `email` (password reset); an exact match wins over a case-folded one."""
        rows = await self._select("{col:email} = {p}", [email])
        users = [User._init_from_db(**row) for row in rows]
        return next((u for u in users if u.email == email), users[0] if users else None)

    async def record_login(self, user: User, at: datetime) -> None:
        """Set last_login_at without touching updated_at, which Laravel's serialisation shows.

        A prepared statement rather than the query builder: it runs on every login, and building the
        UPDATE cost more CPU than the database spent on it."""
        connection = connections.get("default")
        sql = _users_sql(
            "UPDATE {table} SET last_login_at = {v} WHERE id = {v}",
            connection.capabilities.dialect,
            case_insensitive=self.case_insensitive,
        )
        await connection.execute_query(sql, [_LAST_LOGIN_FIELD.to_db_value(at, user), user.id])
        user.last_login_at = at

    async def check_credentials(self, login: str, password: str) -> User | None:
        """The user if the password matches; unknown users cost one bcrypt check like everyone else."""
        user = await self.find_by_login(login)
        ok = await self.hasher.verify(password, user.password if user is not None else None)
        return user if ok and user is not None else None

    async def _select(self, condition: str, values: list[Any]) -> list[dict[str, Any]]:
        """SELECT users by a condition template: `{col:x}` is a column, compared case-insensitively
        when configured, `{p}` the next parameter in the database's own placeholder style."""
        connection = connections.get("default")
        sql = _users_sql(
            "SELECT * FROM {table} WHERE " + condition + " LIMIT 10",  # noqa: S608 - templates are constants
            connection.capabilities.dialect,
            case_insensitive=self.case_insensitive,
        )
        rows: list[dict[str, Any]] = await connection.execute_query_dict(sql, values)
        return rows


@lru_cache(maxsize=64)
def _users_sql(template: str, dialect: str, *, case_insensitive: bool) -> str:
    """Render a statement on `users` once per template and dialect (it runs on every login).

    `{table}` is the quoted table, `{col:x}` a quoted identifier column (lower()-ed when
    case-insensitive, except on MySQL, whose default collation already ignores case and whose index
    lower() would defeat), `{p}` the next placeholder in the dialect's style
    (compared as `{col:x}` is), `{v}` a plain one. No user text is ever
    part of the SQL."""
    fold = case_insensitive and dialect != "mysql"

    sql = template.replace("{table}", quote("users", dialect))
    for name in IDENTIFIER_COLUMNS:
        column = quote(name, dialect)
        sql = sql.replace(f"{{col:{name}}}", f"lower({column})" if fold else column)
    numbers = itertools.count(1)

    def parameter(marker: re.Match[str]) -> str:
        text = placeholder(next(numbers), dialect)
        return f"lower({text})" if fold and marker.group() == "{p}" else text

    return re.sub(r"\{[pv]\}", parameter, sql)

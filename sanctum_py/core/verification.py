"""Email verification: Laravel's VerifyEmail notification and Fortify's verify action. No HTTP.

The link is `URL::temporarySignedRoute('verification.verify', ...)` signed with the APP_KEY string, so
links signed by a Laravel app sharing the key verify here and the reverse (see core/signed_urls.py).
Checking a link needs the URL the client asked for: APP_URL must be the public base URL of the API.

Clients that post a token instead of following a link (the v1 API) get `<id>.<expires>.<signature>`: an
HMAC-SHA256 with the APP_KEY over the id, the expiry and sha1 of the current email, so it expires, dies when
the email changes, and is checked without storing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.signed_urls import SignatureStatus, check_signature, email_hash, verification_url
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import User
from sanctum_py.mail import texts
from sanctum_py.mail.outbox import Outbox


@dataclass(frozen=True, slots=True)
class VerificationConfig:
    app_url: str
    app_key: str  # the APP_KEY string as configured, `base64:` included: Laravel signs with it undecoded
    app_name: str
    expire_minutes: int = 60


class EmailVerification:
    def __init__(self, config: VerificationConfig, *, tokens: AccessTokens, outbox: Outbox) -> None:
        self.config = config
        self.tokens = tokens
        self.outbox = outbox

    def link_for(self, user: User, now: int | None = None) -> str:
        """VerifyEmail::verificationUrl for this user, valid for `expire_minutes`."""
        return verification_url(
            self.config.app_url,
            user.id,
            user.email,
            key=self.config.app_key,
            now=int(time.time()) if now is None else now,
            expire_minutes=self.config.expire_minutes,
        )

    def send_link(self, user: User) -> bool:
        """Queue the verification mail; False (nothing sent) when the email is already verified."""
        if user.email_verified_at is not None:
            return False
        message = texts.verification_link(user.email, link=self.link_for(user), app_name=self.config.app_name)
        self.outbox.run(self.outbox.deliver(message, "verification"), "verification")
        return True

    def send_token(self, user: User) -> bool:
        """Queue the mail of a posted-token verification; False (nothing sent) when already verified."""
        if user.email_verified_at is not None:
            return False
        token = self.token_for(user)
        link = f"{self.config.app_url.rstrip('/')}/verify-email?token={token}"
        message = texts.verification_token(
            user.email, link=link, token=token, expire_minutes=self.config.expire_minutes, app_name=self.config.app_name
        )
        self.outbox.run(self.outbox.deliver(message, "verification"), "verification")
        return True

    def token_for(self, user: User, now: int | None = None) -> str:
        expires = (int(time.time()) if now is None else now) + self.config.expire_minutes * 60
        return f"{user.id}.{expires}.{self._token_signature(user.id, expires, user.email)}"

    async def user_of_token(self, token: str, now: int | None = None) -> User | None:
        """The user a posted verification token names, if it is genuine, unexpired and for their email."""
        user_id, _, rest = token.partition(".")
        expires, _, signature = rest.partition(".")
        if not (user_id.isascii() and user_id.isdigit() and expires.isascii() and expires.isdigit()):
            return None
        if len(user_id) > 18 or int(expires) <= (int(time.time()) if now is None else now):
            return None
        user = await User.get_or_none(id=int(user_id))
        expected = self._token_signature(int(user_id), int(expires), user.email if user is not None else "")
        genuine = hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass"))
        return user if genuine and user is not None else None

    def _token_signature(self, user_id: int, expires: int, email: str) -> str:
        material = f"verify-email|{user_id}|{expires}|{email_hash(email)}".encode()
        return hmac.new(self.config.app_key.encode(), material, hashlib.sha256).hexdigest()

    def check_link(self, path: str, raw_query: str, now: int | None = None) -> SignatureStatus:
        """The `signed` middleware: `path` is the request's raw (still percent-encoded) path, `raw_query`
        its raw query string; both are checked as the URL `APP_URL + path`."""
        url = self.config.app_url.rstrip("/") + path
        return check_signature(url, raw_query, self.config.app_key, int(time.time()) if now is None else now)

    @staticmethod
    def link_belongs_to(user: User, route_id: str, route_hash: str) -> bool:
        """Fortify's VerifyEmailRequest::authorize: the link's id and sha1(email) are the signed-in user's."""
        same_id = hmac.compare_digest(str(user.id).encode(), route_id.encode("utf-8", "surrogatepass"))
        same_email = hmac.compare_digest(email_hash(user.email).encode(), route_hash.encode("utf-8", "surrogatepass"))
        return same_id and same_email

    async def mark_verified(self, user: User) -> bool:
        """MustVerifyEmail::markEmailAsVerified (a save: updated_at moves too); False if it already was.
        Cached copies of the user are dropped, so the next request sees the new state."""
        if user.email_verified_at is not None:
            return False
        now = utc_now()
        changed = await User.filter(id=user.id, email_verified_at=None).update(email_verified_at=now, updated_at=now)
        await self.tokens.user_changed(user.id)
        if changed:
            user.email_verified_at = now
            user.updated_at = now
        return bool(changed)

"""Email verification: Laravel's VerifyEmail notification and Fortify's verify action. No HTTP.

The link is `URL::temporarySignedRoute('verification.verify', ...)` signed with the APP_KEY string, so
links signed by a Laravel app sharing the key verify here and the reverse (see core/signed_urls.py).
Checking a link needs the URL the client asked for: APP_URL must be the public base URL of the API.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from sanctum_py.core.access_tokens import AccessTokens
from sanctum_py.core.signed_urls import SignatureStatus, check_signature, email_hash, verification_url
from sanctum_py.db.fields import utc_now
from sanctum_py.db.models import User
from sanctum_py.mail import MailMessage
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
        self.outbox.run(self._mail_link(user.email, self.link_for(user)), "verification")
        return True

    async def _mail_link(self, email: str, link: str) -> None:
        text = (
            "Hello!\n\n"
            "Please click the link below to verify your email address.\n\n"
            f"Verify Email Address: {link}\n\n"
            "If you did not create an account, no further action is required.\n\n"
            f"Regards,\n{self.config.app_name}\n"
        )
        await self.outbox.deliver(MailMessage(to=email, subject="Verify Email Address", text=text), "verification")

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
        self.tokens.cache.forget_user(user.id)
        if changed:
            user.email_verified_at = now
            user.updated_at = now
        return bool(changed)

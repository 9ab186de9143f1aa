"""The words of every message the service mails, apart from the flows that decide to send them.

Laravel's notifications (ResetPassword, VerifyEmail) in their plain-text form, and our own notices. The
flows in core/ pass values (links, tokens, minutes, the app's name); nothing here decides anything.
"""

from __future__ import annotations

from sanctum_py.mail.message import MailMessage


def reset_link(to: str, *, link: str, token: str, expire_minutes: int, app_name: str) -> MailMessage:
    """Laravel's ResetPassword notification, plus the bare token for API clients that post it themselves."""
    text = (
        "Hello!\n\n"
        "You are receiving this email because we received a password reset request for your account.\n\n"
        f"Reset Password: {link}\n\n"
        f"Reset token: {token}\n\n"
        f"This password reset link will expire in {expire_minutes} minutes.\n\n"
        "If you did not request a password reset, no further action is required.\n\n"
        f"Regards,\n{app_name}\n"
    )
    return MailMessage(to=to, subject="Reset Password Notification", text=text)


def password_changed(to: str, *, signed_out: bool, app_name: str) -> MailMessage:
    everywhere = " and every device signed in to it was signed out" if signed_out else ""
    text = (
        "Hello!\n\n"
        f"The password of your account was just changed{everywhere}.\n\n"
        "If you did not do this, request a new password reset link right away and keep it to yourself.\n\n"
        f"Regards,\n{app_name}\n"
    )
    return MailMessage(to=to, subject="Your password has been changed", text=text)


def verification_link(to: str, *, link: str, app_name: str) -> MailMessage:
    """Laravel's VerifyEmail notification."""
    text = (
        "Hello!\n\n"
        "Please click the link below to verify your email address.\n\n"
        f"Verify Email Address: {link}\n\n"
        "If you did not create an account, no further action is required.\n\n"
        f"Regards,\n{app_name}\n"
    )
    return MailMessage(to=to, subject="Verify Email Address", text=text)


def verification_token(to: str, *, link: str, token: str, expire_minutes: int, app_name: str) -> MailMessage:
    """For clients that verify by posting a token (the v1 API's `verify-email`)."""
    text = (
        "Hello!\n\n"
        "Please verify your email address.\n\n"
        f"Verify Email Address: {link}\n\n"
        f"Verification token: {token}\n\n"
        f"This token will expire in {expire_minutes} minutes.\n\n"
        "If you did not create an account, no further action is required.\n\n"
        f"Regards,\n{app_name}\n"
    )
    return MailMessage(to=to, subject="Verify Email Address", text=text)

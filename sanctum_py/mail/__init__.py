"""Outgoing mail, without HTTP: messages (`MailMessage`, `build_email`) and drivers (file, SMTP).

mailer = build_mailer(settings)
await mailer.send(build_email(MailMessage(to=..., subject=..., text=...), settings))
"""

from sanctum_py.mail.drivers import FileMailer, MailDeliveryError, Mailer, SmtpMailer, build_mailer
from sanctum_py.mail.message import MailMessage, build_email

__all__ = ["FileMailer", "MailDeliveryError", "MailMessage", "Mailer", "SmtpMailer", "build_email", "build_mailer"]

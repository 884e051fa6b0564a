"""E-mail over SMTP, with STARTTLS and AUTH when configured.

Every mail carries a Message-ID made from the notification id, so a mail resent after a
crash between sending and recording it is recognisable as the same message.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from tierflow.db.notification_models import Notification
from tierflow.grades import SHANGHAI
from workers.notifier.channels import Permanent, Transient

LANGUAGES = {"zh-CN": "zh-CN", "en": "en"}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    starttls: bool = False
    ca_file: str = ""  # empty: the system's CAs verify the server's certificate
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    domain: str = "tierflow.localhost"  # right side of the Message-ID


def sender_domain(sender: str) -> str:
    """The domain of the From address: a Message-ID on another domain counts against a mail
    in spam scoring (tierflow.localhost when From has none)."""
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    return domain if at and domain else "tierflow.localhost"


def message_id(notification_id: int | str, domain: str) -> str:
    return f"<notification-{notification_id}@{domain}>"


def build(
    config: SmtpConfig, to: str, subject: str, body: str, msg_id: str, locale: str
) -> EmailMessage:
    """Return the mail: UTF-8 plain text, Content-Language set, stable Message-ID."""
    mail = EmailMessage()
    mail["From"] = config.sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime.now(SHANGHAI))  # +0800, as its readers live
    mail["Message-ID"] = msg_id
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to us
    mail["X-Auto-Response-Suppress"] = "All"  # ... which Exchange reads instead
    mail.set_content(body, charset="utf-8")  # clears Content-* headers: language after it
    mail["Content-Language"] = LANGUAGES.get(locale, locale)
    return mail


def send(config: SmtpConfig, mail: EmailMessage) -> None:
    """Deliver ``mail`` to the configured server; raise Transient or Permanent."""
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=config.ca_file or None))
            if config.username:
                smtp.login(config.username, config.password)
            smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        if all(code >= 500 for code in codes):
            raise Permanent(f"SMTP server refused the recipient ({codes})") from None
        raise Transient(f"SMTP server deferred the recipient ({codes})") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise Transient(f"SMTP authentication failed ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        kind = Permanent if 500 <= exc.smtp_code < 600 and exc.smtp_code != 530 else Transient
        raise kind(f"SMTP {config.host}:{config.port} answered {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise Transient(f"SMTP {config.host}:{config.port}: {type(exc).__name__}") from None


def for_notification(config: SmtpConfig, row: Notification, to: str) -> EmailMessage:
    assert row.id is not None
    return build(config, to, row.subject, row.body, message_id(row.id, config.domain), row.locale)

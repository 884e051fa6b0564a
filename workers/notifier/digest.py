"""The digest mail: a user's held messages in one mail, newest last."""

from __future__ import annotations

from email.message import EmailMessage

from tierflow.db.notification_models import Notification
from workers.notifier.channels import email

HEADINGS = {
    "zh-CN": ("【汇总】{n} 条工单通知", "以下是本期的 {n} 条通知："),
    "en": ("[Digest] {n} service request notifications", "Here are {n} notifications:"),
}


def digest_mail(config: email.SmtpConfig, to: str, rows: list[Notification]) -> EmailMessage:
    """Return one mail listing ``rows``; its Message-ID names the first and last row."""
    locale = rows[0].locale if rows[0].locale in HEADINGS else "zh-CN"
    subject, intro = (text.format(n=len(rows)) for text in HEADINGS[locale])
    parts = [intro, ""]
    for row in rows:
        parts += [f"■ {row.subject}", row.body.strip(), ""]
    first, last = rows[0].id, rows[-1].id
    msg_id = email.message_id(f"digest-{first}-{last}", config.domain)
    return email.build(config, to, subject, "\n".join(parts), msg_id, locale)

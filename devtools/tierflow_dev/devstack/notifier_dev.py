"""The local stack's notifier: ``tierflow notifier`` with an SMTP sink in the same process.

``make up`` starts this instead of a mail server: every mail the notifier sends lands in the
sink, which writes it whole to ``<home>/logs/mail.log`` (``tierflow dev logs mail``) and a
line per mail to the notifier's own log (``tierflow dev logs notifier``). The line carries the
subject only: addresses stay out of the notifier's log, as in production.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from tierflow.settings import get_settings
from tierflow_dev.devstack.smtp_sink import Received, SmtpSink
from workers.notifier.process import serve
from workers.runtime import configure_logging

log = logging.getLogger("tierflow.dev.mail")
SHOWN_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "Content-Language")


class MailLog:
    """Append each received mail to a file, numbered; say so in the process log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, mail: Received) -> None:
        with self._lock:
            self.count += 1
            number = self.count
            with self.path.open("a", encoding="utf-8") as out:
                out.write(f"===== mail {number} (envelope to {', '.join(mail.rcpt_tos)})\n")
                for name in SHOWN_HEADERS:
                    out.write(f"{name}: {mail.message.get(name, '')}\n")
                out.write(f"\n{mail.body}\n")
        log.info("dev SMTP sink: mail %d received: %s", number, mail.message["Subject"])


def main() -> None:
    """Start the sink on TIERFLOW_SMTP_HOST/PORT, then run the notifier until stopped."""
    settings = get_settings()
    configure_logging()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs each recipient
    mail_log = MailLog(settings.logs_dir.resolve() / "mail.log")
    with SmtpSink(settings.smtp_host, settings.smtp_port, on_mail=mail_log):
        log.info(
            "dev SMTP sink on %s:%d; mails go to %s",
            settings.smtp_host,
            settings.smtp_port,
            mail_log.path,
        )
        serve(settings)


if __name__ == "__main__":
    main()

"""Send what is due: claim pending rows, deliver each by its channel, record the outcome.

Several notifier processes may run: a row is claimed with a lease before it is sent, so only
one sends it. A failure is retried with backoff (a couple of quick attempts with tenacity,
then rescheduled in the database, doubling each time) until ``retry_seconds`` after the
first attempt; then the row is dead-lettered (status ``dead``, the error kept). An endpoint
that keeps failing opens its circuit breaker, and rows for it wait out the cooldown.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from schemas.edge import is_email, sms_number
from tierflow.db.auth_models import ApiUser
from tierflow.db.engine import begin_write
from tierflow.db.models import ServiceRequest
from tierflow.db.notification_models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationPreference,
)
from workers.notifier.breaker import Breakers
from workers.notifier.channels import Permanent, SendError, Transient, email
from workers.notifier.channels.http import post, webhook_id
from workers.notifier.digest import digest_mail
from workers.notifier.metrics import NotifierMetrics
from workers.notifier.rules import Endpoint, Rules, Webhook

log = logging.getLogger("tierflow.notifier")
LEASE = timedelta(minutes=2)
# an HTTP attempt waits at most its timeout to connect, to write and to read
HTTP_WAITS = 3
QUICK_PAUSE_MAX = 1.0  # seconds between a claim's quick attempts, at most
_table = Notification.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a failing message is tried again."""

    retry_seconds: float = 3600.0
    initial: float = 5.0
    maximum: float = 300.0
    quick_attempts: int = 2  # within one claim, before rescheduling

    def delay(self, attempts: int) -> float:
        return float(min(self.maximum, self.initial * 2 ** max(0, attempts - 1)))


class Dispatcher:
    """Deliver due notifications; ``run(stop)`` loops until the event is set.

    ``clock`` stamps rows and ``wait`` makes every pause (between rounds, between quick
    retries): real time by default, the process's ``workers.notifier.clock.Clock`` in a test.
    """

    def __init__(
        self,
        engine: Engine,
        rules: Rules,
        smtp: email.SmtpConfig,
        metrics: NotifierMetrics,
        *,
        retry: RetryPolicy | None = None,
        breakers: Breakers | None = None,
        digest_seconds: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wait: Callable[[threading.Event, float], object] = threading.Event.wait,
        batch: int = 50,
    ) -> None:
        self.engine, self.rules, self.smtp, self.metrics = engine, rules, smtp, metrics
        self.retry = retry or RetryPolicy()
        self.breakers = breakers or Breakers(5, 60.0)
        self.digest_seconds = digest_seconds
        self.clock, self.wait = clock, wait
        self._stop = threading.Event()  # run()'s: it also cuts a quick retry's pause short
        self.batch = batch
        self.http = httpx.Client()
        self.progressed_at = time.monotonic()  # last attempt finished, or nothing was due

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Deliver until ``stop`` is set; an unexpected error is logged and the loop goes on."""
        self._stop = stop
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the sender
                log.exception("dispatcher round failed; trying again")
                busy = 0
            if not busy:
                self.wait(stop, interval)
        self.http.close()

    def run_once(self) -> int:
        """Deliver every row due now (one batch) and the digests due; return how many."""
        now = self.clock()
        rows = self._claim(now)
        if not rows:
            self.progressed_at = time.monotonic()
        for row in rows:
            if not self._renew(row):
                continue  # its lease ran out while the batch's earlier rows were sent
            try:
                self._deliver(row)
            except Exception as exc:  # noqa: BLE001 - one row must not hold back the others
                # (claimed first again, it would end every round). A database outage fails
                # the reschedule too and ends the round, as before.
                self._unexpected([row], exc)
            self.progressed_at = time.monotonic()
        return len(rows) + self._digests(now)

    def idle_seconds(self) -> float:
        """Seconds since an attempt last finished or a round found nothing due (``/healthz``)."""
        return time.monotonic() - self.progressed_at

    # ------------------------------------------------------------------ claiming
    def _claim(
        self, now: datetime, digest: bool = False, user_id: str | None = None
    ) -> list[Notification]:
        """Lease up to ``batch`` due rows; rows another process holds are left alone."""
        query = (
            select(Notification.id)
            .where(
                Notification.status == DeliveryStatus.PENDING,
                col(Notification.not_before) <= now,
                col(Notification.digest).is_(digest),
                or_(
                    col(Notification.claimed_until).is_(None), col(Notification.claimed_until) < now
                ),
            )
            # least tried first: rows held back by an open breaker are not starved by the
            # ones that probe it
            .order_by(col(Notification.attempts), col(Notification.not_before))
            .limit(self.batch)
        )
        if user_id is not None:
            query = query.where(Notification.user_id == user_id)
        with Session(self.engine) as session:
            ids = list(session.exec(query).all())
        claimed: list[int | None] = []
        with begin_write(self.engine) as conn:
            for row_id in ids:
                result = conn.execute(
                    update(_table)
                    .where(
                        _table.c.id == row_id,
                        _table.c.status == DeliveryStatus.PENDING.value,
                        or_(_table.c.claimed_until.is_(None), _table.c.claimed_until < now),
                    )
                    .values(claimed_until=now + LEASE)
                )
                if result.rowcount == 1:
                    claimed.append(row_id)
        if not claimed:
            return []
        with Session(self.engine) as session:
            found = session.exec(select(Notification).where(col(Notification.id).in_(claimed)))
            return sorted(found.all(), key=lambda r: claimed.index(r.id))

    def _renew(self, row: Notification) -> bool:
        """Renew ``row``'s lease just before it is sent, if it is still this claim's.

        A batch is leased at once, and its rows are sent one after another: behind slow
        sends (a mail server taking seconds) a row's lease can run out before its turn, and
        another notifier claims and sends it. That claim set another lease, so this one
        leaves the row to it."""
        now = self.clock()
        until = now + self._send_lease(row)
        with begin_write(self.engine) as conn:
            result = conn.execute(
                update(_table)
                .where(
                    _table.c.id == row.id,
                    _table.c.status == DeliveryStatus.PENDING.value,
                    _table.c.claimed_until == row.claimed_until,
                    _table.c.claimed_until > now,
                )
                .values(claimed_until=until)
            )
        if result.rowcount != 1:
            log.info("notification %s: its lease ran out before its turn; left to another", row.id)
            return False
        row.claimed_until = until
        return True

    def _send_lease(self, row: Notification) -> timedelta:
        """How long ``row``'s send may take: ``LEASE``, or longer for an endpoint allowed to
        take longer (every quick attempt waiting its whole timeout, and the pauses between),
        so that no other notifier sends it again meanwhile."""
        endpoint: Endpoint | None = None
        if row.channel == Channel.WEBHOOK:
            endpoint = self._webhook(row)
        elif row.channel == Channel.SMS:
            endpoint = self.rules.sms
        if endpoint is None:
            return LEASE
        attempts = self.retry.quick_attempts
        worst = attempts * HTTP_WAITS * endpoint.timeout_seconds + attempts * QUICK_PAUSE_MAX
        return max(LEASE, timedelta(seconds=worst + 30))

    # ------------------------------------------------------------------ one row
    def _deliver(self, row: Notification) -> None:
        endpoint = self._endpoint(row)
        if self.breakers.is_open(endpoint):
            self._reschedule(row, self.breakers.wait_for(endpoint), "circuit breaker open")
            return
        try:
            self._with_quick_retries(lambda: self._send(row))
        except Permanent as exc:
            self.breakers.succeeded(endpoint)  # the endpoint answered: it is up
            self._count(row, "failed")
            self._give_up(row, str(exc))
            return
        except SendError as exc:
            self.breakers.failed(endpoint)
            self._count(row, "failed")
            self._reschedule(row, self.retry.delay(row.attempts + 1), str(exc), attempted=True)
            return
        except _NoAddress as exc:
            self._finish(row, DeliveryStatus.SKIPPED, str(exc))
            return
        self.breakers.succeeded(endpoint)
        self._count(row, "sent")
        self._finish(row, DeliveryStatus.SENT, None)

    def _count(self, row: Notification, outcome: str) -> None:
        """One send attempt of ``row``: by channel, and by webhook for a webhook's."""
        counter = self.metrics.sent if outcome == "sent" else self.metrics.failed
        counter.labels(row.channel).inc()
        if row.channel == Channel.WEBHOOK:
            self.metrics.webhook_sends.labels(webhook_name(row), outcome).inc()

    def _webhook(self, row: Notification) -> Webhook | None:
        """The rules file's webhook a webhook row goes to (None: no longer configured)."""
        name = webhook_name(row)
        return next((w for w in self.rules.webhook if w.name == name), None)

    def _with_quick_retries(self, send: Callable[[], None]) -> None:
        Retrying(
            stop=stop_after_attempt(self.retry.quick_attempts),
            wait=wait_exponential(multiplier=0.2, max=QUICK_PAUSE_MAX),
            retry=retry_if_exception_type(Transient),
            reraise=True,
            sleep=self._pause,
        )(send)

    def _pause(self, seconds: float) -> None:
        self.wait(self._stop, seconds)

    def _endpoint(self, row: Notification) -> str:
        if row.channel == Channel.WEBHOOK:
            return row.recipient
        return "smtp" if row.channel == Channel.EMAIL else "sms"

    def _send(self, row: Notification) -> None:
        assert row.id is not None
        channel = Channel(row.channel)
        if channel is Channel.EMAIL:
            to = address_at_send(self.engine, row, "email")
            email.send(self.smtp, email.for_notification(self.smtp, row, to))
        elif channel is Channel.WEBHOOK:
            name, hook = webhook_name(row), self._webhook(row)
            if hook is None:
                raise Permanent(f"webhook {name} is no longer configured")
            post(self.http, name, hook.url, row.body.encode(), webhook_id(row.id),
                 hook.secret(), hook.timeout_seconds)  # fmt: skip
        elif channel is Channel.SMS:
            gateway = self.rules.sms
            if gateway is None:
                raise Permanent("no SMS gateway is configured")
            phone = address_at_send(self.engine, row, "phone")
            body = gateway.body(phone, row.subject, row.rule, row.request_id)
            post(self.http, "sms", gateway.url, body.encode(), webhook_id(row.id),
                 gateway.secret(), gateway.timeout_seconds, gateway.content_type)  # fmt: skip

    # ------------------------------------------------------------------ outcomes
    def _finish(self, row: Notification, status: DeliveryStatus, error: str | None) -> None:
        now = self.clock()
        values: dict[str, object] = {"status": status.value, "claimed_until": None}
        values["last_error"] = error
        if status is DeliveryStatus.SENT:
            values["sent_at"] = now
            values["attempts"] = row.attempts + 1
            values["first_attempt_at"] = row.first_attempt_at or now
        with begin_write(self.engine) as conn:
            conn.execute(update(_table).where(_table.c.id == row.id).values(**values))

    def _unexpected(self, rows: list[Notification], exc: Exception) -> None:
        """Retry ``rows`` after an error that is not a send error, naming its type and place
        in the code, never its message (that may quote an address)."""
        where = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"unexpected {type(exc).__name__} at {where.name}:{where.lineno}"
        for row in rows:
            log.error("notification %s failed: %s", row.id, error)
            self._reschedule(row, self.retry.delay(row.attempts + 1), error, attempted=True)

    def _give_up(self, row: Notification, error: str) -> None:
        self.metrics.dead.labels(row.channel).inc()
        log.warning("notification %s dead-lettered: %s", row.id, error[:300])
        self._finish(row, DeliveryStatus.DEAD, error[:500])

    def _reschedule(
        self, row: Notification, delay: float, error: str, attempted: bool = False
    ) -> None:
        now = self.clock()
        first = row.first_attempt_at or now
        if (now - first).total_seconds() >= self.retry.retry_seconds:
            self._give_up(row, f"still failing after {self.retry.retry_seconds:.0f} s: {error}")
            return
        self.metrics.retried.labels(row.channel).inc()
        with begin_write(self.engine) as conn:
            conn.execute(
                update(_table)
                .where(_table.c.id == row.id)
                .values(
                    not_before=now + timedelta(seconds=delay),
                    claimed_until=None,
                    attempts=row.attempts + (1 if attempted else 0),
                    first_attempt_at=first,
                    last_error=error[:500],
                )
            )

    # ------------------------------------------------------------------ digests
    def _digests(self, now: datetime) -> int:
        """Send one mail per user whose oldest held message has waited a digest period."""
        cutoff = now - timedelta(seconds=self.digest_seconds)
        with Session(self.engine) as session:
            users = session.exec(
                select(Notification.user_id)
                .where(
                    Notification.status == DeliveryStatus.PENDING,
                    col(Notification.digest).is_(True),
                    col(Notification.not_before) <= now,
                    col(Notification.created_at) <= cutoff,
                )
                .distinct()
            ).all()
        done = 0
        for user_id in users:
            rows = self._claim(now, digest=True, user_id=user_id)
            if not rows:
                continue
            try:
                done += self._send_digest(rows)
            except Exception as exc:  # noqa: BLE001 - one user's must not hold back the others
                self._unexpected(rows, exc)
        return done

    def _send_digest(self, rows: list[Notification]) -> int:
        """Mail ``rows`` (one user's) as one digest; return how many were sent."""
        try:
            to = address_at_send(self.engine, rows[0], "email")
            email.send(self.smtp, digest_mail(self.smtp, to, rows))
        except _NoAddress as exc:
            for row in rows:
                self._finish(row, DeliveryStatus.SKIPPED, str(exc))
            return 0
        except Permanent as exc:
            self.metrics.failed.labels(Channel.EMAIL.value).inc()
            for row in rows:
                self._give_up(row, str(exc))
            return 0
        except SendError as exc:
            self.metrics.failed.labels(Channel.EMAIL.value).inc()
            for row in rows:
                self._reschedule(row, self.retry.delay(row.attempts + 1), str(exc), True)
            return 0
        self.metrics.sent.labels(Channel.EMAIL.value).inc()
        for row in rows:
            self._finish(row, DeliveryStatus.SENT, None)
        return len(rows)


def webhook_name(row: Notification) -> str:
    """The rules file's name of a webhook row's endpoint (its recipient: ``webhook:<name>``)."""
    return row.recipient.removeprefix("webhook:")


def address_at_send(engine: Engine, row: Notification, kind: str) -> str:
    """The address at send time (``kind``: email or phone): a user's preference or the
    enterprise's contact, read now, so a changed address is the one used, and a user who
    turned the channel off, or whose account was disabled, since the message was planned (a
    message held for working hours, a digest) is sent none. A phone is the
    number a text goes to, in E.164; a landline (the enterprise's, or a user's saved before
    preferences required a mobile) is none."""
    with Session(engine) as session:
        if row.recipient.startswith("enterprise:"):
            request = session.get(ServiceRequest, row.request_id)
            email, phone = (
                (None, None) if request is None else (request.contact_email, request.contact_phone)
            )
        else:
            user = session.get(ApiUser, row.user_id or "")
            if user is None or user.disabled:  # a leaver is told nothing more, held mail too
                raise _NoAddress("the account is disabled")
            pref = session.get(NotificationPreference, row.user_id or "")
            email, phone = (None, None) if pref is None else (pref.email, pref.phone)
            if pref is not None and not (
                pref.email_enabled if kind == "email" else pref.sms_enabled
            ):
                raise _NoAddress(f"{kind} turned off")  # since the message was planned
    value = email if kind == "email" else sms_number(phone)
    if not value:
        raise _NoAddress(f"no {kind} on file")
    if kind == "email" and not is_email(value):
        # stored before the edges checked it: a line break would end the mail's header
        # (and fail every round), a comma would add a recipient; never quote it in errors
        raise Permanent("the e-mail on file is not one address")
    return value


class _NoAddress(Exception):
    """The recipient has no address for this channel (any more)."""

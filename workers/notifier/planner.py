"""Turn one lifecycle event into notification rows, and record them once.

The rows are the outbox of the notifier: the consumer records them (a redelivered event finds
its rows and adds none, by the unique key event id × channel × recipient) and commits its
offset; the dispatcher sends what is due. Inbox rows are delivered by being written.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from schemas.chased import part_unit
from schemas.events import CloudEvent
from schemas.lifecycle import EventType, TransitionRecord
from tierflow.db.engine import begin_write, conflict_insert
from tierflow.db.models import Transition
from tierflow.db.notification_models import Channel, DeliveryStatus, Notification
from tierflow.directory_store import institution_names
from workers.notifier.audience import recipients
from workers.notifier.rules import Audience, Rule, Rules
from workers.notifier.schedule import BusinessHours
from workers.notifier.templates import Templates

# Channels that reach a person's phone or mailbox: held for working hours unless urgent.
INTRUSIVE = frozenset({Channel.EMAIL, Channel.SMS})
_table = SQLModel.metadata.tables[Notification.__tablename__]

# The details of a record that name an institution, which the messages name by its name.
UNIT_DETAILS = ("co_handler", "supervised_institution", "rectifying_institution")


def waits_for_working_hours(channel: Channel, audience: Audience) -> bool:
    """Whether a message that is not urgent waits for working hours: a text at night wakes
    anyone, and staff are not mailed off duty; the enterprise's mail goes at once (a receipt
    held over a holiday invites the request again), as the inbox and webhooks do."""
    if channel is Channel.EMAIL and audience is Audience.ENTERPRISE:
        return False
    return channel in INTRUSIVE


def portal_link(portal_url: str | None, request_id: str) -> str | None:
    """Where the enterprise follows its request on the portal: ``{request_id}`` in the
    configured address is replaced (None: no portal address is configured)."""
    if not portal_url:
        return None
    return portal_url.replace("{request_id}", request_id)


class Planner:
    """Rules, templates and the calendar: what each event means for whom."""

    def __init__(
        self,
        engine: Engine,
        rules: Rules,
        templates: Templates,
        console_url: str,
        hours: BusinessHours | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        portal_url: str | None = None,
    ) -> None:
        self.engine, self.rules, self.templates = engine, rules, templates
        self.console_url = console_url.rstrip("/")
        self.portal_url = portal_url  # the enterprise service portal (settings)
        self.hours = hours or BusinessHours()
        self.clock = clock

    def plan(self, event: CloudEvent, record: TransitionRecord) -> list[dict[str, Any]]:
        """Return the rows ``record`` calls for (not yet written)."""
        now = self.clock()
        rows: list[dict[str, Any]] = []
        # read once, and only when a message names an institution (most name none)
        units = functools.cache(lambda: self._units(record))
        accepted = functools.cache(lambda: self._accepted_before(record))
        for rule in self.rules.for_event(record.event_type):
            if rule.applies(record.details, record.actor.role):
                rows += self._for_rule(rule, record, now, units, accepted)
        for hook in self.rules.webhooks_for(record.event_type, record.summary):
            payload = {
                "type": event.type,
                "timestamp": record.occurred_at.isoformat(),
                "data": {"id": event.id, "subject": event.subject, **event.data},
            }
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            rows.append(
                self._row(
                    record,
                    Channel.WEBHOOK,
                    f"webhook:{hook.name}",
                    None,
                    hook.name,
                    "en",
                    True,
                    False,
                    event.type,
                    body,
                    now,
                    now,
                )
            )
        return rows

    def _units(self, record: TransitionRecord) -> dict[str, str]:
        """The directory's names of the institutions ``record`` names (its holder, a
        co-handler, a supervised or rectifying unit), read once for all its messages."""
        named = [record.institution_id, *(record.details.get(key) for key in UNIT_DETAILS)]
        named.append(part_unit(str(record.details.get("clock") or "")))  # a late part's
        return institution_names(self.engine, sorted({u for u in named if isinstance(u, str)}))

    def _accepted_before(self, record: TransitionRecord) -> bool:
        """Whether a unit accepted (受理) the request before ``record``'s step: a refusal
        after that ends the handling (终止办理), before it declines the request (未予受理)."""
        with Session(self.engine) as session:
            found = session.exec(
                select(Transition.sequence).where(
                    Transition.request_id == record.request_id,
                    Transition.event_type == EventType.ACKNOWLEDGED,
                    Transition.sequence < record.sequence,
                )
            ).first()
        return found is not None

    def _for_rule(
        self,
        rule: Rule,
        record: TransitionRecord,
        now: datetime,
        units: Callable[[], dict[str, str]],
        accepted: Callable[[], bool] = lambda: False,
    ) -> list[dict[str, Any]]:
        link = f"{self.console_url}/requests/{record.request_id}"
        portal = portal_link(self.portal_url, record.request_id)
        rows = []
        for send in rule.send:
            for person in recipients(self.engine, send.audience, record, self.rules.default_locale):
                text = self.templates.render(
                    rule.template,
                    person.locale,
                    record,
                    link,
                    units,
                    portal=portal,
                    accepted_before=accepted,
                )
                for channel in send.channels:
                    if channel not in person.channels:
                        continue
                    if channel is Channel.SMS and self.rules.sms is None:
                        continue  # no gateway: the notifier said so at start
                    waits = not rule.urgent and waits_for_working_hours(channel, send.audience)
                    due = self.hours.deliver_at(now, urgent=not waits)
                    digest = person.digest and channel is Channel.EMAIL and not rule.urgent
                    rows.append(
                        self._row(
                            record,
                            channel,
                            person.key,
                            person.user_id,
                            rule.name,
                            person.locale,
                            rule.urgent,
                            digest,
                            text.sms if channel is Channel.SMS else text.subject,
                            text.body,
                            now,
                            due,
                        )
                    )
        return rows

    @staticmethod
    def _row(
        record: TransitionRecord, channel: Channel, recipient: str, user_id: str | None,
        rule: str, locale: str, urgent: bool, digest: bool, subject: str, body: str,
        now: datetime, due: datetime,
    ) -> dict[str, Any]:  # fmt: skip
        inbox = channel is Channel.INBOX
        return {
            "event_id": record.event_id,
            "channel": channel.value,
            "recipient": recipient,
            "user_id": user_id,
            "request_id": record.request_id,
            "event_type": record.event_type.value,
            "rule": rule,
            "locale": locale,
            "urgent": urgent,
            "digest": digest,
            "subject": subject[:300],
            "body": body,
            "status": (DeliveryStatus.SENT if inbox else DeliveryStatus.PENDING).value,
            "created_at": now,
            "not_before": due,
            "sent_at": now if inbox else None,
            "attempts": 0,
        }


def record_rows(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` in one transaction, skipping any already there; return how many were new."""
    if not rows:
        return 0
    stmt = (
        conflict_insert(_table, engine.dialect.name)
        .on_conflict_do_nothing(index_elements=["event_id", "channel", "recipient"])
        .returning(_table.c.id)
    )
    new = 0
    with begin_write(engine) as conn:
        for row in rows:
            new += conn.execute(stmt, row).scalar_one_or_none() is not None
    return new

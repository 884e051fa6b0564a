"""Notifications: what the notifier sent (or will send) to whom, and each user's preferences.

A notification row is the record that makes delivery exactly-once as people see it: its key
(event id, channel, recipient) is unique, so a redelivered lifecycle event plans nothing new.
Rows never hold an enterprise's contact details: the recipient of an enterprise message is
``enterprise:<request id>``, and the address is read from the request at send time.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tierflow.db.types import EnumText, UtcDateTime

LOCALES = ("zh-CN", "en")  # of messages and templates; zh-CN is the default


class Channel(StrEnum):
    """How a notification reaches its recipient."""

    INBOX = "inbox"  # the console's and the API's in-app inbox
    EMAIL = "email"
    SMS = "sms"  # through the configured HTTP gateway
    WEBHOOK = "webhook"  # to another system, signed by the Standard Webhooks scheme


class DeliveryStatus(StrEnum):
    """Where a notification stands; ``sent`` and ``dead`` are final."""

    PENDING = "pending"  # waiting for its time (business hours, backoff) or the dispatcher
    SENT = "sent"
    DEAD = "dead"  # the endpoint stayed down (or refused for good): the dead-letter record
    SKIPPED = "skipped"  # nothing to send to (no address on file, channel turned off later)


class NotificationBase(SQLModel):
    event_id: str = Field(sa_type=String(200))
    channel: Channel = Field(sa_type=EnumText(Channel))
    recipient: str = Field(sa_type=String(200))  # user:<id>, enterprise:<request>, webhook:<name>
    user_id: str | None = Field(default=None, sa_type=String(100))  # a person's inbox/mail
    request_id: str = Field(sa_type=String(64))
    event_type: str = Field(sa_type=String(64))
    rule: str = Field(sa_type=String(64))
    locale: str = Field(default="zh-CN", sa_type=String(16))
    urgent: bool = False
    digest: bool = False  # held for the user's digest mail
    subject: str = Field(sa_type=String(300))
    body: str = Field(sa_type=Text)
    status: DeliveryStatus = Field(sa_type=EnumText(DeliveryStatus))
    created_at: datetime = Field(sa_type=UtcDateTime)
    not_before: datetime = Field(sa_type=UtcDateTime)  # business hours / next retry
    sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # inbox only


class Notification(NotificationBase, table=True):
    """One message to one recipient on one channel, for one lifecycle event."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "recipient", name="uq_notification_delivery"),
        Index("ix_notification_due", "status", "not_before"),
        Index("ix_notification_inbox", "user_id", "channel", "read_at"),
        # the inbox, newest first (notification_store.inbox)
        Index("ix_notification_inbox_recent", "user_id", "channel", "created_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    attempts: int = 0
    first_attempt_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_error: str | None = Field(default=None, sa_type=String(500))  # never contact details
    claimed_until: datetime | None = Field(default=None, sa_type=UtcDateTime)  # a sender's lease


class NotificationPublic(NotificationBase):
    """An inbox entry as the API shows it."""

    id: int


class PreferenceBase(SQLModel):
    email: str | None = Field(default=None, sa_type=String(200))
    phone: str | None = Field(default=None, sa_type=String(40))
    locale: str = Field(default="zh-CN", sa_type=String(16))
    inbox: bool = True
    email_enabled: bool = True
    sms_enabled: bool = False
    digest: bool = False  # one mail per digest period instead of one per message


class NotificationPreference(PreferenceBase, table=True):
    """A user's channels and addresses; a user without a row gets the defaults (inbox only,
    as there is no address to mail to)."""

    __tablename__ = "notification_preference"
    user_id: str = Field(primary_key=True, sa_type=String(100))
    updated_at: datetime = Field(sa_type=UtcDateTime)


class PreferencePublic(PreferenceBase):
    user_id: str

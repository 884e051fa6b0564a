"""Fixtures of the notifier tests: the read model, the staff, an SMTP server, a rig of topics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.utils.notifier_helpers import add_people
from tests.utils.notifier_rig import SECRET_ENV, NotifierRig
from tests.utils.webhook_receiver import WebhookReceiver
from tierflow.webhook_signature import new_secret
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.smtp_sink import SmtpSink


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    """The read model the notifier writes to: a migrated SQLite file."""
    return sqlite_engine


@pytest.fixture
def people(engine: Engine) -> None:
    """The staff of PEOPLE in the read model, mail on, for tests whose rules tell staff."""
    add_people(engine)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (no auth, no TLS) that keeps every mail it accepts."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh signing secret, in $SECRET_ENV where the webhook rules read it."""
    value = new_secret()
    monkeypatch.setenv(SECRET_ENV, value)
    return value


@pytest.fixture
def receiver(webhook_secret: str, request: pytest.FixtureRequest) -> WebhookReceiver:
    """A webhook receiver checking signatures with that secret; the test starts it, if at all."""
    receiver = WebhookReceiver(webhook_secret)
    request.addfinalizer(receiver.stop)
    return receiver


@pytest.fixture
def make_rig(
    sqlite_url: str, kafka_broker: KafkaBroker, unique_topic: Callable[..., str], tmp_path: Path
) -> Callable[..., NotifierRig]:
    """Make the test's rig: its events topic has ``partitions`` partitions (1 by default)."""

    def make(partitions: int = 1) -> NotifierRig:
        events = unique_topic("events", partitions=partitions)
        return NotifierRig(
            sqlite_url, kafka_broker.bootstrap, tmp_path, events, unique_topic("dlq")
        )

    return make


@pytest.fixture
def rig(make_rig: Callable[..., NotifierRig]) -> NotifierRig:
    """The test's rig, its events topic of one partition."""
    return make_rig()

"""``kill -9`` mid-batch, restart: every person still hears once about each event.

``tierflow notifier`` runs as its own process on the real broker and a real SMTP server. It is
killed while the first batch of events is half recorded (so its offsets are not committed and
the whole batch comes again) and mails are going out, then started again. The restarted
process gets the partitions once the group has given up on the killed one: its session
timeout is the broker's least (6 s), not kafka-python's 45 s.
"""

from __future__ import annotations

import signal
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import all_sent, project, rows, warning_breach_escalation
from tests.utils.notifier_rig import (
    NotifierRig,
    duplicate_events,
    notifier_process,
    start_notifier_process,
)
from tierflow.db.notification_models import DeliveryStatus
from tierflow_dev.devstack.smtp_sink import SmtpSink
from workers.notifier.dispatcher import LEASE

REQUESTS = 12
ROWS_PER_REQUEST = 16  # tests/integration/notifier/test_delivery.py EXPECTED
MAILS_PER_REQUEST = 8  # MAILS there
SESSION_TIMEOUT_SECONDS = 6.0  # what the restart waits for the killed member to be dropped


def _locked_mid_batch(engine: Engine, expected_rows: int) -> sqlite3.Connection | None:
    """The read model's file with its write lock held, if the batch is half recorded."""
    database = engine.url.database
    assert database
    connection = sqlite3.connect(database, timeout=30, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    (count,) = connection.execute("SELECT count(*) FROM notification").fetchone()
    if 0 < count < expected_rows:
        return connection
    connection.rollback()
    connection.close()
    return None


async def test_killed_mid_batch_and_restarted_each_person_hears_once(
    engine: Engine,
    people: None,
    smtp: SmtpSink,
    make_rig: Callable[..., NotifierRig],
    tmp_path: Path,
) -> None:
    rig = make_rig(partitions=3)
    records = project(engine, [r for _ in range(REQUESTS) for r in warning_breach_escalation()])
    expected_rows = REQUESTS * ROWS_PER_REQUEST
    log = tmp_path / "notifier.log"
    settings = rig.settings(smtp, notifier_session_timeout_seconds=SESSION_TIMEOUT_SECONDS)
    rig.publish(records)
    first = start_notifier_process(settings, log)
    try:
        # the test holds the database's write lock while it looks and kills, so the process
        # cannot record the rest of the batch between the look and the kill
        held = await eventually(
            lambda: _locked_mid_batch(engine, expected_rows),
            timeout=90,
            what="the first batch half recorded",
            interval=0.01,
            max_interval=0.02,
            detail=lambda: (len(rows(engine)), log.read_text()[-2000:]),
        )
        try:
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=30) == -signal.SIGKILL
        finally:
            held.rollback()
            held.close()
    finally:
        if first.poll() is None:
            first.kill()
    cut = len(rows(engine))
    with notifier_process(settings, log):
        found = await eventually(
            lambda: all_sent(engine, expected_rows),
            # rows the killed sender had claimed wait out its lease (LEASE, 2 min) first
            timeout=LEASE.total_seconds() + 60,
            what="every notification recorded and sent after the restart",
            detail=lambda: (len(rows(engine)), log.read_text()[-2000:]),
        )
        redelivered = duplicate_events(settings)
    mails = smtp.snapshot()
    assert 0 < cut < expected_rows
    assert redelivered > 0  # the uncommitted batch came again and recorded nothing new
    assert {r.status for r in found} == {DeliveryStatus.SENT}
    # each mail is one message: a resend after a crash between the server's 250 and our
    # record of it would carry the same Message-ID, which mail clients show once
    ids_by_mail: dict[tuple[str, str], set[str]] = defaultdict(set)
    for mail in mails:
        ids_by_mail[(mail.rcpt_tos[0], mail.message["Subject"])].add(mail.message["Message-ID"])
    assert len(ids_by_mail) == REQUESTS * MAILS_PER_REQUEST
    assert all(len(ids) == 1 for ids in ids_by_mail.values())
    assert len({m.message["Message-ID"] for m in mails}) == REQUESTS * MAILS_PER_REQUEST

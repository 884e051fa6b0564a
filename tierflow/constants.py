"""Names shared by processes: task queues, Kafka topics, search attributes."""

from __future__ import annotations

TASK_QUEUE = "tierflow-requests"
WORKFLOW_ID_PREFIX = "request-"

# Kafka topics: name -> partitions.
COMMANDS_TOPIC = "tierflow.commands.v1"
EVENTS_TOPIC = "tierflow.events.v1"
DEAD_LETTER_TOPIC = "tierflow.commands.dlq.v1"
NOTIFIER_DEAD_LETTER_TOPIC = "tierflow.notifier.dlq.v1"  # events the notifier cannot read
TOPICS: dict[str, int] = {
    COMMANDS_TOPIC: 6,
    EVENTS_TOPIC: 6,
    DEAD_LETTER_TOPIC: 1,
    NOTIFIER_DEAD_LETTER_TOPIC: 1,
}
# Topic settings beyond partitions and replication. Commands carry the broker's clock: a
# producer's own timestamp (or its CloudEvent ``time``) is its claim, and the ingress latency
# measured from it would be whatever a producer's clock, or its author, says.
WEEK_MS = 7 * 24 * 3600 * 1000
# Commands (a submission carries the enterprise's contact) are kept a week whatever the
# broker's default, their dead letters two (time for an operator to look); the broker's clock
# stamps commands (the ingress measures their wait by it).
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    COMMANDS_TOPIC: {"message.timestamp.type": "LogAppendTime", "retention.ms": str(WEEK_MS)},
    DEAD_LETTER_TOPIC: {"retention.ms": str(2 * WEEK_MS)},
}
INGRESS_GROUP = "tierflow-ingress"
NOTIFIER_GROUP = "tierflow-notifier"
# Ingress defaults (settings and the Ingress class share them): commands fetched per poll,
# Temporal calls at once, and commands fetched but unfinished before polling pauses.
# The ingress bench chose them (docs/benchmarks).
INGRESS_MAX_POLL_RECORDS = 500
INGRESS_MAX_IN_FLIGHT = 512  # a start can take seconds to be answered on a busy server
INGRESS_MAX_PENDING = 1000
# The ingress commits finished offsets at most this often: a commit is a round trip on the
# thread that polls, so committing after every poll delayed the next poll (p99 85 ms at
# 50 commands/s). A crash redelivers at most this long's commands, answered as duplicates.
INGRESS_COMMIT_INTERVAL_SECONDS = 0.5
INGRESS_STALL_SECONDS = 300.0  # records waiting this long behind a still commit: degraded
# A group consumer (ingress, notifier) is replaced when a partition has not been fetched this
# long while records wait on it, or when a group join has not finished this long
# (tierflow/kafka_fixes.py, items 3 and 4).
FETCH_STALL_SECONDS = 60.0
REJOIN_SECONDS = 30.0
# How long the group waits for a silent ingress before its partitions go to another: the stall
# a killed ingress leaves (kafka-python's default is 45 s). Heartbeats run on the client's own
# thread, five per session, so a busy ingress is not taken for a dead one.
INGRESS_SESSION_TIMEOUT_SECONDS = 15.0
# Notifier defaults: events waiting behind a still commit, and messages due but not tried
# this long, make its /healthz degraded.
NOTIFIER_STALL_SECONDS = 300.0
NOTIFIER_SEND_STALL_SECONDS = 300.0

# Temporal custom search attributes (no PII): name -> type as the CLI names it.
SA_STATE = "TierflowState"
SA_TIER = "TierflowTier"
SA_INSTITUTION = "TierflowInstitution"
SA_CATEGORY = "TierflowCategory"
SA_NEXT_DEADLINE = "TierflowNextDeadline"
SEARCH_ATTRIBUTES: dict[str, str] = {
    SA_STATE: "Keyword",
    SA_TIER: "Keyword",
    SA_INSTITUTION: "Keyword",
    SA_CATEGORY: "Keyword",
    SA_NEXT_DEADLINE: "Datetime",
}


SUBMISSION_MEMO = "submission_sha256"  # memo key: digest of what was submitted


def workflow_id(request_id: str) -> str:
    """Return the Temporal workflow id of a request (ids carry no PII)."""
    return f"{WORKFLOW_ID_PREFIX}{request_id}"

"""The dead-letter topic's contract: why a command was parked, and the headers that say so.

One home for the reason codes: the ingress sets them, the contracts (AsyncAPI) list them,
operators and tests read them.
"""

from __future__ import annotations

import enum


class DeadLetterReason(enum.StrEnum):
    """Why a record on the commands topic (or an event, by the notifier) was parked instead
    of applied."""

    # the record itself can never be a command
    NOT_JSON = "not_json"
    NOT_CLOUDEVENT = "not_cloudevent"
    UNKNOWN_TYPE = "unknown_type"
    SCHEMA_INVALID = "schema_invalid"
    INVALID_USCC = "invalid_uscc"
    OVERSIZE = "oversize"
    # who sent it may not do this
    FORBIDDEN = "forbidden"  # no such system client, no grant, a person it may not act for
    # only Temporal can tell
    REJECTED = "rejected"  # the workflow's update validator refused the action
    UNKNOWN_REQUEST = "unknown_request"  # no workflow for the request id within the wait budget
    WORKFLOW_CLOSED = "workflow_closed"  # an action on a request whose workflow has completed
    CONFLICT = "conflict"  # a request id or a command id reused with different content
    # the request waits for an operator (a step failed for good): republish once released
    NEEDS_OPERATOR = "needs_operator"
    # the notifier's own (events topic): a lifecycle event whose notifications fail to plan
    UNPLANNABLE = "unplannable"


DECODE_REASONS: tuple[DeadLetterReason, ...] = (
    DeadLetterReason.NOT_JSON,
    DeadLetterReason.NOT_CLOUDEVENT,
    DeadLetterReason.UNKNOWN_TYPE,
    DeadLetterReason.SCHEMA_INVALID,
    DeadLetterReason.INVALID_USCC,
    DeadLetterReason.OVERSIZE,
)
DLQ_REASONS: tuple[str, ...] = tuple(reason.value for reason in DeadLetterReason)

# Headers the ingress adds to the copy it parks (the original record's headers come first).
HEADER_PREFIX = "tierflow_dlq_"
DLQ_REASON = "tierflow_dlq_reason"
DLQ_MESSAGE = "tierflow_dlq_message"
DLQ_TOPIC = "tierflow_dlq_original_topic"
DLQ_PARTITION = "tierflow_dlq_original_partition"
DLQ_OFFSET = "tierflow_dlq_original_offset"
DLQ_ATTEMPTS = "tierflow_dlq_attempts"
# The message as a catalog entry (JSON: message and values, as the API's ``reason``), when it
# is one: `tierflow events tail` reads it in the reader's language.
DLQ_WORDING = "tierflow_dlq_wording"
# The command as it was read, when it was (not for bytes no command could be read from): its
# CloudEvent id and source, and the system client it was taken for, so its sender finds it.
DLQ_COMMAND_ID = "tierflow_dlq_command_id"
DLQ_SOURCE = "tierflow_dlq_source"
DLQ_CLIENT = "tierflow_dlq_client"
# Present only when the copy could not carry the original as it was:
DLQ_VALUE_NULL = "tierflow_dlq_value_null"  # "1": the original had no value (tombstone)
DLQ_VALUE_SIZE = "tierflow_dlq_original_value_size"  # bytes of a value left out (too large)
DLQ_VALUE_SHA256 = "tierflow_dlq_original_value_sha256"  # its digest, hex
DLQ_HEADERS_DROPPED = "tierflow_dlq_original_headers_dropped"  # count of headers left out
DLQ_NULL_HEADERS = "tierflow_dlq_null_headers"  # comma list of headers that had no value

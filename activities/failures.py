"""Permanent versus transient activity failures.

A transient failure (database locked or gone, Kafka unreachable) is raised as it is: Temporal
retries the activity until it passes. A permanent one (a policy that fails validation, a
division the directory cannot route, a record the database or Kafka will never accept) is
raised as a non-retryable ``ApplicationError``: retrying it forever would wedge the request,
so the workflow records it and waits for an operator instead.
"""

from __future__ import annotations

from kafka.errors import KafkaError, MessageSizeTooLargeError
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from temporalio.exceptions import ApplicationError

from tierflow.db.errors import describe_db_error

# Errors of the data itself: the same input fails the same way on every try.
PERMANENT = (
    ValidationError,
    ValueError,
    KeyError,
    LookupError,
    TypeError,
    IntegrityError,
    DataError,
    ArithmeticError,  # a figure no deadline can be computed from (an overflow)
)  # not ProgrammingError: a table or column missing until migrations run is worth retrying
MAX_MESSAGE = 500  # characters of the error kept in the failure and the audit trail


def is_permanent(exc: BaseException) -> bool:
    """Return True if retrying cannot help: a data or validation error, or a fatal Kafka one."""
    if isinstance(exc, KafkaError):
        return isinstance(exc, MessageSizeTooLargeError)  # the others pass once Kafka is back
    if isinstance(exc, StatementError) and not isinstance(exc, PERMANENT):
        return False  # OperationalError, ProgrammingError, ...: locks, disconnects, migrations
    return isinstance(exc, PERMANENT)


def describe(exc: BaseException) -> str:
    """Return ``Type: text`` of the error, quoting no value of a database statement.

    A database error is reduced to its types, SQLSTATE and the schema names its driver gives
    (:func:`tierflow.db.errors.describe_db_error`): its message can quote the value it refused
    (a comment's text, a contact detail). Other errors keep their first line.
    """
    if isinstance(exc, StatementError):
        text = describe_db_error(exc)
    else:
        first = str(exc).splitlines()[0] if str(exc) else ""
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text[:MAX_MESSAGE]


def permanent_failure(step: str, exc: BaseException, *details: object) -> ApplicationError:
    """Return the non-retryable failure of ``step`` the workflow turns into an operator hold.

    Raise it ``from None``: a chained cause would travel into the workflow's history with its
    full text (a database error's message may quote the value it refused).
    """
    return ApplicationError(
        f"{step}: {describe(exc)}",
        *details,
        type=f"Permanent.{type(exc).__name__}",
        non_retryable=True,
    )

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

# Errors of the data itself: the same input fails the same way on every try.
PERMANENT = (
    ValidationError,
    ValueError,
    KeyError,
    LookupError,
    TypeError,
    IntegrityError,
    DataError,
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
    """Return the error without statement parameters (they may hold contact details)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        text = str(exc.orig).splitlines()[0] if str(exc.orig) else type(exc.orig).__name__
    else:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:MAX_MESSAGE]


def permanent_failure(step: str, exc: BaseException, *details: object) -> ApplicationError:
    """Return the non-retryable failure of ``step`` the workflow turns into an operator hold.

    Raise it ``from None``: a chained cause would travel into the workflow's history with its
    full text (a database error's statement parameters may hold contact details).
    """
    return ApplicationError(
        f"{step}: {type(exc).__name__}: {describe(exc)}",
        *details,
        type=f"Permanent.{type(exc).__name__}",
        non_retryable=True,
    )

"""Database errors as text that quotes no value: types, SQLSTATE and the names the driver gives.

A database error's text quotes values in two ways. SQLAlchemy adds the statement's parameters
(every engine hides them: ``hide_parameters=True`` in ``make_engine``), and the driver's own
message can quote one: PostgreSQL's ``invalid input syntax for type integer: "<value>"`` on
its first line, ``Key (col)=(<value>) already exists`` or ``Failing row contains (...)`` on
its DETAIL line. :func:`describe_db_error` keeps neither the message nor the statement: the
error's SQLAlchemy and driver types, PostgreSQL's SQLSTATE or SQLite's error name, and the
table, column, constraint and data type PostgreSQL reports as separate fields (names from the
schema, never a value). Use it wherever a database error becomes text that leaves the process:
a failure recorded in Temporal, a log line, an answer.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError, StatementError

# psycopg's Diagnostic attributes that name schema objects, never values
NAMED_FIELDS = (
    ("table", "table_name"),
    ("column", "column_name"),
    ("constraint", "constraint_name"),
    ("datatype", "datatype_name"),
)


def describe_db_error(exc: SQLAlchemyError) -> str:
    """Return ``Type: DriverType (SQLSTATE code, table t, ...)`` without the driver's message.

    For example ``DataError: InvalidTextRepresentation (SQLSTATE 22P02)``, ``IntegrityError:
    UniqueViolation (SQLSTATE 23505, table comment, constraint comment_event_id_key)`` or, on
    SQLite, ``IntegrityError (SQLITE_CONSTRAINT_UNIQUE)``.
    """
    kind = type(exc).__name__
    orig = exc.orig if isinstance(exc, StatementError) else None
    if orig is None:  # no driver error (e.g. a statement SQLAlchemy could not build): the type
        return kind
    driver = type(orig).__name__
    facts: list[str] = []
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str) and sqlstate:
        facts.append(f"SQLSTATE {sqlstate}")
    errorname = getattr(orig, "sqlite_errorname", None)  # sqlite3
    if isinstance(errorname, str) and errorname:
        facts.append(errorname)
    diag = getattr(orig, "diag", None)
    for label, attribute in NAMED_FIELDS:
        name = getattr(diag, attribute, None) if diag is not None else None
        if isinstance(name, str) and name:
            facts.append(f"{label} {name}")
    text = kind if driver == kind else f"{kind}: {driver}"
    return f"{text} ({', '.join(facts)})" if facts else text

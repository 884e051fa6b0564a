"""`tierflow grades`: the enterprise grade registry (operators; talks to the database).

Import the published lists of 创新型中小企业, 专精特新中小企业 and 专精特新“小巨人”企业, record
withdrawals (撤销), export the registry and show one enterprise. Only a recognition the
registry holds on the submission day shortens a request's SLA targets.

What they print for people is in the operator's language (``tierflow.cli.texts``); the export
is the registry's CSV, and ``show`` lists the grade and level codes the options take. A grade
list's line-by-line problems and a USCC's check are the shared checks' messages, read in the
operator's language here (English in the API's answers).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer

from schemas.domain import Grade, Tier
from tierflow.cli.database import open_engine, operator
from tierflow.cli.texts import _, checked_uscc, explain, fail, ngettext, say, term

app = typer.Typer(
    help="Enterprise grade registry (operators; talks to the database).",
    no_args_is_help=True,
)


def _day(on: str | None) -> date:
    """The day ``--on`` names, or today in Shanghai."""
    from tierflow import grades

    try:
        return date.fromisoformat(on) if on else grades.local_day(datetime.now(grades.SHANGHAI))
    except ValueError:
        fail(_("--on: %(day)r is not a date (YYYY-MM-DD)") % {"day": on}, 2)


@app.command("import")
def import_list(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV list (UTF-8 or GBK)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file, write nothing"),
) -> None:
    """Import a published grade list; every bad line is named, and nothing is written then."""
    from sqlmodel import Session

    from tierflow import grades, grades_csv
    from tierflow.csv_text import decode

    try:
        rows = grades_csv.parse(decode(file.read_bytes()))
    except grades_csv.GradeListError as exc:
        count = len(exc.problems)
        refused = ngettext(
            "%(file)s: not imported, %(num)d problem:",
            "%(file)s: not imported, %(num)d problems:",
            count,
        )
        lines = "\n".join(say(problem) for problem in exc.problems)
        fail(f"{refused % {'file': file, 'num': count}}\n{lines}")
    except UnicodeDecodeError:
        fail(_("%(file)s: not imported: neither UTF-8 nor GB18030 text") % {"file": file})
    if dry_run:
        checked = ngettext(
            "%(file)s: %(num)d recognition, all valid (dry run: nothing written)",
            "%(file)s: %(num)d recognitions, all valid (dry run: nothing written)",
            len(rows),
        )
        typer.echo(checked % {"file": file, "num": len(rows)})
        return
    by = operator()
    with Session(open_engine()) as session:
        added, updated = grades.upsert(session, rows, source=file.name, by=by)
        session.commit()
    done = _("%(file)s: %(added)d added, %(updated)d updated")
    typer.echo(done % {"file": file, "added": added, "updated": updated})


@app.command("withdraw")
def withdraw(
    uscc: str = typer.Argument(..., help="The enterprise's USCC"),
    reason: str = typer.Option(..., "--reason", help="Why (e.g. 复核不合格, the notice's number)"),
    on: str | None = typer.Option(None, "--on", help="Day it stops holding [today, Shanghai]"),
    grade: str | None = typer.Option(None, help="Only this grade [every grade held that day]"),
) -> None:
    """Record a withdrawal (撤销): the recognitions valid that day stop holding from it."""
    from sqlmodel import Session

    from tierflow import grades

    code = checked_uscc(uscc)
    day = _day(on)
    try:
        only = Grade(grade) if grade else None
    except ValueError:
        known = ", ".join(g.value for g in Grade if g is not Grade.NONE)
        fail(
            _("--grade: unknown grade %(grade)r (%(known)s)") % {"grade": grade, "known": known},
            2,
        )
    by = operator()
    with Session(open_engine()) as session:
        try:
            rows = grades.withdraw(session, code, reason, day, only, by=by)
        except grades.GradeError as exc:
            fail(explain(exc))
        session.commit()
        for row in rows:
            done = _("%(uscc)s: %(grade)s (%(code)s, %(level)s) withdrawn from %(day)s")
            said = {"uscc": code, "day": day, "code": row.grade.value}
            typer.echo(done % (said | {"grade": term(row.grade), "level": _level(row.level)}))


@app.command("export")
def export(
    out: Path | None = typer.Option(None, "--out", help="Write here [standard output]"),
) -> None:
    """Export the whole registry as CSV (UTF-8 with BOM: Excel opens it correctly)."""
    from sqlmodel import Session, col, select

    from tierflow import grades_csv
    from tierflow.db.grade_models import EnterpriseGrade

    with Session(open_engine()) as session:
        order = (col(EnterpriseGrade.uscc), col(EnterpriseGrade.granted_on))
        text = grades_csv.export(session.exec(select(EnterpriseGrade).order_by(*order)).all())
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, "utf-8")
        typer.echo(_("wrote %(file)s") % {"file": out}, err=True)


@app.command("show")
def show(
    uscc: str = typer.Argument(..., help="The enterprise's USCC"),
    on: str | None = typer.Option(None, "--on", help="Which grade holds on this day [today]"),
) -> None:
    """Show an enterprise's recognitions and the grade its requests get on a day."""
    from sqlmodel import Session

    from tierflow import grades

    code = checked_uscc(uscc)
    day = _day(on)
    with Session(open_engine()) as session:
        rows = grades.recognitions(session, code)
        held = grades.highest(grades.recognitions(session, code, day))
    for r in rows:
        end = (
            _("withdrawn %(day)s (%(reason)s; recorded by %(who)s)")
            % {
                "day": r.withdrawn_on,
                "reason": r.withdrawal_reason,
                "who": r.withdrawn_by or _("unknown"),
            }
            if r.withdrawn_on
            else (
                _("valid until %(day)s") % {"day": r.valid_until}
                if r.valid_until
                else _("no end date")
            )
        )
        granted = _("%(by)s: %(day)s, %(end)s") % {
            "by": r.recognised_by,
            "day": r.granted_on,
            "end": end,
        }
        typer.echo(f"{r.grade.value:16} {r.level.value:10} {granted}")
    applied = _("grade applied on %(day)s: %(grade)s (%(code)s)")
    typer.echo(applied % {"day": day, "grade": term(held), "code": held.value})


def _level(level: Any) -> str:
    """What the reader calls who recognised a grade: 省级 or 国家级 (the tiers' words)."""
    return term(Tier(level.value))

"""Caseworker commands that talk to the HTTP API: login, queue, show, act, submit.

What they print for people is in the caseworker's language (``TIERFLOW_LANG``, else the
POSIX locale variables, else zh-CN; see ``tierflow.cli.texts``); ``--json`` prints the API's
answer unchanged.
"""

from __future__ import annotations

import ipaddress
import json
import os
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import httpx
import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schemas.domain import Category, Priority, SlaStatus, State, Tier
from schemas.edge import INSTITUTION_IDS_AT_ONCE, full_match
from schemas.enterprise import registering_division
from schemas.lifecycle import (
    ActionFields,
    ActionKind,
    Awaiting,
    EventType,
    SlaClock,
    clocks_in_order,
)
from schemas.request import REQUEST_ID_PATTERN
from tierflow.cli.texts import _
from tierflow.cli.texts import catalog as _t
from tierflow.directory import division_place
from tierflow.i18n import formats
from tierflow.i18n.engine_reasons import engine_reason
from tierflow.i18n.facts import fact_texts
from tierflow.i18n.formats import aside, labelled, listed, semicolon, when
from tierflow.i18n.labels import channel_words, code_words, label, step_label
from tierflow.i18n.refusals import answer_text, item_text

API = "/api/v1"
WIDE_QUEUE = 100  # columns: the queue's table shows every column from this width
# a table needs this many columns beside the id (the deadline, four folded columns of at least
# FOLDED_MIN and borders): a narrower terminal lists each request as a block instead
BLOCK_BELOW = 50
FOLDED_MIN = 4
SLA_STYLE = {"breached": "bold red", "warning": "yellow", "paused": "cyan", "on_track": "green"}
CODES: dict[str, type] = {
    "state": State,
    "tier": Tier,
    "category": Category,
    "priority": Priority,
    "sla": SlaStatus,
    "action": ActionKind,
    "event": EventType,
    "awaiting": Awaiting,
}


def _print_rich(*shown: Any) -> None:
    """Print to stdout through a console made for this call: it takes the width (``COLUMNS``)
    the command runs under, where a console made at import keeps the width of that moment."""
    Console().print(*shown)


def state_words(summary: dict[str, Any]) -> str:
    """A request's state; a dispatched one also says whether its unit signed for it (签收),
    as the console does."""
    said = words("state", summary.get("state"))
    if summary.get("state") == "assigned":
        if summary.get("signed_for_at"):
            said += _(", signed for")
        else:  # its deadline missed too: it still waits for the unit to sign for it
            said += _(", awaiting sign-for")
    waiting = listed([words("awaiting", code) for code in summary.get("awaiting") or []], _t())
    if waiting:  # a desk's or a supervisor's turn: 待回访, 退单待决定 ...
        said = _("%(state)s; %(waiting)s") % {"state": said, "waiting": waiting}
    return said


def words(kind: str, code: str | None) -> str:
    """What a reader calls an API code (a state, tier, ...); unknown codes stay as they are."""
    return code_words(CODES[kind], code, _t()) if code else "-"


# --------------------------------------------------------------------------- credentials
def credentials_path() -> Path:
    """Return $TIERFLOW_HOME/credentials.json, else ~/.config/tierflow/credentials.json."""
    home = os.environ.get("TIERFLOW_HOME")
    base = Path(home) if home else Path.home() / ".config" / "tierflow"
    return base / "credentials.json"


def load_credentials() -> tuple[str, str]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text("utf-8"))
        return str(data["url"]), str(data["token"])
    except (OSError, ValueError, KeyError):
        _fail(
            _(
                "not logged in (%(path)s missing): run `tierflow login --url URL` (it asks "
                "for the token)"
            )
            % {"path": path}
        )


def _client() -> httpx.Client:
    url, token = load_credentials()
    return httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _call(method: str, path: str, **kwargs: Any) -> Any:
    """Send one API request; print the server's reason and exit 1 on an error status."""
    with _client() as client:
        try:
            response = client.request(method, API + path, **kwargs)
        except httpx.HTTPError as exc:
            _fail(_("cannot reach the API: %(error)s") % {"error": exc})
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
        # a refusal worded for translation: its one reason in the reader's language
        reason = body.get("reason") if isinstance(body, dict) else None
        if isinstance(detail, list):
            t = _t()
            pairs = ((str(d.get("field", "?")), item_text(d, t)) for d in detail)
            detail = formats.semicolon(t).join(formats.labelled(f, m, t) for f, m in pairs)
        elif reason is not None:
            detail = answer_text(str(detail), reason, _t())
        _fail(f"HTTP {response.status_code}: {str(detail)[:ERROR_CHARS]}")
    return _json_of(response)


ERROR_CHARS = 500  # of a server's error text shown (an HTML error page is kilobytes)


def _json_of(response: httpx.Response) -> Any:
    """The answer's JSON; exit 1 saying so when it is none (a proxy's page, a wrong URL)."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "?").split(";")[0]
        _fail(
            _(
                "the API answered HTTP %(status)d with %(kind)s, not JSON: is the URL of "
                "`tierflow login` tierflow's API?"
            )
            % {"status": response.status_code, "kind": kind}
        )


def _request_path(request_id: str) -> str:
    """``/requests/{id}`` for an id of the API's form (else a usage error: an id with a
    slash or a query would call another address)."""
    if not full_match(REQUEST_ID_PATTERN, request_id):
        raise typer.BadParameter(
            _("%(id)r is not a request id (letters, digits and _.:-, at most 64)")
            % {"id": request_id[:80]},
            param_hint="REQUEST_ID",
        )
    return f"/requests/{request_id}"


def _unit_names(units: Iterable[str | None]) -> dict[str, str]:
    """The directory's names of ``units``, read in one API call; none when the API cannot
    say (an older server, a unit the directory lacks): those units show their ids."""
    wanted = sorted({unit for unit in units if unit})[:INSTITUTION_IDS_AT_ONCE]
    if not wanted:
        return {}
    with _client() as client:
        try:
            params: dict[str, str | list[str]] = {
                "id": wanted,
                "limit": str(INSTITUTION_IDS_AT_ONCE),
            }
            response = client.get(API + "/institutions", params=params)
        except httpx.HTTPError:
            return {}
    if response.status_code != 200:
        return {}
    return {item["id"]: item["name"] for item in response.json().get("items", [])}


def _unit_name(unit: str | None, names: dict[str, str] | None = None) -> str:
    """A unit as the CLI shows it: its directory name (from ``names``, else asked for), else
    its id; '-' for none."""
    if not unit:
        return "-"
    known = names if names is not None else _unit_names([unit])
    return known.get(unit) or unit


def _fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code`` (2: the command line was wrong)."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


# --------------------------------------------------------------------------- caseworker commands
def login(
    url: str = typer.Option(..., help="API base URL, e.g. https://tierflow.example.gov.cn"),
    token: str | None = typer.Option(
        None, help="Token from `tierflow tokens issue` (asked for when not given)"
    ),
    allow_http: bool = typer.Option(
        False, "--allow-http", help="Send the token over plain HTTP to another host"
    ),
) -> None:
    """Check the token against the API and store it for later commands."""
    if _in_clear(url) and not allow_http:
        _fail(
            _(
                "%(url)s is plain HTTP to another host: the token would cross the network "
                "readable on the way. Use https://, or --allow-http on a network you trust"
            )
            % {"url": url}
        )
    if token is None:  # asked here, not by Typer: its prompt would say "Token" in English
        token = str(typer.prompt(_("Token"), hide_input=True))
    token = token.strip()  # pasted with a line break
    if not token.isascii() or not token.isprintable() or " " in token:
        _fail(_("the token has characters no token has: paste it again"))
    try:
        response = httpx.get(
            url.rstrip("/") + API + "/requests",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        _fail(_("cannot reach %(url)s: %(error)s") % {"url": url, "error": exc})
    if response.status_code in (401, 429):
        try:
            answer = response.json()
        except ValueError:
            answer = None
        why = str(answer.get("detail") or "") if isinstance(answer, dict) else ""
        if why and isinstance(answer, dict) and answer.get("reason") is not None:
            why = answer_text(why, answer["reason"], _t())  # in the reader's language
        why = why or _("unknown, revoked or expired")
        _fail(_("the API refused the token: %(why)s") % {"why": why[:ERROR_CHARS]})
    # 200, or 403 for a caller that may not read requests: the token is good either way
    if response.status_code not in (200, 403) or not isinstance(_json_of(response), dict):
        _fail(
            _("%(url)s answered HTTP %(status)d: is it tierflow's API? Nothing was saved")
            % {"url": url, "status": response.status_code}
        )
    path = credentials_path()
    _write_private(path, json.dumps({"url": url, "token": token}))
    typer.echo(_("logged in to %(url)s; credentials in %(path)s") % {"url": url, "path": path})


def _in_clear(url: str) -> bool:
    """Whether ``url`` is plain HTTP to a host other than this machine's loopback."""
    parsed = urlsplit(url.strip())
    if parsed.scheme.lower() != "http":
        return False
    host = (parsed.hostname or "").lower()
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it resolves elsewhere
        return True


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner alone from the first byte (a new file, then
    renamed over the old: never a moment the token lies open to others)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(fresh, path)


def _save_csv(params: dict[str, Any], out: Path) -> None:
    """Download GET /requests.csv with ``params`` into ``out``."""
    with _client() as client:
        try:
            response = client.get(API + "/requests.csv", params=params)
        except httpx.HTTPError as exc:
            _fail(_("cannot reach the API: %(error)s") % {"error": exc})
    kind = response.headers.get("content-type", "")
    if response.status_code != 200 or not kind.startswith("text/csv"):
        _fail(f"HTTP {response.status_code} ({kind or '?'}): {response.text[:ERROR_CHARS]}")
    out.write_bytes(response.content)
    total = response.headers.get("X-Total-Count", "?")
    saved = _("saved %(file)s (%(total)s matching requests)") % {"file": out, "total": total}
    _print_rich(escape(saved))


# The choices of --category and --priority (translated in help like every help text).
CATEGORY_HELP = (
    "financing, digital_transformation, technology_transfer, talent, overseas_expansion, "
    "certification, policy_consultation or other"
)
PRIORITY_HELP = "low, normal, high or urgent"
AWAITING_HELP = (
    "Only a worklist: follow_up (待回访), return_decision (退单待决定), extension_decision, "
    "suspension_decision, appeal_decision, supervision_reply or rectification_reply; repeat "
    "it for several (the dispatch desk's: --awaiting return_decision --awaiting "
    "extension_decision)"
)
CHANNEL_HELP = (
    "How it came in: `walk-in` (at the service window; the default), `hotline` (a call), "
    "`portal` (the enterprise's online portal) or a system's own name"
)


def queue(
    institution: str | None = typer.Option(None, help="Only this institution"),
    tier: str | None = typer.Option(None, help="county, municipal, provincial or national"),
    state: str | None = typer.Option(None, help="Only this state"),
    category: str | None = typer.Option(None, help=CATEGORY_HELP),
    priority: str | None = typer.Option(None, help=PRIORITY_HELP),
    sla_status: str | None = typer.Option(None, help="on_track, warning, breached, paused"),
    search: str | None = typer.Option(
        None,
        "--search",
        "-s",
        help="Search: enterprise name or subject containing it, or a USCC or id prefix",
    ),
    sort: str | None = typer.Option(None, help="risk (default), newest, oldest or updated"),
    include_closed: bool = typer.Option(False, "--all", help="Closed requests too"),
    mine: bool = typer.Option(False, "--mine", help="Only those you handle (承办)"),
    unsigned: bool = typer.Option(
        False, "--unsigned", help="Only those awaiting sign-for (待签收)"
    ),
    awaiting: list[str] | None = typer.Option(None, help=AWAITING_HELP),
    escalated: bool = typer.Option(
        False, "--escalated", help="Only those escalated at least once (上报转入)"
    ),
    operator: bool = typer.Option(
        False, "--operator", help="Only those held for an operator (a step failed for good)"
    ),
    limit: int = typer.Option(50, min=1, max=500),
    offset: int = typer.Option(0, min=0),
    as_json: bool = typer.Option(False, "--json", help="Print the API answer as JSON"),
    csv_out: Path | None = typer.Option(
        None, "--csv", help="Save the result as CSV for Excel (up to 10,000 rows, no contacts)"
    ),
) -> None:
    """Show your queue, most at-risk first, with SLA countdowns; search it, or export it."""
    params = {
        k: v
        for k, v in {
            "institution": institution,
            "tier": tier,
            "state": state,
            "category": category,
            "priority": priority,
            "sla_status": sla_status,
            "search": search,
            "sort": sort,
            "include_closed": include_closed or None,
            "mine": mine or None,
            "signed_for": False if unsigned else None,
            "awaiting": awaiting or None,
            "escalated": escalated or None,
            "needs_operator": operator or None,
            "limit": limit,
            "offset": offset,
        }.items()
        if v is not None
    }
    if csv_out is not None:
        _save_csv(params | {"limit": 10_000}, csv_out)
        return
    page = _call("GET", "/requests", params=params)
    if as_json:
        _print_json(page)
        return
    title = _("Queue: %(shown)d of %(total)d") % {
        "shown": len(page["items"]),
        "total": page["total"],
    }
    if not page.get("total_exact", True):
        title = _("Queue: %(shown)d of more than %(total)d") % {
            "shown": len(page["items"]),
            "total": page["total"],
        }
    names = _unit_names(item["institution_id"] for item in page["items"])
    # a terminal narrower than this leaves out the tier and the category (the unit's name
    # says where it is; `show` has both): with them, each column got a character or two
    narrow = Console().width < WIDE_QUEUE
    left_out = _("tier and category left out: the terminal is narrow") if narrow else None
    table = Table(title=title, caption=left_out)
    # the id is what `show` and `act` take: whole, on one line; the deadline whole too (a date
    # folded mid-way reads wrong); the other columns fold their words onto more lines
    widest = max((len(item["request_id"]) for item in page["items"]), default=0)
    table.add_column(_("Request"), no_wrap=True, min_width=widest)
    columns: list[tuple[str, str, Callable[[dict[str, Any]], str]]] = [
        ("state", _("State"), state_words),
        ("tier", _("Tier"), lambda item: words("tier", item["tier"])),
        ("unit", _("Institution"), lambda item: escape(_holder(item, names))),
        ("category", _("Category"), lambda item: words("category", item["category"])),
        ("priority", _("Priority"), lambda item: words("priority", item["priority"])),
        ("sla", _("SLA"), _sla_cell),
    ]
    if narrow:
        columns = [c for c in columns if c[0] not in ("tier", "category")]
    if Console().width < widest + BLOCK_BELOW:  # no room for columns: a block per request
        _queue_blocks(title, page["items"], columns)
        return
    for _key, name, _cell in columns:
        table.add_column(name, overflow="fold", min_width=FOLDED_MIN)
    table.add_column(_("Deadline"), no_wrap=True)
    for item in page["items"]:
        cells = [cell(item) for _key, _name, cell in columns]
        table.add_row(escape(item["request_id"]), *cells, table_deadline(item))
    _print_rich(table)


def _queue_blocks(
    title: str,
    items: list[dict[str, Any]],
    columns: list[tuple[str, str, Callable[[dict[str, Any]], str]]],
) -> None:
    """The queue on a terminal too narrow for its table: each request's id on a line of its
    own, then each column's name and value (a table squeezed its columns to nothing)."""
    lines = [f"[b]{escape(title)}[/b]"]
    for item in items:
        lines.append(f"[b]{escape(item['request_id'])}[/b]")
        for _key, name, cell in columns:
            lines.append("  " + formats.labelled(escape(name), cell(item), _t()))
        lines.append("  " + formats.labelled(escape(_("Deadline")), table_deadline(item), _t()))
    _print_rich("\n".join(lines))


def _sla_cell(item: dict[str, Any]) -> str:
    sla = item["sla_status"]
    shown = escape(words("sla", sla))
    return f"[{SLA_STYLE[sla]}]{shown}[/]" if sla in SLA_STYLE else shown


def _holder(item: dict[str, Any], names: dict[str, str]) -> str:
    """The unit holding a queued request; marked 协办 when it is in the queue because the
    caller's unit has a part of it."""
    unit = _unit_name(item["institution_id"], names)
    return unit + aside(_("co-handling"), _t()) if item.get("co_handled") else unit


def show(
    request_id: str = typer.Argument(..., help="Request id"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show one request: state, clocks and timeline."""
    detail = _call("GET", _request_path(request_id))
    if as_json:
        _print_json(detail)
        return
    view, row = detail.get("view"), detail.get("request")
    summary = (view or {}).get("summary") or row or {}
    head = _("%(request)s: %(state)s at %(tier)s (%(unit)s) - %(subject)s") % {
        "request": request_id,
        "state": state_words(summary),
        "tier": words("tier", summary.get("tier")),
        "unit": _unit_name(summary.get("institution_id")),
        "subject": summary.get("subject", ""),
    }
    _print_rich(escape(head))
    for line in _particulars(row, summary, detail.get("timeline") or []):
        _print_rich(escape(line))
    if detail.get("view_missing"):
        _print_rich(escape(_no_view(detail)))
    clocks = [SlaClock.model_validate(c) for c in (view or {}).get("clocks", [])]
    for clock in clocks_in_order(clocks):
        if clock.running_since and clock.deadline:
            due = countdown(clock.deadline.isoformat())
        else:  # paused, stopped or breached: which, and since when it stopped
            due = label(clock.status, _t())
            if clock.stopped_at:
                due += aside(when(clock.stopped_at, _t()), _t())
        line = _("  %(clock)s clock at %(tier)s: %(due)s") % {
            "clock": label(clock.kind, _t()),
            "tier": label(clock.tier, _t()),
            "due": due,
        }
        _print_rich(escape(line))
    if follow_up := (view or {}).get("follow_up_due_at"):
        _print_rich(escape(_("  follow-up: %(due)s") % {"due": countdown(follow_up)}))
    if until := (view or {}).get("suspended_until"):  # 挂起: the clocks run again then
        at = when(datetime.fromisoformat(until), _t())
        _print_rich(escape(_("  suspended until %(at)s; the clocks run again then") % {"at": at}))
    if reply := (view or {}).get("enterprise_reply_due_at"):
        _print_rich(escape(_("  the enterprise's reply: %(due)s") % {"due": countdown(reply)}))
    for line in _open_matters(view or {}):
        _print_rich(escape(line))
    from schemas.lifecycle import RequestView
    from workflows.views import estimated_years_ahead  # here: it imports the Temporal SDK

    if view and (years := estimated_years_ahead(RequestView.model_validate(view))):
        estimated = _(
            "Deadlines in %(years)s are counted on an estimated calendar: the State Council has "
            "not published that year's days off yet. They move when an operator publishes them."
        )
        _print_rich(escape("  " + estimated % {"years": listed([str(y) for y in years], _t())}))
    table = Table(title=_("Timeline"))
    table.add_column("#")
    # a time whole (12月5日 15:41, the year only when it is not this year's), as the queue's
    # deadlines; the other columns fold in a narrow terminal: more lines, not cut
    table.add_column(_("Time"), no_wrap=True)
    for column in (_("Event"), _("By"), _("State"), _("Tier"), _("Reason")):
        table.add_column(column, overflow="fold")
    now = datetime.now(UTC)
    entries = (view or detail).get("timeline", [])  # without a view: the audit trail
    named = _unit_names(
        str(e["facts"]["co_handler"]) for e in entries if "co_handler" in e.get("facts", {})
    )
    for entry in entries:
        facts = fact_texts(entry.get("facts", {}), _t(), lambda unit: _unit_name(unit, named))
        said = [semicolon(_t()).join(facts)] if facts else []
        said += [
            engine_reason(
                entry.get("reason"), _t(), by=entry.get("actor_id"), event_type=entry["event_type"]
            )
            or ""
        ]
        table.add_row(
            str(entry["sequence"]),
            when(datetime.fromisoformat(entry["occurred_at"]), _t(), now=now),
            step_label(entry["event_type"], entry.get("actor_role"), _t()),
            escape(entry["actor_id"]),
            words("state", entry["to_state"]),
            words("tier", entry["tier"]),
            escape("\n".join(text for text in said if text)),
        )
    _print_rich(table)
    kinds = detail.get("allowed_actions", [])
    allowed = [words("action", k) + aside(k, _t()) for k in kinds]
    line = _("allowed: %(actions)s") % {"actions": listed(allowed, _t()) or "-"}
    _print_rich(escape(between_items(line, allowed, Console().width)))


def between_items(line: str, items: list[str], width: int) -> str:
    """``line`` (which lists ``items``) broken between items to fit ``width`` cells, never
    inside one: a terminal folds a line without spaces anywhere (补充材料（pro / vide_info）)."""
    found = 0  # where the next item is looked for
    begins = []
    for item in items:
        found = line.index(item, found)
        begins.append(found)
        found += len(item)
    ends = [*begins[1:], len(line)][: len(begins)]  # each item with the separator after it
    broken, row = [], 0  # pieces so far; where the current row starts in ``line``
    for begin, end in zip(begins, ends, strict=True):
        if cell_len(line[row:end]) > width and begin > row:
            broken.append(line[row:begin].rstrip())
            row = begin
    return "\n".join([*broken, line[row:]])


def _particulars(
    row: dict[str, Any] | None, summary: dict[str, Any], timeline: list[dict[str, Any]]
) -> list[str]:
    """Who asks for what, as the case page's 企业与诉求 card has it: the enterprise, how to
    reach it (the read model's row only holds the contact; partly hidden from a caller who
    does not reach the enterprise), the request's kind and who handles it, its documents and
    those sent later with a step (the audit ``timeline``: 补充材料, 办结)."""
    t = _t()
    division = summary.get("division_code", "")
    where = " ".join(filter(None, [division_place(division), division]))
    codes = listed([summary.get("enterprise_uscc", ""), where], t)
    lines = [labelled(_("Enterprise"), summary.get("enterprise_name", "") + aside(codes, t), t)]
    if row is not None:
        contact = [c for c in (row.get(f"contact_{k}") for k in ("name", "phone", "email")) if c]
        hidden = aside(_("partly hidden"), t) if contact and row.get("contact_masked") else ""
        lines.append(labelled(_("Contact"), listed(contact or ["-"], t) + hidden, t))
    kind = [
        labelled(_("Category"), words("category", summary.get("category")), t),
        labelled(_("Priority"), words("priority", summary.get("priority")), t),
    ]
    if row is not None:
        kind.append(labelled(_("Channel"), channel_words(row.get("channel", ""), t), t))
    if summary.get("handler_id"):
        kind.append(labelled(_("Handler"), summary["handler_id"], t))
    lines.append(semicolon(t).join(kind))
    if row is not None and row.get("description"):
        lines.append(labelled(_("Description"), row["description"], t))
    for doc in (row or {}).get("attachments") or []:  # its name, and where it lives
        link = aside(doc["url"], t) if doc.get("url") else ""
        lines.append(labelled(_("Attachments"), doc["name"] + link, t))
    for entry in timeline:
        for doc in entry.get("attachments") or []:
            link = aside(doc["url"], t) if doc.get("url") else ""
            lines.append(labelled(_("Documents sent later"), doc["name"] + link, t))
    return ["  " + line for line in lines]


def _no_view(detail: dict[str, Any]) -> str:
    """Why only the read model's row and audit trail are shown (the case page's note)."""
    missing = detail.get("view_missing")
    if missing == "forgotten":
        return _(
            "  Temporal no longer keeps this request's workflow (it deletes an ended one once "
            "the namespace's retention passes): shown from the read model, with the full audit "
            "trail."
        )
    if missing == "unavailable":
        return _(
            "  The workflow engine cannot answer for this request right now: shown from the "
            "read model, with the full audit trail. Actions wait until it answers."
        )
    return _(
        "  The workflow did not answer with its view: shown from the read model, with the "
        "full audit trail."
    )


def _open_matters(view: dict[str, Any]) -> list[str]:
    """The work order's open matters, as the case page's 工单事项 card lists them: 协办 parts
    not concluded, 督办 awaiting the unit's written reply, applications (退单, 延期, 挂起)
    awaiting a decision and a rectification (整改) not concluded."""
    lines: list[str] = []
    parts = [
        p
        for p in view.get("parts", [])
        if not p.get("concluded_at") and not p.get("waived_by") and not p.get("ended_by")
    ]
    names = _unit_names(p["institution_id"] for p in parts) if parts else {}
    for part in parts:
        signed = part.get("signed_for_at")
        status = (
            _("signed for %(at)s, in hand") % {"at": when(datetime.fromisoformat(signed), _t())}
            if signed
            else _("awaiting sign-for")
        )
        lines.append(
            _("  Co-handling part of %(unit)s (%(text)s): %(status)s; %(due)s")
            % {
                "unit": _unit_name(part["institution_id"], names),
                "text": part["text"],
                "status": status,
                "due": countdown(part["due_at"]),
            }
        )
    for case in view.get("supervisions", []):
        if case.get("replied_at") or case.get("reprimanded_at") or case.get("ended_at"):
            continue
        lines.append(
            _("  Supervision by %(actor)s: %(reason)s; awaiting the written reply, %(due)s")
            % {
                "actor": case["opened_by"],
                "reason": engine_reason(case["reason"], _t(), by=case["opened_by"]),
                "due": countdown(case["reply_due_at"]),
            }
        )
    for asked in view.get("applications", []):
        if asked.get("decided_at") is not None:
            continue
        lines.append(
            _("  %(kind)s asked by %(actor)s: %(text)s; awaiting a decision")
            % {
                "kind": words("action", asked["kind"]),
                "actor": asked["asked_by"],
                "text": asked["text"],
            }
        )
    fix = view.get("rectification")
    if fix and not fix.get("concluded_at"):
        lines.append(
            _("  Rectification after a rating of %(rating)d: %(due)s")
            % {"rating": fix["rating"], "due": countdown(fix["due_at"])}
        )
    return lines


# What --field takes: the fields of an action besides --text, --institution and --attach.
OWN_OPTIONS = ("text", "institution_id", "attachments")
OTHER_FIELDS = ", ".join(name for name in ActionFields.model_fields if name not in OWN_OPTIONS)


def act(
    request_id: str = typer.Argument(...),
    kind: str = typer.Argument(
        ..., help="sign_for, acknowledge, start, request_info, resolve, ..."
    ),
    text: str | None = typer.Option(None, help="Reason, question, resolution or comment"),
    institution: str | None = typer.Option(
        None, help="Institution (reassign, approve_return, add_co_handler, waive_part)"
    ),
    field: list[str] = typer.Option(
        [],
        "--field",
        "-f",
        help=f"Another field of the action as NAME=VALUE, repeatable: {OTHER_FIELDS}",
    ),
    attach: list[str] = typer.Option(
        [],
        "--attach",
        help="A document sent with provide_info or resolve, as NAME=URL, repeatable",
    ),
    key: str | None = typer.Option(None, help="Idempotency key (default: a new one)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Take an action on a request (e.g. act ID return --text ... -f return_reason=duplicate)."""
    body: dict[str, Any] = {
        k: v for k, v in {"text": text, "institution_id": institution}.items() if v
    }
    for item in field:
        name, sep, value = item.partition("=")
        if not sep or name not in ActionFields.model_fields or name in OWN_OPTIONS:
            raise typer.BadParameter(
                _("%(item)s: give NAME=VALUE with NAME one of %(names)s")
                % {"item": item, "names": OTHER_FIELDS},
                param_hint="--field",
            )
        body[name] = value
    for item in attach:
        name, sep, url = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(
                _("%(item)s: give NAME=URL") % {"item": item}, param_hint="--attach"
            )
        body.setdefault("attachments", []).append({"name": name, "url": url})
    headers = {"Idempotency-Key": key or f"cli-{uuid.uuid4().hex}"}
    path = f"{_request_path(request_id)}/actions/{quote(kind, safe='')}"
    result = _call("POST", path, json=body, headers=headers)
    if as_json:
        _print_json(result)
        return
    done = _("%(action)s: %(request)s is %(state)s at %(tier)s (%(unit)s)") % {
        "action": words("action", kind),
        "request": request_id,
        "state": words("state", result["state"]),
        "tier": words("tier", result["tier"]),
        "unit": _unit_name(result["institution_id"]),
    }
    dup = _(" (repeated key: first answer)") if result.get("duplicate") else ""
    typer.echo(done + dup)


def submit(
    file: Path | None = typer.Option(None, "--file", exists=True, help="RequestInput JSON"),
    request_id: str | None = typer.Option(None, help="Default: a new id"),
    uscc: str | None = typer.Option(None, help="Unified social credit code (18 characters)"),
    name: str | None = typer.Option(None, help="Enterprise name"),
    division: str | None = typer.Option(
        None,
        help="Enterprise division code (GB/T 2260); default: the USCC's characters 3-8, "
        "where it was registered",
    ),
    category: str = typer.Option("other", help=CATEGORY_HELP),
    priority: str = typer.Option("normal", help=PRIORITY_HELP),
    subject: str | None = typer.Option(None, help="What the enterprise asks for, in one line"),
    description: str = typer.Option("", help="The request in the enterprise's words"),
    channel: str = typer.Option("walk-in", help=CHANNEL_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print the API's answer as JSON"),
) -> None:
    """Submit a request from a JSON file or from flags (a file names its own channel)."""
    if file is not None:
        try:
            body = json.loads(file.read_text("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            _fail(_("--file: not a JSON file in UTF-8 (%(error)s)") % {"error": exc})
    else:
        division = division or (registering_division(uscc) if uscc else None)
        missing = [
            n
            for n, v in (
                ("uscc", uscc),
                ("name", name),
                ("division", division),
                ("subject", subject),
            )
            if not v
        ]
        if missing:
            options = "--" + ", --".join(missing)
            _fail(_("missing %(options)s (or use --file)") % {"options": options}, 2)
        body = {
            "request_id": request_id or f"req-{uuid.uuid4().hex[:12]}",
            "enterprise": {"uscc": uscc, "name": name, "division_code": division},
            "category": category,
            "priority": priority,
            "subject": subject,
            "description": description,
            "channel": channel,
        }
    result = _call("POST", "/requests", json=body, params={"wait": "true"})
    if as_json:
        _print_json(result)
    elif result.get("in_scope") is False:  # a walk-in for an enterprise another unit serves
        elsewhere = _(
            "submitted %(request)s: routed to %(unit)s, which handles it (not in your queue)"
        )
        unit = _unit_name(result.get("institution_id"))
        typer.echo(elsewhere % {"request": result["request_id"], "unit": unit})
    else:
        typer.echo(_("submitted %(request)s") % {"request": result["request_id"]})


def table_deadline(item: dict[str, Any], now: datetime | None = None) -> str:
    """A queue row's deadline: its nearest running clock's, else its follow-up's (待回访).

    Short, for the table's narrow column (the column names it a deadline): the day and time,
    the year only when it is not this year's, 已超时 before it once it has passed. A paused
    request (挂起, 待企业补充) has none: when its pause ends.
    """
    due = item["next_due_at"] or item.get("follow_up_due_at")
    now = now or datetime.now(UTC)
    t = _t()
    if not due and (paused := item.get("paused_until")):  # 挂起, 待企业补充: until when
        return _("paused until %(when)s") % {
            "when": when(datetime.fromisoformat(paused), t, now=now)
        }
    if not due:
        return "-"
    moment = datetime.fromisoformat(due).astimezone(UTC)
    text = when(moment, t, now=now)
    if moment < now:
        text = str(t.gettext("overdue %(when)s")) % {"when": text}
    if not item["next_due_at"]:
        text = _("follow-up %(when)s") % {"when": text}
    return text


def countdown(due: str | None, now: datetime | None = None) -> str:
    """Return the deadline in China's time, e.g. '截止 2026年12月1日 14:06', or
    '已超时（截止 …）' once it has passed.

    The CLI shows the instant rather than the time left: the business time left depends on
    the request's calendar, which the console counts on (the API does not return it).
    """
    if not due:
        return "-"
    moment = datetime.fromisoformat(due).astimezone(UTC)
    t = _t()
    text = when(moment, t)
    if moment >= (now or datetime.now(UTC)):
        return str(t.gettext("due %(when)s")) % {"when": text}
    return str(t.gettext("overdue (due %(when)s)")) % {"when": text}


def register(app: typer.Typer) -> None:
    """Add the caseworker commands to the root ``tierflow`` app."""
    app.command()(login)
    app.command()(queue)
    app.command()(show)
    app.command()(act)
    app.command()(submit)

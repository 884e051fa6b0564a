"""Every institution directory version in the database, and imports that keep it in step.

The database is the authority for the directory new requests route with: the newest version
recorded in ``directory_version`` (by ``imported_at``, ties by version), which workers pick up
on their own (``tierflow.directory_source.RecordedDirectory``) and the console and CLI show
(``current_directory``); while no version is recorded, the directory file (or the packaged
directory) is. An import (``tierflow directory import`` or the console's 机构名录 page) goes
through ``import_directory``: the CSV is validated (``tierflow.directory_csv``), the new
version is recorded with who imported it, the ``institution`` table is made to match it, and,
where a directory file is configured (a single-host setup), the file is replaced, all or
nothing. ``load_version`` returns any recorded version (cached: versions never change), so a
request can keep routing by the version it started with.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from schemas.domain import Category, State, Tier
from schemas.enterprise import division_for_tier
from schemas.permissions import division_prefix
from tierflow.db.auth_models import ApiUser
from tierflow.db.models import (
    DirectoryVersion,
    InstitutionCreate,
    InstitutionRow,
    RequestPart,
    ServiceRequest,
)
from tierflow.db.repository import upsert_institutions
from tierflow.directory import (
    BAD_ID,
    GENERATED_PREFIX,
    PACKAGED_DIRECTORY,
    Directory,
    DirectoryEntry,
    DirectoryError,
    ImportRecord,
    is_institution_id,
    unreadable,
)
from tierflow.directory_csv import (
    MESSAGES,
    PlannedImport,
    Problem,
    plan_import,
    replace_file,
    version_taken,
)
from tierflow.i18n import Said
from tierflow.recorded_versions import RecordedVersions

CACHED_VERSIONS = 8  # parsed versions kept per process (~3,200 entries each)


@dataclass(frozen=True)
class VersionInfo:
    """One recorded version without its content (the import history)."""

    version: str
    imported_at: datetime
    imported_by: str
    source: str
    institutions: int


# --------------------------------------------------------------------------- the version table
def record_version(
    session: Session,
    content: str,
    *,
    imported_by: str,
    source: str,
    imported_at: datetime | None = None,
) -> DirectoryVersion:
    """Add the directory JSON ``content`` as a new version (caller commits).

    The content is parsed first, so every recorded version loads; raise DirectoryError when
    it does not validate, its version is recorded already, or an id is not one the API takes
    (``BAD_ID``).
    """
    directory = Directory.parse(content, "directory_version")
    if session.get(DirectoryVersion, directory.version) is not None:
        raise version_taken(directory.version)
    for entry in directory.entries:
        if not entry.generated and not is_institution_id(entry.id):
            raise DirectoryError(Said(BAD_ID, id=repr(entry.id)))
    row = DirectoryVersion(
        version=directory.version,
        imported_at=(imported_at or datetime.now(UTC)).replace(microsecond=0),
        imported_by=imported_by[:100],
        source=source[:200],
        institutions=len(directory.entries) - len(directory.generated()),
        content=content,
    )
    session.add(row)
    return row


_PARSED = RecordedVersions(DirectoryVersion, Directory.parse, CACHED_VERSIONS)


def load_version(engine: Engine, version: str) -> Directory | None:
    """Return the recorded directory ``version`` (with its generated placeholders), or None."""
    return _PARSED.load(engine, version)


def version_history(engine: Engine, limit: int = 100) -> list[VersionInfo]:
    """The recorded versions, newest import first."""
    query = (
        select(DirectoryVersion)
        .options(defer(DirectoryVersion.content))  # type: ignore[arg-type]
        .order_by(col(DirectoryVersion.imported_at).desc(), col(DirectoryVersion.version).desc())
        .limit(limit)
    )
    with Session(engine) as session:
        return [
            VersionInfo(r.version, r.imported_at, r.imported_by, r.source, r.institutions)
            for r in session.exec(query).all()
        ]


def _newest(session: Session) -> str | None:
    query = (
        select(DirectoryVersion.version)
        .order_by(col(DirectoryVersion.imported_at).desc(), col(DirectoryVersion.version).desc())
        .limit(1)
    )
    return session.exec(query).first()


def newest_version(engine: Engine) -> str | None:
    """The version recorded last (by ``imported_at``, ties by version), or None if none is."""
    with Session(engine) as session:
        return _newest(session)


def is_recorded(engine: Engine, version: str) -> bool:
    with Session(engine) as session:
        return session.get(DirectoryVersion, version) is not None


def record_file(engine: Engine, path: Path | None, imported_by: str) -> tuple[str, bool]:
    """Record the directory file (the packaged one when ``path`` is None) unless its version
    is recorded; return (version, newly recorded). ``tierflow directory record`` and a
    starting worker call it, so the version workers start with is retrievable too. When it
    is now the newest version, the ``institution`` table is made to match it, as an import
    does. A file without an import time (the packaged one) goes only into a database without
    versions: stamped now, it would displace every import (DirectoryError)."""
    if path is None:
        text = resources.files("tierflow.data").joinpath(PACKAGED_DIRECTORY).read_text("utf-8")
        source = PACKAGED_DIRECTORY
    else:
        text, source = Path(path).read_text("utf-8"), Path(path).name
    directory = Directory.parse(text, source)
    if is_recorded(engine, directory.version):
        return directory.version, False
    logged = [r for r in directory.imports_log() if r.version == directory.version]
    at = datetime.fromisoformat(logged[-1].at) if logged else None
    with Session(engine) as session:
        newest = _newest(session)
        if at is None and newest is not None:  # stamped now, it would displace the imports
            raise DirectoryError(
                f"{source}: version {directory.version} has no import time, and the database "
                f"holds directory versions already (the newest: {newest}); recorded now, it "
                "would replace them for routing. Import it instead (tierflow directory import)"
            )
        record_version(
            session,
            text,
            imported_by=imported_by,
            source=logged[-1].source if logged else source,
            imported_at=at,
        )
        try:
            session.flush()
            if _newest(session) == directory.version:
                refresh_institutions(session, directory)
            session.commit()
        except IntegrityError:  # recorded meanwhile by another seed
            return directory.version, False
    return directory.version, True


def fill_institutions(engine: Engine, fallback: Directory | None = None) -> Directory | None:
    """Fill an empty ``institution`` table from the newest recorded directory, else from
    ``fallback`` (a database recorded before the table followed recorded versions, or never
    seeded); return the directory it was filled from. A table with rows is left alone, and
    nothing is loaded for it: imports keep it current."""
    with Session(engine) as session:
        if session.exec(select(InstitutionRow.id).limit(1)).first() is not None:
            return None
        newest = _newest(session)
        directory = (load_version(engine, newest) if newest else None) or fallback
        if directory is None:
            return None
        refresh_institutions(session, directory)
        session.commit()
    return directory


# --------------------------------------------------------------------------- institution table
def institution_names(engine: Engine, ids: list[str]) -> dict[str, str]:
    """The directory's names of the institutions (an id the directory lacks has none)."""
    if not ids:
        return {}
    with Session(engine) as session:
        query = select(InstitutionRow.id, InstitutionRow.name).where(
            col(InstitutionRow.id).in_(ids)
        )
        return dict(session.exec(query).all())


@dataclass(frozen=True)
class InstitutionQuery:
    """Which institutions a lookup wants; every given condition must hold."""

    ids: tuple[str, ...] = ()
    tier: Tier | None = None
    region: str | None = None  # a division code: institutions there or below it
    search: str | None = None  # the name contains it, or the id starts with it


def _matching(query: InstitutionQuery) -> list[Any]:
    """The conditions of ``query`` on the ``institution`` table."""
    conditions: list[Any] = []
    if query.ids:
        conditions.append(col(InstitutionRow.id).in_(query.ids))
    if query.tier is not None:
        conditions.append(col(InstitutionRow.tier) == query.tier)
    if query.region is not None:
        prefix = division_prefix(query.region)
        conditions.append(col(InstitutionRow.division_code).startswith(prefix))
    if query.search:
        term = query.search.strip()
        conditions.append(
            or_(
                col(InstitutionRow.name).contains(term, autoescape=True),
                col(InstitutionRow.id).startswith(term, autoescape=True),
            )
        )
    return conditions


def find_institutions(
    engine: Engine, query: InstitutionQuery, limit: int, offset: int = 0
) -> list[InstitutionRow]:
    """A page of the ``institution`` table that ``query`` matches, by division code, then id."""
    page = (
        select(InstitutionRow)
        .where(*_matching(query))
        .order_by(col(InstitutionRow.division_code), col(InstitutionRow.id))
        .limit(limit)
        .offset(offset)
    )
    with Session(engine) as session:
        return list(session.exec(page).all())


def count_institutions(engine: Engine, query: InstitutionQuery) -> int:
    """How many institutions ``query`` matches, over every page."""
    counted = select(func.count()).select_from(InstitutionRow).where(*_matching(query))
    with Session(engine) as session:
        return session.exec(counted).one()


NEARBY_UNITS = 300  # the most a form offers: a city has a few dozen units


def units_near(engine: Engine, division_code: str, tier: Tier) -> list[InstitutionRow]:
    """The units a request from ``division_code`` held at ``tier`` may be reassigned to or
    shared with (协办): its city's (county and municipal tiers), its province's, or the
    national ones; for a form to offer by name."""
    if tier is Tier.NATIONAL:
        query = InstitutionQuery(tier=Tier.NATIONAL)
    else:
        region = Tier.PROVINCIAL if tier is Tier.PROVINCIAL else Tier.MUNICIPAL
        query = InstitutionQuery(region=division_for_tier(division_code, region))
    return find_institutions(engine, query, NEARBY_UNITS)


PROVINCE_UNITS = 5_000  # more than any province's units at one tier


def units_in_province(
    engine: Engine, division_code: str, tier: Tier, category: Category
) -> list[InstitutionRow]:
    """The units at ``tier`` across the province of ``division_code`` that serve ``category``
    (the ones a reassignment may name): where a province sends a request its unit returned as
    非本辖区. At most ``NEARBY_UNITS`` (the form still takes any id)."""
    query = InstitutionQuery(tier=tier, region=division_for_tier(division_code, Tier.PROVINCIAL))
    rows = find_institutions(engine, query, PROVINCE_UNITS)
    serving = [row for row in rows if row.serves(category)]
    return serving[:NEARBY_UNITS]


def institution_of(entry: DirectoryEntry) -> InstitutionCreate:
    """The ``institution`` row of a directory entry."""
    return InstitutionCreate(
        id=entry.id,
        name=entry.name,
        tier=entry.tier,
        division_code=entry.division_code,
        categories=[c.value for c in entry.categories],
        contact=entry.contact,
    )


def refresh_institutions(session: Session, directory: Directory) -> tuple[int, int]:
    """Make the ``institution`` table hold exactly ``directory``'s entries (named and
    generated); return (rows added or changed, rows removed). Caller commits.

    One read, one upsert of the rows that differ and one delete: the national directory has
    thousands of institutions, and an ORM object each took seconds per import.
    """
    table = InstitutionRow.__table__  # type: ignore[attr-defined]
    held = {row.id: dict(row._mapping) for row in session.execute(sa_select(table))}
    changed, moved = [], []
    for row in map(institution_of, directory.entries):
        before = held.pop(row.id, None)
        if before != row.model_dump():
            changed.append(row)
        if before is not None and (before["tier"], before["division_code"]) != (
            row.tier,
            row.division_code,
        ):
            moved.append(row)
    upsert_institutions(session, changed)
    if held:  # left the directory (or a placeholder now covered)
        session.execute(delete(table).where(table.c.id.in_(list(held))))
    _follow_units(session, moved)
    return len(changed), len(held)


def _follow_units(session: Session, moved: list[InstitutionCreate]) -> None:
    """Give the accounts of units that moved (another tier or division) their unit's new
    place: an account keeps its unit's tier and division, which a supervisor's region is, and
    the supervisor of a unit moved to another city would go on overseeing the old one."""
    users = ApiUser.__table__  # type: ignore[attr-defined]
    for row in moved:
        session.execute(
            update(users)
            .where(users.c.institution_id == row.id)
            .values(tier=row.tier, division_code=row.division_code)
        )


def removals_in_use(session: Session, directory: Directory) -> list[Problem]:
    """The named institutions ``directory`` would remove that still have work on requests
    (one they hold not ended, an open 协办 part or a 督办 reply it owes for one, a 整改 they
    owe) or enabled user accounts: removed, that work would stay with an id nobody routes to
    and their people could no longer be given accounts there."""
    keep = {entry.id for entry in directory.entries}
    rows = session.exec(select(InstitutionRow.id)).all()
    gone = [i for i in rows if i not in keep and not i.startswith(GENERATED_PREFIX)]
    if not gone:
        return []
    ended = [state.value for state in State if state.is_terminal]
    holder, owing = col(ServiceRequest.institution_id), col(ServiceRequest.rectifying_unit)
    part_unit = col(RequestPart.institution_id)
    work = [
        sa_select(holder, col(ServiceRequest.request_id)).where(
            holder.in_(gone), col(ServiceRequest.state).not_in(ended)
        ),
        sa_select(owing, col(ServiceRequest.request_id)).where(owing.in_(gone)),
        sa_select(part_unit, col(RequestPart.request_id)).where(
            part_unit.in_(gone),
            col(RequestPart.closed_at).is_(None) | (col(RequestPart.replies_owed) > 0),
        ),
    ]
    on_requests: dict[str, set[str]] = {}
    for query in work:
        for unit, request_id in session.execute(query).all():
            on_requests.setdefault(str(unit), set()).add(str(request_id))
    held = {unit: len(ids) for unit, ids in on_requests.items()}
    people = sa_select(col(ApiUser.institution_id), func.count()).where(
        col(ApiUser.institution_id).in_(gone), col(ApiUser.disabled).is_(False)
    )
    by_person = people.group_by(col(ApiUser.institution_id))
    staffed = {str(unit): int(n) for unit, n in session.execute(by_person).all()}
    problems = []
    for unit in sorted(gone):
        waiting, users = held.get(unit, 0), staffed.get(unit, 0)
        if waiting or users:
            params = {"id": unit, "requests": str(waiting), "users": str(users)}
            text = MESSAGES["removes_in_use"] % params
            problems.append(Problem(None, "file", "removes_in_use", text, params))
    return problems


# --------------------------------------------------------------------------- imports
@dataclass(frozen=True)
class ImportResult:
    """What ``import_directory`` did."""

    plan: PlannedImport
    directory: Directory
    recorded: bool  # in directory_version (False: no database given, or nothing changed)
    changed: int  # institution rows added or changed
    removed: int  # institution rows removed
    # the newest recorded version, when the file names exactly its institutions: nothing
    # is recorded (a nightly re-import of the same sheet adds no version)
    unchanged_from: str | None = None

    @property
    def version(self) -> str:
        return self.plan.version

    @property
    def named(self) -> int:
        return len(self.plan.entries)


@contextmanager
def _file_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``target``, so imports on one host go one at a time
    (each reads the import log the one before it wrote)."""
    lock = target.with_name(f".{target.name}.lock")
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _newest_log(engine: Engine) -> list[ImportRecord]:
    """The import log of the newest recorded version (what an import without a file continues)."""
    newest = newest_version(engine)
    found = load_version(engine, newest) if newest is not None else None
    return found.imports_log() if found is not None else []


def import_directory(
    text: str,
    target: Path | None,
    version: str,
    *,
    source: str,
    imported_by: str,
    engine: Engine | None,
    at: datetime | None = None,
    allow_removal: bool = False,
    dry_run: bool = False,
) -> ImportResult:
    """Validate CSV ``text`` and make it directory ``version``: with an ``engine``, a
    ``directory_version`` row (the newest: workers route new requests by it from their next
    check) and the refreshed ``institution`` table; with a ``target``, the directory file too.

    A file that names exactly the newest recorded version's institutions records nothing
    (``unchanged_from``). All or nothing: an invalid file, a version imported before (in the
    import log or in the table), or, unless ``allow_removal``, an institution left out that
    still holds requests or people (``removals_in_use``) raises DirectoryError with its
    ``problems`` and changes nothing; the database
    transaction commits only after the file is replaced, and a failed commit puts the
    previous file back. ``dry_run``: every check and the table's refresh run, in a
    transaction rolled back, and nothing is written: the result says what an import would do.
    """
    if target is None and engine is None:
        raise ValueError("an import needs a database or a directory file to write")
    locked: AbstractContextManager[None] = (
        _file_lock(target) if target is not None else nullcontext()
    )
    with locked:
        earlier = _newest_log(engine) if target is None and engine is not None else []
        plan = plan_import(text, target, version, source, at, earlier)
        directory = plan.directory()
        if engine is None:
            assert target is not None
            if not dry_run:
                replace_file(target, plan.body)
            return ImportResult(plan, directory, False, 0, 0)
        if is_recorded(engine, version):  # before anything else: the name is taken
            raise version_taken(version)
        if (same := _newest_if_same(engine, directory)) is not None:
            return ImportResult(plan, directory, False, 0, 0, unchanged_from=same)
        with Session(engine) as session:
            if not allow_removal and (problems := removals_in_use(session, directory)):
                raise DirectoryError("\n".join(map(str, problems)), problems)
            record_version(
                session, plan.body, imported_by=imported_by, source=source, imported_at=plan.at
            )
            changed, removed = refresh_institutions(session, directory)
            try:
                session.flush()
            except IntegrityError:  # the same version recorded meanwhile
                raise version_taken(version) from None
            if dry_run:
                session.rollback()
                return ImportResult(plan, directory, False, changed, removed)
            if target is not None:
                replace_file(target, plan.body)
            try:
                session.commit()
            except BaseException:
                if target is not None:
                    replace_file(target, plan.previous)
                raise
    return ImportResult(plan, directory, True, changed, removed)


def _newest_if_same(engine: Engine, directory: Directory) -> str | None:
    """The newest recorded version if it names exactly ``directory``'s institutions, else None."""
    newest = newest_version(engine)
    recorded = load_version(engine, newest) if newest is not None else None
    if recorded is None or _named(recorded) != _named(directory):
        return None
    return newest


def _named(directory: Directory) -> list[dict[str, Any]]:
    return sorted(
        (e.model_dump() for e in directory.entries if not e.generated), key=lambda e: e["id"]
    )


_CURRENT: dict[Path | None, tuple[tuple[int, int] | None, Directory]] = {}
_CURRENT_LOCK = threading.Lock()


def read_current(path: Path | None) -> Directory:
    """The directory file at ``path`` (re-read when it changes, as ``DirectoryWatch`` does)
    or the packaged one; DirectoryError if unreadable."""
    stamp: tuple[int, int] | None = None
    if path is not None:
        try:
            st = path.stat()
        except OSError as exc:
            raise unreadable(path, exc) from None
        stamp = (st.st_mtime_ns, st.st_size)
    with _CURRENT_LOCK:
        known = _CURRENT.get(path)
    if known is not None and known[0] == stamp:
        return known[1]
    directory = Directory.load(path)
    with _CURRENT_LOCK:
        _CURRENT[path] = (stamp, directory)
    return directory


def current_directory(engine: Engine | None, path: Path | None) -> Directory:
    """The directory workers route new requests with now: the newest version recorded in the
    database, else the file at ``path`` (or the packaged one); DirectoryError if unreadable."""
    newest = newest_version(engine) if engine is not None else None
    found = load_version(engine, newest) if engine is not None and newest is not None else None
    return found if found is not None else read_current(path)

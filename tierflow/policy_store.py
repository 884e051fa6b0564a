"""SLA policies as versioned data: candidates added, promoted from a date, and the one in force.

An admin adds a candidate policy file (``tierflow policy add``, ``POST /api/v1/policies``): it
is validated like the worker's file and kept whole in ``sla_policy_version``; a version may be
added once (the same content again changes nothing, other content under a taken version is
refused). A promotion (``tierflow policy promote``, ``POST /api/v1/policies/{version}/promote``)
adds a row of ``sla_policy_release``: from ``in_force_from`` on, new requests pin that version,
until a later release. Releases only move forward (none in the past; one may start before a
release not started yet, to correct the policy in force until then), so the policy in force
at any past instant never changes; the release row, with who
promoted it and the what-if run that justified it, is the audit record of the change.
Before the first release the worker's policy file (or the packaged one) is in force.

Errors are ``PolicyStoreError``: ``field`` names the input at fault, the message says why (in
English as ``str()``, in the reader's language in the CLI).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from tierflow.db.models import SlaPolicyRelease, SlaPolicyVersion, WhatIfRun
from tierflow.grades import SHANGHAI
from tierflow.i18n import N_, TranslatableError
from tierflow.policy import PolicyError, PolicyFile, load_policy_file, parse_policy
from tierflow.recorded_versions import RecordedVersions

log = logging.getLogger(__name__)
_UNPARSED: set[int] = set()  # releases logged as no longer parsing (once a process)

# how far in the past a release may start: the clocks of the admin's host and the database's
SKEW = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=366)  # how far ahead a release may start
CACHED_VERSIONS = 16
# a what-if run's filters that leave out a part of the network (``whatif.trail.Scope``): a
# supervisor's region and tiers, one import's ids. A period, categories and priorities (the
# ones a candidate changes) may be chosen.
NARROWING = ("division_prefix", "overseen_prefix", "tiers", "request_prefix")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}")
PROMOTION_LOCK = 0x7469_6572_706F  # PostgreSQL advisory lock: one promotion at a time


class PolicyStoreError(TranslatableError):
    """A candidate or a promotion refused; ``field`` is the input at fault."""

    def __init__(self, field: str, message: str, **values: object) -> None:
        self.field = field
        super().__init__(message, **values)


@dataclass(frozen=True)
class Added:
    """What ``add_policy`` did: the version, and whether it was new."""

    version: str
    new: bool


@dataclass(frozen=True)
class VersionInfo:
    """One recorded policy version without its content."""

    version: str
    loaded_at: datetime
    added_by: str | None


@dataclass(frozen=True)
class Release:
    """One promotion as recorded: the audit record of a policy change (the API answers it as
    it is)."""

    id: int
    version: str
    in_force_from: datetime
    promoted_by: str
    promoted_at: datetime
    whatif_run_id: str | None
    note: str | None

    @classmethod
    def of(cls, row: SlaPolicyRelease) -> Release:
        assert row.id is not None
        return cls(
            row.id,
            row.version,
            row.in_force_from,
            row.promoted_by,
            row.promoted_at,
            row.whatif_run_id,
            row.note,
        )


@dataclass(frozen=True)
class InForce:
    """The policy in force at an instant and the release that made it so (None: the file)."""

    policy: PolicyFile
    release: Release | None


# --------------------------------------------------------------------------- parsed versions
_PARSED = RecordedVersions(SlaPolicyVersion, parse_policy, CACHED_VERSIONS)


def load_version(engine: Engine, version: str) -> PolicyFile | None:
    """Return the recorded policy ``version``, parsed, or None if it is not recorded."""
    return _PARSED.load(engine, version)


# --------------------------------------------------------------------------- candidates
def add_policy(
    engine: Engine,
    content: str,
    *,
    added_by: str,
    configured: PolicyFile | None,
    source: str = "candidate.toml",
    now: datetime | None = None,
) -> Added:
    """Validate the policy TOML ``content`` and record it as a version of its own.

    The same version again with the same policy changes nothing; other content under a version
    recorded, or under the version of the worker's policy file (``configured``: every caller
    names it, None only where no worker's file applies), is refused: requests that pinned that
    version must stay explainable by it.
    """
    try:
        policy = parse_policy(content, source)
    except PolicyError as exc:
        raise PolicyStoreError("policy", N_("policy: %(reason)s"), reason=exc.said) from None
    if not VERSION.fullmatch(policy.version):
        raise PolicyStoreError(
            "version",
            N_("version: %(version)r: 1-64 letters, digits or _.:+- (it names the policy)"),
            version=policy.version,
        )
    if configured is not None and configured.version == policy.version and configured != policy:
        raise _clash(policy.version)
    with Session(engine) as session:
        known = session.get(SlaPolicyVersion, policy.version)
        if known is not None:
            if parse_policy(known.content, policy.version) != policy:
                raise _clash(policy.version)
            return Added(policy.version, False)
        session.add(
            SlaPolicyVersion(
                version=policy.version,
                loaded_at=(now or datetime.now(UTC)).replace(microsecond=0),
                content=content,
                added_by=added_by[:100],
            )
        )
        try:
            session.commit()
        except IntegrityError:  # the same version added meanwhile: judge against that one
            session.rollback()
            return add_policy(
                engine, content, added_by=added_by, source=source, configured=configured
            )
    return Added(policy.version, True)


def _clash(version: str) -> PolicyStoreError:
    return PolicyStoreError(
        "version",
        N_("version: %(version)s is recorded with other content; give the candidate a new version"),
        version=version,
    )


def policy_versions(engine: Engine, limit: int = 100) -> list[VersionInfo]:
    """The recorded versions, the latest recorded first."""
    query = (
        select(SlaPolicyVersion)
        .options(defer(SlaPolicyVersion.content))  # type: ignore[arg-type]
        .order_by(col(SlaPolicyVersion.loaded_at).desc(), col(SlaPolicyVersion.version).desc())
        .limit(limit)
    )
    with Session(engine) as session:
        return [VersionInfo(r.version, r.loaded_at, r.added_by) for r in session.exec(query).all()]


def policy_content(engine: Engine, version: str) -> str | None:
    """The recorded TOML of ``version`` as it was added, or None."""
    with Session(engine) as session:
        row = session.get(SlaPolicyVersion, version)
        return row.content if row is not None else None


# --------------------------------------------------------------------------- releases
def releases(engine: Engine) -> list[Release]:
    """Every release, the earliest ``in_force_from`` first."""
    query = select(SlaPolicyRelease).order_by(
        col(SlaPolicyRelease.in_force_from), col(SlaPolicyRelease.id)
    )
    with Session(engine) as session:
        return [Release.of(row) for row in session.exec(query).all()]


def promote(
    engine: Engine,
    version: str,
    in_force_from: datetime,
    *,
    promoted_by: str,
    whatif_run_id: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Release:
    """Make recorded policy ``version`` the one new requests pin from ``in_force_from`` on.

    A start a few seconds past (``SKEW``: the admin's clock, or "now") starts now: the policy
    in force at an instant already gone never changes. A release not started yet is replaced
    by another from the same instant (the newer one is the release from then on).

    A release may start before one not started yet (to correct the policy in force until
    then); that one still starts at its own instant.

    Refused (``PolicyStoreError`` naming the field): a time without a zone or in the past
    (beyond ``SKEW``), a version not recorded, a release from the instant of one already in
    force, the version already in force from that instant, a what-if run that is not
    recorded or tried another policy.
    """
    now = now or datetime.now(UTC)
    given = in_force_from
    start = release_start(in_force_from)
    in_force_from = max(start, now.astimezone(UTC))
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PROMOTION_LOCK})
        check_when(given, now)  # first: a mistyped past start is refused, never "retried"
        for earlier in _promoted(session, version, whatif_run_id):
            standing = _in_force_at(session, earlier.in_force_from)  # not replaced since
            if earlier.in_force_from == max(start, earlier.promoted_at) and standing == earlier:
                return Release.of(earlier)  # a retry of this very promotion: its answer again
        recorded = session.get(SlaPolicyVersion, version)
        if recorded is None:
            raise PolicyStoreError(
                "version",
                N_("version: %(version)s is not recorded; add it first (tierflow policy add)"),
                version=version,
            )
        _check_order(_in_force_at(session, in_force_from), version, in_force_from, now)
        if whatif_run_id is not None:
            _check_run(session, whatif_run_id, recorded)
        row = SlaPolicyRelease(
            version=version,
            in_force_from=in_force_from,
            promoted_by=promoted_by[:100],
            promoted_at=now.astimezone(UTC),
            whatif_run_id=whatif_run_id,
            note=(note or "").strip() or None,
        )
        session.add(row)
        session.commit()
        session.refresh(row)
        return Release.of(row)


def _promoted(session: Session, version: str, whatif_run_id: str | None) -> list[SlaPolicyRelease]:
    """The releases of ``version`` on ``whatif_run_id``'s evidence (a retry finds its own)."""
    query = select(SlaPolicyRelease).where(
        col(SlaPolicyRelease.version) == version,
        col(SlaPolicyRelease.whatif_run_id) == whatif_run_id
        if whatif_run_id is not None
        else col(SlaPolicyRelease.whatif_run_id).is_(None),
    )
    return list(session.exec(query).all())


def release_start(in_force_from: datetime) -> datetime:
    """The start of a release in UTC; refused without a time zone or out of range."""
    if in_force_from.tzinfo is None or in_force_from.utcoffset() is None:
        raise PolicyStoreError(
            "in_force_from", N_("in_force_from: give a time zone, e.g. 2027-01-01T00:00+08:00")
        )
    try:
        return in_force_from.astimezone(UTC)
    except OverflowError:  # an instant at the edge of the calendar
        raise PolicyStoreError("in_force_from", N_("in_force_from: out of range")) from None


def check_when(in_force_from: datetime, now: datetime | None = None) -> None:
    """Refuse a start in the past, or so far ahead that it reads as a typo (2207 for 2027):
    a release is never undone. The refusal shows the instant as it was given (in the admin's
    zone)."""
    now = now or datetime.now(UTC)
    start = release_start(in_force_from)
    if start < now - SKEW:
        raise PolicyStoreError(
            "in_force_from",
            N_("in_force_from: %(when)s is in the past; a release takes effect from now on"),
            when=in_force_from.isoformat(),
        )
    if start > now + MAX_AHEAD:
        raise PolicyStoreError(
            "in_force_from",
            N_(
                "in_force_from: %(when)s is more than %(days)d days ahead; promote it nearer "
                "its day (a release cannot be undone)"
            ),
            when=in_force_from.isoformat(),
            days=MAX_AHEAD.days,
        )


def _in_force_at(session: Session, at: datetime) -> SlaPolicyRelease | None:
    """The release in force at ``at`` (the latest from then or before; the newer of a tie)."""
    query = (
        select(SlaPolicyRelease)
        .where(col(SlaPolicyRelease.in_force_from) <= at)
        .order_by(col(SlaPolicyRelease.in_force_from).desc(), col(SlaPolicyRelease.id).desc())
    )
    return session.exec(query.limit(1)).first()


def _check_order(
    current: SlaPolicyRelease | None, version: str, in_force_from: datetime, now: datetime
) -> None:
    """Refuse a release at the instant of one already in force, or one that changes nothing
    (``current``: the release in force at ``in_force_from``). A release not started yet may
    be replaced from its instant; one may start before it (to correct the policy in force
    meanwhile), which still starts at its own instant."""
    if current is None:
        return
    if current.in_force_from == in_force_from and current.in_force_from <= now:
        raise PolicyStoreError(
            "in_force_from",
            N_(
                "in_force_from: %(version)s is released from %(later)s; a release starts "
                "after it, or at that instant to replace it before it starts"
            ),
            version=current.version,
            later=current.in_force_from.astimezone(SHANGHAI).isoformat(),
        )
    if current.version == version:
        raise PolicyStoreError(
            "version",
            N_("version: %(version)s is already the policy in force from then"),
            version=version,
        )


def check_before_recording(
    engine: Engine, version: str, in_force_from: datetime, whatif_run_id: str, now: datetime
) -> None:
    """The checks of ``promote`` that need no recorded ``version``: when, the order of
    releases, and the run itself (covering requests, every region and tier, the policy's own
    calendar, none skipped). The console records a run's candidate only once these pass, so
    that a refused promotion leaves no version behind."""
    check_when(in_force_from, now)
    with Session(engine) as session:
        start = max(release_start(in_force_from), now.astimezone(UTC))
        _check_order(_in_force_at(session, start), version, start, now)
        _run_itself(session, whatif_run_id, version)


def _run_itself(session: Session, run_id: str, version: str) -> WhatIfRun:
    """The recorded run ``run_id``; refused when it shows nothing a release may rest on."""
    run = session.get(WhatIfRun, run_id)
    if run is None:
        raise PolicyStoreError(
            "whatif_run_id", N_("whatif_run_id: no what-if run %(run)s"), run=run_id
        )
    if run.requests == 0:
        raise PolicyStoreError(
            "whatif_run_id",
            N_("whatif_run_id: what-if run %(run)s covered no request: it shows nothing"),
            run=run_id,
        )
    if run.candidate_calendar is not None:  # a calendar goes live by `tierflow calendar publish`
        raise PolicyStoreError(
            "whatif_run_id",
            N_(
                "whatif_run_id: what-if run %(run)s replaced the calendar of %(version)s, which "
                "a release does not carry; justify it with a run on the policy's own calendar"
            ),
            run=run_id,
            version=version,
        )
    narrowed = [name for name in NARROWING if (run.scope or {}).get(name)]
    if narrowed:  # a release applies to every request it is in force for
        raise PolicyStoreError(
            "whatif_run_id",
            N_(
                "whatif_run_id: what-if run %(run)s covered only part of the network (by "
                "%(filters)s); a release applies everywhere, so justify it with a run over "
                "every region and tier (an administrator's)"
            ),
            run=run_id,
            filters=", ".join(narrowed),
        )
    skipped = json.loads(run.report).get("skipped") or []
    if skipped:
        raise PolicyStoreError(
            "whatif_run_id",
            N_(
                "whatif_run_id: what-if run %(run)s could not replay %(count)d requests under "
                "the policy (%(first)s: %(reason)s), so it does not show what the policy does"
            ),
            run=run_id,
            count=len(skipped),
            first=skipped[0].get("request_id", ""),
            reason=skipped[0].get("reason", ""),
        )
    return run


def _check_run(session: Session, run_id: str, recorded: SlaPolicyVersion) -> None:
    """Refuse a what-if run that is not recorded, shows nothing a release may rest on
    (``_run_itself``), or did not try this very policy."""
    run = _run_itself(session, run_id, recorded.version)
    try:
        tried = parse_policy(run.candidate_content, f"whatif_run {run_id}")
    except PolicyError:
        tried = None
    if tried is None or run.candidate_version != recorded.version:
        raise PolicyStoreError(
            "whatif_run_id",
            N_("whatif_run_id: what-if run %(run)s tried policy %(tried)s, not %(version)s"),
            run=run_id,
            tried=run.candidate_version,
            version=recorded.version,
        )
    if tried != parse_policy(recorded.content, recorded.version):
        raise PolicyStoreError(
            "whatif_run_id",
            N_("whatif_run_id: what-if run %(run)s tried other content under %(version)s"),
            run=run_id,
            version=recorded.version,
        )


# --------------------------------------------------------------------------- in force
def in_force(timeline: list[tuple[Release, PolicyFile]], at: datetime) -> int | None:
    """Index of the release in force at ``at`` in ``timeline`` (by ``in_force_from``), or None."""
    found = None
    for index, (release, _) in enumerate(timeline):
        if release.in_force_from > at:
            break
        found = index
    return found


def timeline(engine: Engine) -> list[tuple[Release, PolicyFile]]:
    """Every release with its parsed policy, the earliest first (a version that no longer
    parses is left out: nothing can pin it)."""
    found = []
    for release in releases(engine):
        try:
            policy = load_version(engine, release.version)
        except PolicyError as exc:  # a stricter check since: say so (once), never silently
            if release.id not in _UNPARSED:
                _UNPARSED.add(release.id)
                log.error(
                    "release %s of policy %s no longer parses and is left out: %s",
                    release.id,
                    release.version,
                    exc,
                )
            continue
        if policy is not None:
            found.append((release, policy))
    return found


def policy_in_force(engine: Engine, at: datetime, fallback: Path | None = None) -> InForce:
    """The released policy whose ``in_force_from`` is the latest at or before ``at``; before
    any release, the policy file at ``fallback`` (or the packaged one)."""
    releases_now = timeline(engine)
    index = in_force(releases_now, at)
    if index is None:
        return InForce(load_policy_file(fallback), None)
    release, policy = releases_now[index]
    return InForce(policy, release)

"""SLA policies for admins: the versions and releases, a candidate added, a version promoted.

The checks are ``tierflow.policy_store``'s (the CLI's too). A refusal answers 422 naming the
field: ``msg`` in English (stable, for programs), ``text`` in the caller's language
(``Accept-Language``, Chinese by default), as the CLI would say it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import HTTPException, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.deps import ApiContext
from api.errors import field_name
from schemas.edge import limit, text_rule
from tierflow import policy_store as store
from tierflow.auth_store import Principal
from tierflow.i18n import from_accept_language, translations
from tierflow.policy import PolicyError, PolicyFile, load_policy_file

NOTE_BYTES = 6000  # 2,000 Chinese characters


class VersionOut(BaseModel):
    """A recorded policy version (its TOML left out)."""

    version: str
    recorded_at: datetime
    added_by: str | None = Field(description="Who added it; null: a worker or `db seed`")


class InForceOut(BaseModel):
    version: str
    release_id: int | None = Field(description="null: the worker's policy file (no release yet)")


class PolicyList(BaseModel):
    versions: list[VersionOut] = Field(description="The latest recorded first")
    releases: list[store.Release] = Field(description="The earliest in_force_from first")
    in_force: InForceOut = Field(description="The policy new requests pin now")
    unparsed_releases: list[int] = Field(
        default_factory=list,
        description="Ids of releases whose policy no longer parses (a stricter check in a "
        "later tierflow): left out of force, the release before each applies",
    )


class Added(BaseModel):
    version: str
    new: bool = Field(description="false: recorded before with the same content")


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is named, not dropped

    in_force_from: AwareDatetime = Field(
        description="From when new requests pin it (with a time zone; not in the past)"
    )
    whatif_run_id: str | None = Field(
        default=None, pattern=r"^[!-~]{1,64}$", description="The what-if run that justified it"
    )
    note: Annotated[
        str | None,
        limit(NOTE_BYTES),
        text_rule(NOTE_BYTES),
        Field(description="Why, for the record"),
    ] = None


def refusal(exc: store.PolicyStoreError, where: str, language: str | None) -> HTTPException:
    """A 422 naming the field at fault, worded in English and in the caller's language."""
    loc = [where, exc.field]
    text = exc.text(translations(from_accept_language(language) or "zh-CN"))
    item = {"loc": loc, "msg": str(exc), "type": "value_error", "field": field_name(loc)}
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [item | {"text": text}])


def configured_policy(ctx: ApiContext) -> PolicyFile:
    """The worker's policy file (503 if it cannot be read): its version is taken."""
    try:
        return load_policy_file(ctx.settings.policy_file)
    except PolicyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


def _listing(ctx: ApiContext) -> PolicyList:
    versions = store.policy_versions(ctx.engine)
    known = store.timeline(ctx.engine)
    every = store.releases(ctx.engine)  # those that no longer parse too, marked
    index = store.in_force(known, ctx.clock())
    now = (
        InForceOut(version=configured_policy(ctx).version, release_id=None)
        if index is None
        else InForceOut(version=known[index][0].version, release_id=known[index][0].id)
    )
    return PolicyList(
        versions=[
            VersionOut(version=v.version, recorded_at=v.loaded_at, added_by=v.added_by)
            for v in versions
        ],
        releases=every,
        in_force=now,
        unparsed_releases=[r.id for r in every if r.id not in {k.id for k, _ in known}],
    )


async def policies(ctx: ApiContext, principal: Principal) -> PolicyList:
    require(principal, "policies")
    return await run_in_threadpool(_listing, ctx)


async def add(
    ctx: ApiContext, principal: Principal, text: str, source: str, language: str | None
) -> Added:
    require(principal, "policies")
    configured = configured_policy(ctx)
    try:
        done = await run_in_threadpool(
            lambda: store.add_policy(
                ctx.engine,
                text,
                added_by=principal.user_id,
                source=source,
                configured=configured,
                now=ctx.clock(),
            )
        )
    except store.PolicyStoreError as exc:
        raise refusal(exc, "body", language) from None
    return Added(version=done.version, new=done.new)


async def promote(
    ctx: ApiContext, principal: Principal, version: str, body: PromoteBody, language: str | None
) -> store.Release:
    require(principal, "policies")
    try:
        release = await run_in_threadpool(
            lambda: store.promote(
                ctx.engine,
                version,
                body.in_force_from,
                promoted_by=principal.user_id,
                whatif_run_id=body.whatif_run_id,
                note=body.note,
                now=ctx.clock(),
            )
        )
    except store.PolicyStoreError as exc:
        raise refusal(exc, "path" if exc.field == "version" else "body", language) from None
    return release

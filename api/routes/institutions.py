"""The institution directory as the API reads it: names, tiers and divisions of the units that
requests route to, for clients that show a unit by name (the CLI, a portal)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import AfterValidator, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import Ctx, CurrentPrincipal
from api.models import ErrorOut
from api.routes import API_PREFIX
from schemas.divisions import check_known_division
from schemas.domain import Tier
from schemas.edge import (
    INSTITUTION_ID_PATTERN,
    INSTITUTION_IDS_AT_ONCE,
    SEARCH_BYTES,
    check_text,
)
from schemas.enterprise import validate_division_code
from schemas.messages import N_, Said, TranslatableError
from tierflow.db.models import InstitutionPublic
from tierflow.directory_store import InstitutionQuery, count_institutions, find_institutions

router = APIRouter(prefix=f"{API_PREFIX}/institutions", tags=["institutions"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown token"}
}
_ID = re.compile(INSTITUTION_ID_PATTERN)


def _ids(values: list[str]) -> list[str]:
    if len(values) > INSTITUTION_IDS_AT_ONCE:
        raise TranslatableError(N_("at most %(count)d ids at once"), count=INSTITUTION_IDS_AT_ONCE)
    for value in values:
        if not _ID.fullmatch(value):
            raise TranslatableError(N_("%(id)r is not an institution id"), id=value[:64])
    return values


def _region(value: str | None) -> str | None:
    return check_known_division(validate_division_code(value)) if value is not None else None


def _search(value: str | None) -> str | None:
    return check_text(value, SEARCH_BYTES) if value else None


class InstitutionPage(BaseModel):
    items: list[InstitutionPublic]
    total: int = Field(description="Institutions matching, over every page")


@router.get("", response_model=InstitutionPage, responses=ERRORS)
async def list_institutions(
    ctx: Ctx,
    _principal: CurrentPrincipal,
    ids: Annotated[
        list[str],
        Query(alias="id", description="Only these ids (repeat id=, at most 200)"),
        AfterValidator(_ids),
    ] = [],  # noqa: B006 - FastAPI copies a query list's default
    tier: Annotated[Tier | None, Query(description="Only institutions at this tier")] = None,
    region: Annotated[
        str | None,
        Query(
            max_length=6,
            description="A division code: the institutions there or below (330000: Zhejiang)",
        ),
        AfterValidator(_region),
    ] = None,
    search: Annotated[
        str | None,
        Query(max_length=100, description="The name contains it, or the id starts with it"),
        AfterValidator(_search),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Institutions in this page")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skipped before it")] = 0,
) -> InstitutionPage:
    """Institutions of the directory in force, by division code: a unit's name for its id,
    the units of a region or tier, or those whose name holds a word."""
    query = InstitutionQuery(tuple(ids), tier, region, search)
    rows = await run_in_threadpool(find_institutions, ctx.engine, query, limit, offset)
    total = await run_in_threadpool(count_institutions, ctx.engine, query)
    items = [InstitutionPublic.model_validate(row, from_attributes=True) for row in rows]
    return InstitutionPage(items=items, total=total)


@router.get(
    "/{institution_id}",
    response_model=InstitutionPublic,
    responses={**ERRORS, 404: {"model": ErrorOut, "description": "Not in the directory"}},
)
async def get_institution(
    ctx: Ctx,
    _principal: CurrentPrincipal,
    institution_id: Annotated[str, Path(pattern=INSTITUTION_ID_PATTERN, max_length=64)],
) -> InstitutionPublic:
    """One institution of the directory in force."""
    query = InstitutionQuery(ids=(institution_id,))
    rows = await run_in_threadpool(find_institutions, ctx.engine, query, 1)
    if not rows:
        missing = Said(N_("institution %(id)r is not in the directory"), id=institution_id)
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    return InstitutionPublic.model_validate(rows[0], from_attributes=True)

"""The units a province is offered when it sends a 非本辖区 request elsewhere: its units at
the request's tier across the province that serve the request's category (a specialised
unit for another category would be refused by the directory's check)."""

from __future__ import annotations

from sqlalchemy import Engine

from schemas.domain import Category, Tier
from tierflow.directory import Directory
from tierflow.directory_store import fill_institutions, units_in_province


def test_the_provinces_units_at_the_tier_that_serve_the_category(sqlite_engine: Engine) -> None:
    fill_institutions(sqlite_engine, Directory.load())
    rows = units_in_province(sqlite_engine, "330106", Tier.COUNTY, Category.FINANCING)
    financing = {u.id for u in rows}
    talent = {
        u.id for u in units_in_province(sqlite_engine, "330106", Tier.COUNTY, Category.TALENT)
    }
    assert {"zj-330212-sme", "zj-330106-sme", "zj-330110-fin"} <= financing  # Ningbo too
    assert "zj-330110-fin" not in talent and "zj-330212-sme" in talent  # financing only
    assert len(rows) > 80 and all(u.division_code.startswith("33") for u in rows)  # Zhejiang's
    assert all(u.tier is Tier.COUNTY for u in rows)  # the request's tier only

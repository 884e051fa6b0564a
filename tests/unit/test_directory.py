"""The packaged directory routes every county up the tiers to the right institutions."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from activities.directory import DirectoryActivities
from schemas.domain import Category, Grade, Priority, Tier
from schemas.enterprise import validate_uscc
from schemas.lifecycle import RouteRequest, TargetCheck
from tierflow.directory import Directory, DirectoryEntry, DirectoryError
from tierflow_dev.demo import demo_requests

DIRECTORY = Directory.load()

# Written out by hand so the test does not repeat the routing logic.
CITY_GENERAL = {
    "330100": "zj-330100-sme",
    "330200": "zj-330200-sme",
    "330300": "zj-330300-sme",
    "320500": "js-320500-sme",
}
PROVINCE_GENERAL = {"330000": "zj-330000-sme", "320000": "js-320000-sme"}
SPECIALISED = {
    (Tier.COUNTY, "330110", Category.FINANCING): "zj-330110-fin",
    (Tier.MUNICIPAL, "330100", Category.DIGITAL_TRANSFORMATION): "zj-330100-digital",
    (Tier.MUNICIPAL, "330200", Category.TALENT): "zj-330200-talent",
    (Tier.MUNICIPAL, "330300", Category.OVERSEAS_EXPANSION): "zj-330300-intl",
    (Tier.PROVINCIAL, "330000", Category.FINANCING): "zj-330000-fin",
    (Tier.PROVINCIAL, "330000", Category.TECHNOLOGY_TRANSFER): "zj-330000-tech",
    (Tier.NATIONAL, "000000", Category.CERTIFICATION): "cn-000000-cert",
    (Tier.NATIONAL, "000000", Category.OVERSEAS_EXPANSION): "cn-000000-intl",
}
# No named county office: a generated placeholder serves there (and the city above it is real).
NO_COUNTY_OFFICE = {"330127", "320581"}


def expected(county: str, category: Category, tier: Tier) -> str | None:
    division = {
        Tier.COUNTY: county,
        Tier.MUNICIPAL: county[:4] + "00",
        Tier.PROVINCIAL: county[:2] + "0000",
        Tier.NATIONAL: "000000",
    }[tier]
    if (tier, division, category) in SPECIALISED:
        return SPECIALISED[(tier, division, category)]
    if tier is Tier.COUNTY:
        if county in NO_COUNTY_OFFICE:
            return f"gen-{county}"
        return f"{'zj' if county.startswith('33') else 'js'}-{county}-sme"
    if tier is Tier.MUNICIPAL:
        return CITY_GENERAL[division]
    if tier is Tier.PROVINCIAL:
        return PROVINCE_GENERAL[division]
    return "cn-000000-sme"


# The demo network: the counties of the four cities with named institutions.
COUNTIES = sorted(
    {e.division_code for e in DIRECTORY.entries if e.tier is Tier.COUNTY and not e.generated}
    | NO_COUNTY_OFFICE
)


def test_demo_directory_covers_a_whole_province_network() -> None:
    assert len(COUNTIES) >= 20
    assert {"330102", "330105", "330106", "330110", "330122", "330127"} <= set(COUNTIES)
    for entry in DIRECTORY.entries:
        assert DIRECTORY.division_name(entry.division_code), entry.id


@pytest.mark.parametrize("county", COUNTIES)
def test_every_county_routes_up_every_tier_for_every_category(county: str) -> None:
    for category in Category:
        for tier in Tier:
            found = DIRECTORY.route(county, category, tier)
            want = expected(county, category, tier)
            got = found.id if found else None
            assert got == want, f"{county} {category.value} at {tier.value}: {got} != {want}"
            if found is not None:
                assert found.tier is tier
                assert county.startswith(found.division_code.rstrip("0")) or tier is Tier.NATIONAL


def test_institutions_at_lists_general_and_specialised() -> None:
    ids = {i.id for i in DIRECTORY.institutions_at(Tier.PROVINCIAL, "330000")}
    assert ids == {"zj-330000-sme", "zj-330000-fin", "zj-330000-tech"}
    assert [i.id for i in DIRECTORY.institutions_at(Tier.COUNTY, "330127")] == ["gen-330127"]


def test_tier_must_match_division_code() -> None:
    text = """{"version": "t", "institutions": [
        {"id": "x", "name": "X", "tier": "county", "division_code": "330100"}]}"""
    with pytest.raises(DirectoryError, match=r"institutions\.0.*names a municipal division"):
        Directory.parse(text, "bad.json")


def test_duplicate_ids_and_bad_codes_are_refused() -> None:
    entry = '{"id": "x", "name": "X", "tier": "national", "division_code": "000000"}'
    with pytest.raises(DirectoryError, match="'x' appears more than once"):
        Directory.parse(f'{{"version": "t", "institutions": [{entry}, {entry}]}}')
    bad = '{"version": "t", "institutions": [{"id": "y", "name": "Y", "tier": "county", '
    bad += '"division_code": "33010"}]}'
    with pytest.raises(DirectoryError, match="division_code.*6 digits"):
        Directory.parse(bad)


async def test_resolve_institution_activity() -> None:
    env = ActivityEnvironment()
    acts = DirectoryActivities(DIRECTORY)
    req = RouteRequest(division_code="330106", category=Category.FINANCING, tier=Tier.PROVINCIAL)
    found = await env.run(acts.resolve_institution, req)
    assert found is not None and found.id == "zj-330000-fin"
    none = RouteRequest(division_code="330127", category=Category.TALENT, tier=Tier.COUNTY)
    assert (await env.run(acts.resolve_institution, none)).id == "gen-330127"  # type: ignore[union-attr]
    empty = DirectoryActivities(Directory([]))
    assert await env.run(empty.resolve_institution, none) is None


async def test_a_request_routes_by_the_directory_version_it_pinned() -> None:
    """Current: 2026.2, whose Hangzhou centre moved; a request pinned 2026.1 still routes
    to the 2026.1 centre; an unknown or no version routes by the current directory; a unit
    named for a 改派 or 协办 is checked against the current one."""
    entry = DirectoryEntry(id="hz-old", name="旧", tier=Tier.MUNICIPAL, division_code="330100")
    older = Directory.covering([entry], "2026.1")
    moved = entry.model_copy(update={"id": "hz-new", "name": "新"})
    current = Directory.covering([moved], "2026.2")
    asked: list[str] = []

    def versions(version: str) -> Directory | None:
        asked.append(version)
        return older if version == "2026.1" else None

    acts = DirectoryActivities(current, versions=versions)
    env = ActivityEnvironment()

    async def routed(version: str | None) -> str | None:
        req = RouteRequest(
            division_code="330106",
            category=Category.FINANCING,
            tier=Tier.MUNICIPAL,
            directory_version=version,
        )
        found = await env.run(acts.resolve_institution, req)
        return found.id if found else None

    assert await routed("2026.1") == "hz-old"
    assert await routed("2026.2") == "hz-new" and await routed(None) == "hz-new"
    assert await routed("2025.9") == "hz-new"  # not recorded: the current one
    assert asked == ["2026.1", "2025.9"]  # the current version is never looked up
    check = TargetCheck(
        institution_id="hz-old",
        tier=Tier.MUNICIPAL,
        category=None,
        region_prefix="33",
        directory_version="2026.1",
    )
    # a unit a person names is checked against the current directory, whatever the pin:
    # the unit moved away is refused, the one in its place received
    assert "not in the directory" in ((await env.run(acts.check_target, check)).refusal or "")
    there = check.model_copy(update={"institution_id": "hz-new"})
    assert (await env.run(acts.check_target, there)).institution is not None


def test_demo_requests_are_valid_varied_and_reproducible() -> None:
    requests = demo_requests(200, seed=7)
    assert requests == demo_requests(200, seed=7)
    assert requests != demo_requests(200, seed=8)
    assert len({r.request_id for r in requests}) == 200
    for r in requests:
        assert validate_uscc(r.enterprise.uscc) == r.enterprise.uscc
        assert r.enterprise.uscc[2:8] == r.enterprise.division_code
        assert r.enterprise.division_code in {d.code for d in DIRECTORY.counties()}
        assert r.enterprise.name.endswith("有限公司")
    assert {r.category for r in requests} == set(Category)
    assert {r.priority for r in requests} == set(Priority)
    assert {r.enterprise.grade for r in requests} == set(Grade)
    provinces = {r.enterprise.division_code[:2] for r in requests}
    assert {"33", "44", "51"} <= provinces and len(provinces) >= 20  # several provinces
    in_network = sum(r.enterprise.division_code in COUNTIES for r in requests)
    assert 60 <= in_network <= 140  # about half where the demo caseworkers sit

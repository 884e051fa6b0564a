"""承办人: claim, assign and transfer inside the holding unit, on the real time-skipping server.

The named handler is checked by the real rule of ``check_handler`` over stand-in accounts
(``cw-<institution>`` is a caseworker of that institution).
"""

from __future__ import annotations

from schemas.domain import Role, Tier
from schemas.lifecycle import ActionKind
from schemas.request import Actor
from tests.utils.factories import action, caseworker, supervisor
from tests.workflows.test_lifecycle import act, view
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import dispatch, records


def colleague(institution: str, n: int) -> Actor:
    return Actor(id=f"cw-{institution}-{n}", role=Role.CASEWORKER, institution_id=institution)


async def test_signing_for_makes_the_signer_the_handler(ts_worker, stand_ins) -> None:
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    await act(handle, action(ActionKind.SIGN_FOR, caseworker(county)))
    (signed,) = records(stand_ins, req, "signed_for")
    assert signed.details["handler_id"] == f"cw-{county}"
    assert (await view(handle)).summary.handler_id == f"cw-{county}"


async def test_claim_assign_and_transfer(ts_worker, stand_ins) -> None:
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    first, second = colleague(county, 1), colleague(county, 2)
    stand_ins.accounts |= {first.id: county, second.id: county}
    await act(handle, action(ActionKind.CLAIM, first))
    assert (await view(handle)).summary.handler_id == first.id
    assert f"cannot claim: {first.id} handles it" in await refused(
        handle, action(ActionKind.CLAIM, second)
    )
    assert f"{first.id} handles it, not {second.id}" in await refused(
        handle, action(ActionKind.TRANSFER, second, handler_id=second.id)
    )
    # the handler passes it on; the accounts must know the colleague, in this unit
    elsewhere = "cw-county-999999"  # one answer for another unit's and nobody's name
    for name in (elsewhere, "nobody"):
        said = await refused(handle, action(ActionKind.TRANSFER, first, handler_id=name))
        assert f"{name} is not an enabled caseworker or lead of {county}" in said
        assert "county-999999," not in said
    await act(handle, action(ActionKind.TRANSFER, first, handler_id=second.id))
    assert (await view(handle)).summary.handler_id == second.id

    # the lead (a supervisor over the unit) assigns it to anyone of the unit
    lead = supervisor(Tier.COUNTY, req.enterprise.division_code, county)
    await act(handle, action(ActionKind.ASSIGN_HANDLER, lead, handler_id=first.id))
    changes = records(stand_ins, req, "handler_changed")
    assert [
        (c.details["how"], c.details["previous"], c.details["handler_id"]) for c in changes
    ] == [
        ("claim", None, first.id),
        ("transfer", first.id, second.id),
        ("assign_handler", second.id, first.id),
    ]
    assert "role caseworker may not assign_handler" in await refused(
        handle, action(ActionKind.ASSIGN_HANDLER, second, handler_id=second.id)
    )


async def test_a_new_holder_starts_without_a_handler(ts_worker, stand_ins) -> None:
    _, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    await act(handle, action(ActionKind.CLAIM, caseworker(county)))
    up = await act(handle, action(ActionKind.ESCALATE, caseworker(county), text="需市级协调"))
    assert up.tier is Tier.MUNICIPAL
    state = await view(handle)
    assert state.summary.handler_id is None and state.holds[-2].handler == f"cw-{county}"

"""Lanes: one request's steps run in order, other requests' steps do not wait for them."""

from __future__ import annotations

import asyncio

from workers.ingress.lanes import Lanes


async def test_steps_of_one_key_run_in_order_while_other_keys_go_ahead() -> None:
    lanes = Lanes()
    release = asyncio.Event()
    seen: list[str] = []

    def step(name: str, wait: asyncio.Event | None = None):
        async def run() -> None:
            if wait is not None:
                await wait.wait()
            seen.append(name)

        return run

    lanes.add("a", step("a1", release))
    lanes.add("a", step("a2"))
    done_b = lanes.add("b", step("b1"))
    await asyncio.wait_for(done_b, 5)
    assert seen == ["b1"]  # a1 still blocked, a2 behind it
    assert len(lanes) == 2
    release.set()
    assert await lanes.drain(5)
    assert seen == ["b1", "a1", "a2"]
    assert len(lanes) == 0


async def test_a_failed_step_does_not_block_the_next_one_of_its_key() -> None:
    lanes = Lanes()
    seen: list[str] = []

    async def boom() -> None:
        raise RuntimeError("bug")

    async def fine() -> None:
        seen.append("next")

    first = lanes.add("k", boom)
    lanes.add("k", fine)
    assert await lanes.drain(5)
    assert seen == ["next"] and isinstance(first.exception(), RuntimeError)


async def test_cancel_stops_what_is_still_waiting() -> None:
    lanes = Lanes()
    forever = asyncio.Event()
    task = lanes.add("k", forever.wait)
    assert not await lanes.drain(0.05)
    await lanes.cancel()
    assert task.cancelled() and len(lanes) == 0

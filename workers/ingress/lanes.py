"""One lane per request: a request's commands run one after another, other requests go ahead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable


class Lanes:
    """Chain coroutines by key: each waits for the one queued before it under the same key.

    Keys are request ids, so a request's commands apply in the order they were fetched;
    a lane is forgotten as soon as its last step is done, so memory follows the work in
    flight, not the number of requests ever seen.
    """

    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, key: Hashable, step: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``step()`` after every step queued before it under ``key``."""
        before = self._tails.get(key)
        task = asyncio.create_task(self._after(before, step))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    @staticmethod
    async def _after(
        before: asyncio.Task[None] | None, step: Callable[[], Awaitable[None]]
    ) -> None:
        if before is not None:
            await asyncio.wait({before})
        await step()

    def _forget(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    def __len__(self) -> int:
        """Steps queued or running."""
        return len(self._tasks)

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every step; True if all finished."""
        if not self._tasks:
            return True
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not late

    async def cancel(self) -> None:
        """Cancel what is still queued or running, and wait until it has stopped."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

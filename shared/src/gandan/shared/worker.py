"""A background loop that does its work when woken, with a slow poll as a backstop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

logger = logging.getLogger(__name__)

# Work is announced by a wake-up; the poll only finds what no wake-up announced, so it can be
# slow, and a service with nothing to do asks its database almost nothing.
BACKSTOP_POLL_SECONDS = 60.0
# After a failure (database or broker away) the work is tried again soon, not at the next poll.
RETRY_SECONDS = 1.0


class Wakeable(Protocol):
    """What a handler needs of a worker: to wake it when it stored new work for it."""

    def wake(self) -> None: ...


class PollingWorker:
    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        *,
        poll_seconds: float = BACKSTOP_POLL_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.name = name
        self._step = step
        self._poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New work was stored: do it now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        # Checked on every turn: a library may swallow our CancelledError (PyMongo's
        # cursor loop can end quietly instead), and the worker must stop all the same.
        while not task.cancelling():
            self._wake.clear()
            pause = self._poll_seconds
            try:
                # A step does all the work there is (a batch at a time): no second turn to find none.
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s failed; will try again", self.name)
                pause = self._retry_seconds
            if not task.cancelling():
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives as the wait ends, and the worker never stops.
                try:
                    async with asyncio.timeout(pause):
                        await self._wake.wait()
                except TimeoutError:
                    pass

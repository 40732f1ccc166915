"""A background loop that does a batch of work, then waits for a wake-up or the next poll."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

logger = logging.getLogger(__name__)


class Wakeable(Protocol):
    """What a handler needs of a worker: to wake it when it stored new work for it."""

    def wake(self) -> None: ...


class PollingWorker:
    def __init__(self, name: str, step: Callable[[], Awaitable[int]], *, poll_seconds: float = 1.0) -> None:
        self.name = name
        self._step = step
        self._poll_seconds = poll_seconds
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
            try:
                done = await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s failed; will try again", self.name)
                done = 0
            if done == 0 and not task.cancelling():
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives as the wait ends, and the worker never stops.
                try:
                    async with asyncio.timeout(self._poll_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    pass

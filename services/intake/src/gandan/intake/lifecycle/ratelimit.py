"""Counting attempts so that request codes and phone numbers cannot be guessed by trying."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class AttemptLimit:
    """At most `limit` attempts per key in each window of `window_seconds` (fixed windows).

    In this process's memory: each instance of intake counts on its own, so N instances let N
    times as many through. Windows that ended are forgotten, so memory stays bounded by what
    one window sees."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window = limit, window_seconds
        self._clock = clock
        self._counts: dict[str, tuple[float, int]] = {}  # key → (window start, attempts in it)
        self._next_sweep = clock() + window_seconds

    def attempt(self, key: str) -> int | None:
        """Count an attempt; None if it is allowed, else the seconds until the key may try again."""
        now = self._clock()
        if now >= self._next_sweep:
            self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window}
            self._next_sweep = now + self.window
        started, count = self._counts.get(key, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        self._counts[key] = (started, count + 1)
        if count < self.limit:
            return None
        return max(1, math.ceil(started + self.window - now))

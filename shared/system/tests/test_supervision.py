"""The launcher's supervisor on real child processes: back-off pace, and stop during a wait."""

from __future__ import annotations

import asyncio
import re
import sys
import time

import pytest

from gandan.system.launcher import Backoff, Child, supervise
from gandan.testing import eventually

DIES_AT_ONCE = [sys.executable, "-c", "raise SystemExit(3)"]


def test_backoff_doubles_to_30_s_and_starts_again_at_1_s_after_a_minute_up():
    backoff = Backoff()

    assert [backoff.after(uptime=2) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after(uptime=60) == 1
    assert backoff.after(uptime=5) == 2


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]):
    """Everything the launcher printed so far (captured output accumulates across reads)."""
    seen: list[str] = []

    async def read() -> str:
        seen.append(capsys.readouterr().out)
        return "".join(seen)

    return read


async def test_a_process_that_keeps_dying_is_restarted_at_the_backoff_pace_and_each_death_logged(output):
    child = Child("crashy", DIES_AT_ONCE, {}, json_logs=True)
    stop = asyncio.Event()
    await child.start()
    began = time.monotonic()
    supervisor = asyncio.create_task(supervise(child, stop, Backoff(first=0.05, cap=0.2)))

    try:
        text = await eventually(output, lambda t: t.count("crashy restarted") >= 5, what="five restarts")
    finally:
        stop.set()
        await supervisor
    elapsed = time.monotonic() - began

    deaths = re.findall(r"crashy \(pid \d+\) exited with code 3 after [\d.]+ s up; restarting in ([\d.]+) s", text)
    assert [float(d) for d in deaths[:5]] == [0.05, 0.1, 0.2, 0.2, 0.2]
    assert elapsed >= 0.75, "restarted sooner than the back-off allows"


async def test_stop_during_a_backoff_wait_ends_supervision_at_once_without_a_restart(output):
    child = Child("crashy", DIES_AT_ONCE, {}, json_logs=True)
    stop = asyncio.Event()
    await child.start()
    supervisor = asyncio.create_task(supervise(child, stop, Backoff(first=60)))
    await eventually(output, lambda t: "restarting in 60 s" in t, what="the first death")

    stop.set()
    await asyncio.wait_for(supervisor, timeout=5)

    assert "crashy restarted" not in await output()

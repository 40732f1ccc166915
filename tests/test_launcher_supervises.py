"""`gandan-up` keeps the system running: a service or the embedded database killed with SIGKILL
is restarted and ready again while the others keep running; Ctrl-C still stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

from gandan.system import services as system
from gandan.testing import eventually, launch

SERVICES = system.names()
STARTED = re.compile(r"gandan\s+\| (\w+) (?:re)?started, pid (\d+)")


@dataclass
class System:
    ports: dict[str, int]
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    async def says(self, text: str) -> bool:
        return text in self.output()

    async def started(self, name: str, times: int) -> bool:
        return len(self.pids().get(name, [])) >= times

    def pids(self) -> dict[str, list[int]]:
        """Every pid the launcher started, per process name, in order."""
        started: dict[str, list[int]] = {}
        for name, pid in STARTED.findall(self.output()):
            started.setdefault(name, []).append(int(pid))
        return started

    async def all_ready(self) -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            for port in self.ports.values():
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/health/ready")
                except httpx.TransportError:
                    return False
                if answer.status_code != 200:
                    return False
        return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def launched(service_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[System, subprocess.Popen[bytes]]]:
    """The launcher as `make run` starts it, with its embedded database (no MONGODB_URL)."""
    ports, launcher = launch(service_env, tmp_path, embedded_database=True)
    log = tmp_path / "system.log"
    try:
        yield System(ports, log), launcher
    finally:
        if launcher.poll() is None:
            launcher.kill()  # the test failed before its own Ctrl-C; do not leave the children behind
            for pids in System(ports, log).pids().values():
                for pid in pids:
                    if alive(pid):
                        os.kill(pid, signal.SIGKILL)
            launcher.wait()


async def test_a_killed_service_and_a_killed_database_are_restarted_and_ctrl_c_still_stops_all(launched):
    system, launcher = launched
    # The launcher's own word: before it, a death is a start-up failure and stops everything.
    await eventually(partial(system.says, "gandan   | ready:"), timeout=90, what="the system ready")
    first = system.pids()
    assert set(first) == {"mongo", *SERVICES} and all(len(p) == 1 for p in first.values()), system.output()

    [dispatch] = first["dispatch"]
    os.kill(dispatch, signal.SIGKILL)

    await eventually(partial(system.started, "dispatch", 2), timeout=30, what="dispatch restarted")
    await eventually(system.all_ready, timeout=60, what="dispatch ready again")
    output = system.output()
    assert re.search(rf"dispatch \(pid {dispatch}\) was killed by SIGKILL after [\d.]+ s up; restarting in 1 s", output)
    restarted = system.pids()["dispatch"][1]
    assert restarted != dispatch and alive(restarted)
    for name in ("mongo", "intake", "notify", "audit"):
        assert system.pids()[name] == first[name], f"{name} was restarted too"
        assert alive(first[name][0])

    [database] = first["mongo"]
    os.kill(database, signal.SIGKILL)

    await eventually(partial(system.started, "mongo", 2), timeout=30, what="the database restarted")
    await eventually(system.all_ready, timeout=60, what="every service reaches the database again")
    assert f"mongo (pid {database}) was killed by SIGKILL" in system.output()
    assert {name: pids[-1] for name, pids in system.pids().items() if name != "mongo"} == {
        "dispatch": restarted,
        **{name: first[name][0] for name in ("intake", "notify", "audit")},
    }

    launcher.send_signal(signal.SIGINT)  # what Ctrl-C does
    assert launcher.wait(60) == 0, system.output()[-4000:]
    assert "gandan   | stopped" in system.output()
    assert not [pid for pids in system.pids().values() for pid in pids if alive(pid)]

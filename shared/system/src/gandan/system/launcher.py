"""`gandan-up`: the whole system on one machine, with embedded defaults.

- RabbitMQ at RABBITMQ_URL (default local); a local server that is installed but down is started.
- MongoDB at MONGODB_URL; when unset, SecantusDB is started with its data in `.data/mongo`.
- Secrets (credential signing key, pseudonym key, CCCD key) from the environment, or kept in `.data/secrets.env`.
- Every service's queues declared, then the services (`gandan.system.services`) as separate
  processes; their JSON logs shown as readable lines.
- Once all are ready, a service or the embedded database that dies is restarted after a back-off
  (1 s doubling to 30 s; 1 s again after a minute up), each death and restart logged; the others keep running.
- Ctrl-C (or SIGTERM) stops the services, then the embedded database, cleanly, also during a back-off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from gandan.shared.settings import ServiceSettings
from gandan.system import services as system

DEFAULT_RABBITMQ_URL: str = ServiceSettings.model_fields["rabbitmq_url"].default
DEFAULT_NAMESPACE: str = ServiceSettings.model_fields["namespace"].default
STOP_GRACE_SECONDS = 20.0
_PUMPS: set[asyncio.Task[None]] = set()
_COLOURS = {"intake": 36, "dispatch": 33, "notify": 35, "audit": 32, "mongo": 34, "gandan": 37}


@dataclass
class Backoff:
    """How long to wait before restarting a process that died: doubling up to `cap`, so one
    that keeps dying is retried at a steady pace, never in a hot loop; back to `first`
    after it stayed up `steady` seconds, so a rare crash is not punished for an old one."""

    first: float = 1.0
    cap: float = 30.0
    steady: float = 60.0
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def after(self, uptime: float) -> float:
        """The wait before the next start of a process that died after `uptime` seconds."""
        if uptime >= self.steady:
            self._next = self.first
        delay = self._next
        self._next = min(delay * 2, self.cap)
        return delay


@dataclass
class Launch:
    data_dir: Path
    env: dict[str, str]
    json_logs: bool
    ports: dict[str, int] = field(default_factory=dict)


def _say(source: str, text: str) -> None:
    colour = _COLOURS.get(source, 37)
    prefix = f"\x1b[{colour}m{source:<8}\x1b[0m" if sys.stdout.isatty() else f"{source:<8}"
    print(f"{prefix} | {text}", flush=True)


def _readable(source: str, line: str, json_logs: bool) -> str:
    if json_logs:
        return line
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    extra = {k: v for k, v in entry.items() if k not in {"time", "level", "service", "logger", "message", "error"}}
    text = f"{entry.get('time', '')[11:23]} {entry.get('level', ''):<7} {entry.get('message', '')}"
    if extra:
        text += "  " + " ".join(f"{k}={v}" for k, v in extra.items())
    if "error" in entry:
        text += "\n" + entry["error"]
    return text


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait_until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def ensure_rabbitmq(url: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    if reachable(host, port):
        return
    if host not in {"127.0.0.1", "localhost", "::1"} or shutil.which("rabbitmq-server") is None:
        raise SystemExit(f"RabbitMQ is not reachable at {host}:{port}; set RABBITMQ_URL or start it.")
    _say("gandan", "RabbitMQ is down; starting the local server (rabbitmq-server -detached)")
    subprocess.run(["rabbitmq-server", "-detached"], check=True)
    if not _wait_until(lambda: reachable(host, port), 90):
        raise SystemExit("RabbitMQ did not come up within 90 s")
    if shutil.which("rabbitmqctl"):  # the port opens before the broker has fully booted
        subprocess.run(["rabbitmqctl", "await_startup", "--timeout", "90"], check=False, capture_output=True)


def load_secrets(data_dir: Path, env: dict[str, str]) -> None:
    """Keep generated secrets in the data folder so tokens stay valid across runs."""
    path = data_dir / "secrets.env"
    stored: dict[str, str] = {}
    if path.exists():
        stored = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    for name in ("GANDAN_AUTH_SECRET", "INTAKE_PSEUDONYM_KEY", "INTAKE_CCCD_KEY"):
        if not env.get(name):
            env[name] = stored.setdefault(name, secrets.token_urlsafe(48))
    path.write_text("".join(f"{k}={v}\n" for k, v in stored.items()))
    path.chmod(0o600)


async def _pump(source: str, stream: asyncio.StreamReader, json_logs: bool) -> None:
    async for raw in stream:
        _say(source, _readable(source, raw.decode(errors="replace").rstrip(), json_logs))


async def _start(source: str, argv: list[str], env: dict[str, str], json_logs: bool) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # we stop them ourselves, in order, not all at once from the terminal
    )
    assert process.stdout is not None
    pump = asyncio.create_task(_pump(source, process.stdout, json_logs))
    _PUMPS.add(pump)  # the loop keeps only weak references to tasks
    pump.add_done_callback(_PUMPS.discard)
    return process


@dataclass
class Child:
    """A process the launcher keeps running: how to start it, and the one running now."""

    name: str
    argv: list[str]
    env: dict[str, str]
    json_logs: bool
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0

    async def start(self) -> None:
        verb = "started" if self.process is None else "restarted"
        self.process = await _start(self.name, self.argv, self.env, self.json_logs)
        self.started_at = time.monotonic()
        _say("gandan", f"{self.name} {verb}, pid {self.process.pid}")


def _ending(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        return f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"


async def _unless_stopped(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await `work` unless `stop` is set first (then `work` is cancelled). True if `work` finished."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if stop.is_set() or not task.done():
            task.cancel()
    return not stop.is_set()


async def supervise(child: Child, stop: asyncio.Event, backoff: Backoff) -> None:
    """Restart `child` each time it dies, after the back-off, until `stop` is set."""
    while True:
        assert child.process is not None
        if not await _unless_stopped(child.process.wait(), stop):
            return
        uptime = time.monotonic() - child.started_at
        delay = backoff.after(uptime)
        _say(
            "gandan",
            f"{child.name} (pid {child.process.pid}) {_ending(child.process.returncode or 0)} "
            f"after {uptime:.1f} s up; restarting in {delay:g} s",
        )
        if not await _unless_stopped(asyncio.sleep(delay), stop):
            return
        await child.start()


async def _stop(source: str, process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_GRACE_SECONDS):
            await process.wait()
    except TimeoutError:
        _say("gandan", f"{source} did not stop in {STOP_GRACE_SECONDS:.0f} s; killing it")
        process.kill()
        await process.wait()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as answer:
            status: int = answer.status
    except OSError:
        return False
    return status == 200


async def _all_ready(ports: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        waiting = [p for p in waiting if not await asyncio.to_thread(_ready, p)]
        if waiting:
            await asyncio.sleep(0.25)
    return not waiting


async def run(launch: Launch) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    database: Child | None = None
    services: dict[str, Child] = {}
    supervisors: list[asyncio.Task[None]] = []
    try:
        if not launch.env.get("MONGODB_URL"):
            port = int(launch.env.get("GANDAN_EMBEDDED_MONGO_PORT", "27017"))
            if reachable("127.0.0.1", port):
                raise SystemExit(f"port {port} is taken; set MONGODB_URL or GANDAN_EMBEDDED_MONGO_PORT")
            storage = launch.data_dir / "mongo"
            storage.mkdir(parents=True, exist_ok=True)
            secantus = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or "secantusd-py"
            argv = [secantus, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(storage)]
            argv.append("--sync-on-commit")  # fsync every commit, as mongod does for j:true: survives power loss too
            database = Child("mongo", argv, dict(launch.env), json_logs=True)
            await database.start()
            if not await asyncio.to_thread(_wait_until, lambda: reachable("127.0.0.1", port), 30):
                raise SystemExit("SecantusDB did not start within 30 s")
            launch.env["MONGODB_URL"] = f"mongodb://127.0.0.1:{port}/"
            _say("gandan", f"SecantusDB (embedded MongoDB) on 127.0.0.1:{port}, data in {storage}")

        await system.declare(
            launch.env.get("RABBITMQ_URL", DEFAULT_RABBITMQ_URL), launch.env.get("GANDAN_NAMESPACE", DEFAULT_NAMESPACE)
        )
        for spec in system.SERVICES:
            env = launch.env | {spec.http_port_variable: str(launch.ports[spec.name])}
            argv = [sys.executable, "-m", f"gandan.{spec.name}.app"]
            services[spec.name] = Child(spec.name, argv, env, launch.json_logs)
            await services[spec.name].start()

        ready = asyncio.create_task(_all_ready(list(launch.ports.values()), 60))
        # A death before all are ready is a set-up error (port taken, bad setting): restarting would hide it.
        exited = [asyncio.create_task(c.process.wait()) for c in services.values() if c.process]
        done, _ = await asyncio.wait(
            {ready, asyncio.create_task(stop.wait()), *exited}, return_when=asyncio.FIRST_COMPLETED
        )
        if stop.is_set():
            ready.cancel()
            return 0
        if any(t in done for t in exited):
            ready.cancel()
            _say("gandan", "a service exited during start-up; stopping")
            return 1
        if not ready.result():
            _say("gandan", "a service did not become ready within 60 s; stopping")
            return 1
        urls = ", ".join(f"{n} http://127.0.0.1:{p}" for n, p in launch.ports.items())
        _say(
            "gandan",
            f"ready: {urls}. Credentials: `uv run gandan-credentials issue --service intake --ward 11002 "
            f"--role officer --label NAME` (with the settings in {launch.data_dir / 'secrets.env'}). "
            "Ctrl-C stops everything.",
        )

        # The database too: the services reconnect to it, and would otherwise wait for it forever.
        for child in [*services.values(), *([database] if database else [])]:
            supervisors.append(asyncio.create_task(supervise(child, stop, Backoff()), name=child.name))
        await asyncio.wait({asyncio.create_task(stop.wait()), *supervisors}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            return 0
        for task in supervisors:
            if task.done():  # a restart itself failed (e.g. the program is gone)
                _say("gandan", f"cannot keep {task.get_name()} running: {task.exception()!r}; stopping")
        return 1
    finally:
        stop.set()  # no restart from here on; each supervisor returns at once
        await asyncio.gather(*supervisors, return_exceptions=True)
        _say("gandan", "stopping")
        await asyncio.gather(*(_stop(n, c.process) for n, c in services.items() if c.process))
        if database is not None and database.process is not None:
            await _stop("mongo", database.process)
        _say("gandan", "stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the four Gần Dân services with embedded defaults.")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("GANDAN_DATA_DIR", ".data")))
    parser.add_argument("--json-logs", action="store_true", help="print the services' JSON log lines as they are")
    args = parser.parse_args()

    env = dict(os.environ)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    load_secrets(args.data_dir, env)
    ensure_rabbitmq(env.get("RABBITMQ_URL", DEFAULT_RABBITMQ_URL))
    ports = {s.name: int(env.get(s.http_port_variable, s.default_http_port)) for s in system.SERVICES}
    sys.exit(asyncio.run(run(Launch(args.data_dir.resolve(), env, args.json_logs, ports))))


if __name__ == "__main__":
    main()

"""`gandan-up`: the whole system on one machine, with embedded defaults.

- RabbitMQ at RABBITMQ_URL (default local); a local server that is installed but down is started.
- MongoDB at MONGODB_URL; when unset, SecantusDB is started with its data in `.data/mongo`.
- Secrets (credential signing key, pseudonym key) from the environment, or kept in `.data/secrets.env`.
- The four services as separate processes; their JSON logs shown as readable lines.
- Ctrl-C (or SIGTERM) stops the services, then the embedded database, cleanly.
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

SERVICES = {"intake": 8001, "dispatch": 8002, "notify": 8003, "audit": 8004}
STOP_GRACE_SECONDS = 20.0
_PUMPS: set[asyncio.Task[None]] = set()
_COLOURS = {"intake": 36, "dispatch": 33, "notify": 35, "audit": 32, "mongo": 34, "gandan": 37}


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


def _wait_until(check, seconds: float) -> bool:  # type: ignore[no-untyped-def]
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
    for name in ("GANDAN_AUTH_SECRET", "INTAKE_PSEUDONYM_KEY"):
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
            return answer.status == 200
    except OSError:
        return False


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

    database: asyncio.subprocess.Process | None = None
    services: dict[str, asyncio.subprocess.Process] = {}
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
            database = await _start("mongo", argv, launch.env, json_logs=True)
            if not await asyncio.to_thread(_wait_until, lambda: reachable("127.0.0.1", port), 30):
                raise SystemExit("SecantusDB did not start within 30 s")
            launch.env["MONGODB_URL"] = f"mongodb://127.0.0.1:{port}/"
            _say("gandan", f"SecantusDB (embedded MongoDB) on 127.0.0.1:{port}, data in {storage}")

        for name in SERVICES:
            env = launch.env | {f"{name.upper()}_HTTP_PORT": str(launch.ports[name])}
            services[name] = await _start(name, [sys.executable, "-m", f"gandan.{name}.app"], env, launch.json_logs)

        ready = asyncio.create_task(_all_ready(list(launch.ports.values()), 60))
        exited = [asyncio.create_task(p.wait()) for p in services.values()]
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
            f"ready: {urls}. Credentials: `uv run gandan-token --ward 11002 --role staff` "
            f"(with GANDAN_AUTH_SECRET from {launch.data_dir / 'secrets.env'}). Ctrl-C stops everything.",
        )

        exited_any = asyncio.create_task(asyncio.wait(exited, return_when=asyncio.FIRST_COMPLETED))
        await asyncio.wait({exited_any, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            _say("gandan", "a service exited; stopping the others")
            return 1
        return 0
    finally:
        _say("gandan", "stopping")
        await asyncio.gather(*(_stop(n, p) for n, p in services.items()))
        if database is not None:
            await _stop("mongo", database)
        _say("gandan", "stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the four Gần Dân services with embedded defaults.")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("GANDAN_DATA_DIR", ".data")))
    parser.add_argument("--json-logs", action="store_true", help="print the services' JSON log lines as they are")
    args = parser.parse_args()

    env = dict(os.environ)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    load_secrets(args.data_dir, env)
    ensure_rabbitmq(env.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    ports = {name: int(env.get(f"{name.upper()}_HTTP_PORT", default)) for name, default in SERVICES.items()}
    sys.exit(asyncio.run(run(Launch(args.data_dir.resolve(), env, args.json_logs, ports))))


if __name__ == "__main__":
    main()

"""`gandan-broker-access`: one RabbitMQ user per service, allowed only what that service does.

    gandan-broker-access [--namespace gandan] [--env-file PATH] [--remove]

For each service it creates (or, run again, gives a new password to) the user
`<namespace>-<service>`, with permissions on the namespace's exchanges and on
that service's own queues, and TOPIC permissions on the events exchange: it may
publish only the routing keys of the event types it owns and bind its queue only
to what it consumes; on the retry exchange, only its own name. Before that it
declares the whole topology with the operator's credential (`RABBITMQ_URL`), since
each service may then bind only its own queue.

Passwords are generated here and shown once: printed as `<SERVICE>_RABBITMQ_URL=...`
lines, or written to the file `--env-file` names (mode 0600), which the services'
environment reads. `--remove` deletes the namespace's service users.
Users are managed with `rabbitmqctl`, which must reach the broker's node.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from gandan.shared.events import owned_by
from gandan.shared.topology import Topology
from gandan.system import services as system

_NOTHING = "(?!)"  # a regex no name matches


@dataclass(frozen=True)
class Grant:
    """What one service's broker user may do."""

    user: str
    configure: str
    write: str
    read: str
    topics: dict[str, tuple[str, str]]  # exchange -> (routing keys it may publish, binding keys it may bind)


def _exactly(*names: str) -> str:
    return "^(" + "|".join(re.escape(n) for n in names) + ")$" if names else _NOTHING


def grant_for(topology: Topology, service: str) -> Grant:
    exchanges = (topology.events.name, topology.retry.name, topology.dead_letters.name)
    own_queues = (topology.queue(service).name, topology.dead_letter_queue(service).name)
    # Binding a queue needs write on the queue and read on the exchange; consuming needs read on the queue.
    return Grant(
        user=f"{topology.namespace}-{service}",
        configure=_exactly(*exchanges, *own_queues),
        write=_exactly(*exchanges, *own_queues),
        read=_exactly(*exchanges, topology.queue(service).name),
        topics={
            topology.events.name: (_exactly(*owned_by(service)), _exactly(*system.subscriptions().get(service, ()))),
            topology.retry.name: (_exactly(service), _exactly(service)),
        },
    )


def _ctl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["rabbitmqctl", "--quiet", *args], input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SystemExit(f"rabbitmqctl {args[0]} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _users() -> set[str]:
    return {line.split("\t")[0] for line in _ctl("list_users", "--no-table-headers").splitlines() if line}


def _vhost(admin_url: str) -> str:
    path = urlsplit(admin_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _url_for(admin_url: str, user: str, password: str) -> str:
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def grant(namespace: str, admin_url: str) -> dict[str, str]:
    """Declare the topology, create or update each service's user; returns each service's broker URL."""
    topology = Topology(namespace)
    asyncio.run(system.declare(admin_url, namespace))
    vhost, existing, urls = _vhost(admin_url), _users(), {}
    for service in system.names():
        rule = grant_for(topology, service)
        password = secrets.token_urlsafe(32)
        # The password goes on stdin: a command line is visible to every user of the machine.
        _ctl("change_password" if rule.user in existing else "add_user", rule.user, stdin=password + "\n")
        _ctl("set_permissions", "--vhost", vhost, rule.user, rule.configure, rule.write, rule.read)
        for exchange, (write, read) in rule.topics.items():
            _ctl("set_topic_permissions", "--vhost", vhost, rule.user, exchange, write, read)
        urls[service] = _url_for(admin_url, rule.user, password)
    return urls


def remove(namespace: str) -> list[str]:
    """Delete the namespace's service users; returns those that existed."""
    existing = _users()
    gone = [f"{namespace}-{s}" for s in system.names() if f"{namespace}-{s}" in existing]
    for user in gone:
        _ctl("delete_user", user)
    return gone


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gandan-broker-access", description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespace", default=os.environ.get("GANDAN_NAMESPACE", "gandan"))
    parser.add_argument("--env-file", type=Path, help="write the services' broker URLs here instead of printing them")
    parser.add_argument("--remove", action="store_true", help="delete the namespace's service users")
    args = parser.parse_args(argv)
    if args.remove:
        for user in remove(args.namespace):
            print(f"deleted {user}")
        return
    admin_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    lines = "".join(f"{s.upper()}_RABBITMQ_URL={url}\n" for s, url in grant(args.namespace, admin_url).items())
    if args.env_file is None:
        sys.stdout.write(lines)
        return
    args.env_file.touch(mode=0o600)
    args.env_file.chmod(0o600)  # an existing file keeps its mode on touch
    args.env_file.write_text(lines)
    print(f"wrote the broker URLs of {', '.join(system.names())} to {args.env_file}")


if __name__ == "__main__":
    main()

"""`gandan-credentials issue|list|revoke --service <name>`: the API keys a service accepts.

Staff and systems call the services with API keys, each for one ward and one role
(`gandan.shared.auth`). Each service keeps its keys in its own database, so this command
connects to the database of the service named, with that service's settings (MONGODB_URL,
GANDAN_NAMESPACE and its secrets, as the service runs with). `issue` prints the new key once;
only its hash is stored. `list` shows every key but never a secret. `revoke` takes effect at the
service's next request.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from gandan.shared.auth import KEYED_ROLES, CredentialStore, IssuedKey, Role
from gandan.shared.clock import local, utcnow
from gandan.shared.mongo import connect, database
from gandan.shared.spec import ServiceSpec
from gandan.shared.wards import ward_name
from gandan.system.services import SERVICES, names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Issue, list and revoke the API keys a Gần Dân service accepts.")
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="a new key for one ward and one role; printed once")
    listing = commands.add_parser("list", help="every key of the service, without secrets")
    revoke = commands.add_parser("revoke", help="refuse a key from the service's next request on")
    for command in (issue, listing, revoke):
        command.add_argument("--service", required=True, choices=names())
    issue.add_argument("--ward", required=True, help="official ward code, e.g. 11002")
    issue.add_argument("--role", required=True, choices=[role.value for role in KEYED_ROLES])
    issue.add_argument("--label", required=True, help="who or what holds it, e.g. 'Lê Văn Giang, tư pháp'")
    revoke.add_argument("key_id", help="the key's id, as `list` shows it (the 16 hex digits after gd_)")
    return parser


def _line(key: IssuedKey) -> str:
    state = f"revoked {local(key.revoked_at):%Y-%m-%d %H:%M}" if key.revoked_at else "active"
    return f"{key.key_id}  {key.ward_code}  {key.role.value:12}  {local(key.issued_at):%Y-%m-%d %H:%M}  {state}  {key.label}"


async def _run(args: argparse.Namespace, spec: ServiceSpec, mongodb_url: str, database_name: str) -> int:
    client = connect(mongodb_url)
    try:
        store = CredentialStore(database(client, database_name))
        if args.command == "issue":
            print(await store.issue(ward_code=args.ward, role=Role(args.role), label=args.label, now=utcnow()))
        elif args.command == "list":
            for key in await store.listing():
                print(_line(key))
        else:
            revoked = await store.revoke(args.key_id, utcnow())
            if revoked is None:
                print(f"{spec.name} has no key {args.key_id}", file=sys.stderr)
                return 1
            print(_line(revoked))
        return 0
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "issue":
        if ward_name(args.ward) is None:
            parser.error(f"{args.ward} is not in the official list of wards")
        args.label = args.label.strip()
        if not 0 < len(args.label) <= 100 or not args.label.isprintable():
            parser.error("--label: 1 to 100 printable characters")
    spec = next(s for s in SERVICES if s.name == args.service)
    try:
        settings = spec.settings()
    except ValidationError as error:
        parser.error(f"the settings of {spec.name} (its environment, as the service runs with) are incomplete: {error}")
    sys.exit(asyncio.run(_run(args, spec, settings.mongodb_url, settings.database_name(spec.name))))

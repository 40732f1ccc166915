"""`gandan-roster import|calendar|open-day|routes`: the operator's changes to dispatch's rosters and
calendar, and a ward's planned day as the teams will ride it.

Connects to dispatch's database with dispatch's settings (MONGODB_URL, GANDAN_NAMESPACE, as the
service runs with). Each roster change is stored with its `roster.changed`, which the running
dispatch's outbox relay publishes (its search finds it); the running dispatch reads the change
within DISPATCH_ROSTER_REFRESH_SECONDS. A file with any error changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gandan.dispatch.app import SPEC, DispatchSettings
from gandan.dispatch.decisions import DecisionInvalid, parse_decision
from gandan.dispatch.planning.repository import MongoDayPlans
from gandan.dispatch.repository import MongoRosters
from gandan.dispatch.roster import RosterInvalid, read_roster_folder
from gandan.shared.clock import local
from gandan.shared.events import RosterChange
from gandan.shared.mongo import Document, connect, database
from gandan.shared.outbox import Outbox


class _RunningDispatchPublishes:
    """This command stores events only; the running dispatch's relay publishes them."""

    async def publish(self, envelope: dict[str, Any]) -> None:
        raise AssertionError("the command publishes nothing itself")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Import a ward's roster, enter a year's working calendar.")
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser("import", help="replace a ward's roster with the CSV files of a folder")
    importing.add_argument("--ward", required=True, help="official ward code, e.g. 11002")
    importing.add_argument("folder", type=Path, help="holds can_bo.csv, to_dan_pho.csv and phuong_tien.csv")
    calendar = commands.add_parser("calendar", help="enter (or correct) a year's decision on days off")
    calendar.add_argument("file", type=Path, help="a TOML file like calendars/2026.toml")
    opening = commands.add_parser("open-day", help="the ward opens that day (a weekend, a holiday) for sessions")
    opening.add_argument("--ward", required=True)
    opening.add_argument("day", type=date.fromisoformat, help="YYYY-MM-DD")
    routes = commands.add_parser("routes", help="a ward's day as planned: each team's stops in order")
    routes.add_argument("--ward", required=True)
    routes.add_argument("--day", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    return parser


def routes_text(plan: Document) -> str:
    """A stored day plan for people: times are local."""

    def hour(moment: datetime) -> str:
        return f"{local(moment):%H:%M}"

    lines = [
        f"{plan['ward_code']} {plan['day']}: revision {plan['revision']}, planned {local(plan['planned_at']):%d/%m %H:%M}"
    ]
    for route in plan["routes"]:
        vehicle = route["vehicle_id"] or "own motorbike"
        lines.append(f"{route['team_id']} ({route['vehicle_kind']}, {vehicle}): {len(route['stops'])} stops")
        lines += [
            f"  {hour(s['arrives_from'])}-{hour(s['arrives_until'])}  {s['request_code']}  {s['residential_group']}"
            f"  {s['procedure']}"
            for s in route["stops"]
        ]
    lines.append(f"unassigned: {', '.join(plan['unassigned_requests']) or 'none'}")
    return "\n".join(lines)


async def _run(args: argparse.Namespace, settings: DispatchSettings) -> int:
    client = connect(settings.mongodb_url)
    try:
        db = database(client, settings.database_name(SPEC.name))
        rosters = MongoRosters(db, Outbox(_RunningDispatchPublishes(), db), refresh_after=timedelta(0))
        if args.command == "import":
            roster = read_roster_folder(args.ward, args.folder)
            await rosters.replace(roster, RosterChange.IMPORTED)
            print(
                f"{roster.ward_name}: {len(roster.officers)} staff, {len(roster.groups)} residential groups, "
                f"{len(roster.vehicles)} vehicles imported"
            )
        elif args.command == "calendar":
            decision = parse_decision(args.file.read_text(encoding="utf-8"))
            await rosters.decide(decision)
            print(
                f"{decision.year}: {len(decision.days_off)} days off added, {len(decision.not_days_off)} removed, "
                f"{len(decision.working_days)} make-up working days"
            )
        elif args.command == "open-day":
            await rosters.change(args.ward, lambda r: r.opened_on(args.day), RosterChange.OPENED_ON, str(args.day))
            print(f"{args.ward} opens on {args.day}")
        else:
            plan = await MongoDayPlans(db, Outbox(_RunningDispatchPublishes(), db)).latest(args.ward, args.day)
            if plan is None:
                print(
                    f"{args.ward} {args.day}: not planned yet (at the cut-off the working day before)", file=sys.stderr
                )
                return 1
            print(routes_text(plan))
        return 0
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = DispatchSettings()
    except ValidationError as error:
        parser.error(f"dispatch's settings (its environment, as the service runs with) are incomplete: {error}")
    try:
        sys.exit(asyncio.run(_run(args, settings)))
    except RosterInvalid as invalid:
        print("\n".join(invalid.errors), file=sys.stderr)
        print("nothing imported", file=sys.stderr)
    except (DecisionInvalid, OSError) as error:
        print(f"{error}\nnothing entered", file=sys.stderr)
    except LookupError as error:
        print(error, file=sys.stderr)
    sys.exit(1)

"""A ward's day planned at its cut-off and again when it changes, its service levels and its morning digest:
stored with their events in dispatch's database; the running service publishes them on the real broker.

Visit documents are inserted as the booking stores them (README "A day's routes")."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from gandan.dispatch.app import DispatchSettings, build
from gandan.dispatch.decisions import shipped_decisions
from gandan.dispatch.domain import EVENTS
from gandan.dispatch.planning.handlers import DayPlanning, Planner, PlanningSettings
from gandan.dispatch.planning.repository import MongoDayPlans
from gandan.dispatch.planning.timers import MongoTimers, Timer
from gandan.dispatch.roster import load_roster
from gandan.dispatch.routing.model import DayPlan, DayProblem
from gandan.dispatch.routing.solver import NoFeasiblePlan, solve_day
from gandan.dispatch.routing.travel import GreatCircleTravel
from gandan.shared.clock import LOCAL_TZ, utcnow
from gandan.shared.events import DigestPrepared, LeaderContact, StaffContact, VehicleKind, VisitScheduled, parse_event
from gandan.shared.outbox import Outbox
from gandan.shared.topology import Topology
from gandan.testing import eventually, queued, serving

from .conftest import RelayNotRunning
from .fakes import FakeRosters
from .test_roster_store import roster_command

WARD = "11002"
MONDAY = date(2026, 12, 7)
HALF_DAYS = {"morning": (time(7, 30), time(11, 30)), "afternoon": (time(13, 30), time(17))}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ)


def a_visit(
    id: str,
    day: date,
    *,
    field: str = "ho_tich",
    group: str = "Thanh Xá",
    half_day: str = "morning",
    agreed_at: tuple[int, int] | None = None,
    status: str = "proposed",
    procedure: str = "Đăng ký khai tử",
) -> dict[str, Any]:
    """A visit document of the shape the booking stores."""
    if agreed_at is None:
        starts, ends = (datetime.combine(day, t, tzinfo=LOCAL_TZ) for t in HALF_DAYS[half_day])
    else:
        starts = at(day, *agreed_at)
        ends = starts + timedelta(hours=1)
    return {
        "_id": id,
        "request_code": f"HS-{id}",
        "ward_code": WARD,
        "citizen_ref": f"c-{id}",
        # The officer of its field it was given to (Thạch Khôi has one of each).
        "officer_key": {"ho_tich": "tk-03", "dat_dai": "tk-06", "y_te": "tk-04"}[field],
        "leader_key": f"1:{id}",
        "residential_group": group,
        "procedure": procedure,
        "field": field,
        "day": day.isoformat(),
        "half_day": half_day,
        "starts_at": starts,
        "ends_at": ends,
        "status": status,
        "provisional": False,
        "claims": [f"{WARD}/{id}@{starts.isoformat()}"],
    }


class SolvedHere:
    """The solver in this process, briefly: what RoutePlanner runs in its worker process."""

    async def plan(self, problem: DayProblem) -> DayPlan:
        places = [d.place for d in problem.depots] + [v.place for v in problem.visits]
        tables = {kind: await GreatCircleTravel().table(places, kind) for kind in VehicleKind}
        return solve_day(problem, tables, timedelta(seconds=1))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(at(MONDAY - timedelta(days=3), 16))  # Friday's cut-off


async def day_planning(db: AsyncDatabase[dict[str, Any]], clock: Clock, planner: Planner) -> DayPlanning:
    outbox = Outbox(RelayNotRunning(), db)
    plans = MongoDayPlans(db, outbox)
    await plans.ensure_indexes()
    return DayPlanning(
        rosters=FakeRosters({WARD: load_roster(WARD)}, tuple(shipped_decisions())),
        plans=plans,
        timers=MongoTimers(outbox),
        planner=planner,
        settings=PlanningSettings(visit_within_by_ward={WARD: 3}),
        clock=clock,
    )


@pytest.fixture
async def planning(dispatch_db: AsyncDatabase[dict[str, Any]], clock: Clock) -> DayPlanning:
    return await day_planning(dispatch_db, clock, SolvedHere())


def events_of(document: dict[str, Any], event_type: str, **data: Any) -> list[dict[str, Any]]:
    return [
        entry["event"]["data"]
        for entry in document["outbox"]
        if entry["event"]["type"] == event_type and all(entry["event"]["data"][k] == v for k, v in data.items())
    ]


def stops_of(document: dict[str, Any]) -> dict[str, tuple[str, datetime]]:
    """visit id -> (team, arrival) in a stored plan."""
    return {s["visit_id"]: (r["team_id"], s["arrives_from"]) for r in document["routes"] for s in r["stops"]}


async def test_replanning_a_changed_day_keeps_the_visits_under_way_and_tells_what_changed(planning, dispatch_db, clock):
    visits = dispatch_db["visits"]
    await visits.insert_many(
        [
            a_visit("a", MONDAY, agreed_at=(8, 0)),
            a_visit("b", MONDAY, agreed_at=(10, 0)),
            a_visit("c", MONDAY, field="dat_dai", group="Qua Bộ", half_day="afternoon", status="agreed"),
            # tk-03 alone holds ho_tich, and a permanent residence takes an hour: one of these two is left out.
            a_visit("x", MONDAY, agreed_at=(14, 0), procedure="Đăng ký thường trú"),
            a_visit("y", MONDAY, group="Qua Bộ", agreed_at=(14, 0), procedure="Đăng ký thường trú"),
        ]
    )
    await planning.plan(WARD, MONDAY, firing="cutoff@1")
    first = await dispatch_db["day_plans"].find_one({"_id": f"{WARD}/{MONDAY}"})
    assert first is not None and first["revision"] == 1
    planned = stops_of(first)
    assert {"a", "b", "c"} <= set(planned)
    assert planned["a"][0] == "tk-03" and planned["c"][0] == "tk-06"
    [left_out] = [v for v in ("x", "y") if v not in planned]
    assert first["unassigned"] == [left_out]
    [told] = events_of(first, "visit.unassignable")
    assert told["request_code"] == f"HS-{left_out}"

    # The same firing again (a crash before its timer's mark): nothing new.
    await planning.plan(WARD, MONDAY, firing="cutoff@1")
    again = await dispatch_db["day_plans"].find_one({"_id": f"{WARD}/{MONDAY}"})
    assert again is not None and again["revision"] == 1 and len(again["outbox"]) == len(first["outbox"])

    # Monday 9:00: visit a is under way; c is cancelled, d is agreed for the morning.
    clock.now = at(MONDAY, 9)
    await visits.update_one({"_id": "c"}, {"$set": {"status": "cancelled"}})
    await visits.insert_one(a_visit("d", MONDAY, group="Qua Bộ", status="agreed"))
    await planning.plan(WARD, MONDAY, firing="replanning@2")

    second = await dispatch_db["day_plans"].find_one({"_id": f"{WARD}/{MONDAY}"})
    assert second is not None and second["revision"] == 2
    replanned = stops_of(second)
    assert replanned["a"] == planned["a"]  # under way: same team, same arrival
    assert "c" not in replanned
    assert replanned["d"][0] == "tk-03" and replanned["d"][1] >= clock.now
    routes = {r["team_id"]: r for r in events_of(second, "route.planned", revision=2)}
    assert routes["tk-06"]["stops"] == []  # its only visit was cancelled: its people are told
    # The visit left out was told once, in the first revision.
    assert len(events_of(second, "visit.unassignable")) == 1


async def test_service_levels_are_announced_once_per_request_and_rule(planning, dispatch_db, clock):
    outbox = Outbox(RelayNotRunning(), dispatch_db)
    booked = at(date(2026, 12, 1), 10)  # Tuesday; the ward's visits within 3 working days: Friday 10:00

    async def booked_visit(document: dict[str, Any]) -> None:
        scheduled = VisitScheduled(
            request_code=document["request_code"],
            visit_id=document["_id"],
            starts_at=document["starts_at"],
            ends_at=document["ends_at"],
            residential_group=document["residential_group"],
            procedure=document["procedure"],
            field=document["field"],
            officer=StaffContact(staff_id="tk-03", name="Lê Văn Giang", phone="0587490257"),
            leader=LeaderContact(name="Đông Đức Hợp", roles=("to_truong",), phone="0880675357"),
        )
        event = EVENTS.new(scheduled, ward_code=WARD, correlation_id=uuid4(), occurred_at=booked)
        await outbox.insert(dispatch_db["visits"], document, event)

    await booked_visit(a_visit("p", MONDAY))  # still proposed, and after Friday
    await booked_visit(a_visit("q", date(2026, 12, 3), status="agreed"))  # agreed, in time
    sweep = Timer(f"service_levels/{WARD}", "service_levels", utcnow(), {"ward_code": WARD})

    clock.now = at(date(2026, 12, 2), 9, 59)
    await planning.sweep_service_levels(sweep)
    assert await dispatch_db["service_level_breaches"].count_documents({}) == 0
    clock.now = at(date(2026, 12, 2), 10)
    await planning.sweep_service_levels(sweep)
    clock.now = at(date(2026, 12, 4), 10)
    await planning.sweep_service_levels(sweep)
    await planning.sweep_service_levels(sweep)

    breaches = await dispatch_db["service_level_breaches"].find({}).sort("_id").to_list()
    assert [b["_id"] for b in breaches] == ["HS-p/first_contact", "HS-p/visit_deadline"]
    assert [len(b["outbox"]) for b in breaches] == [1, 1]
    assert breaches[0]["outbox"][0]["event"]["data"]["due_at"] == "2026-12-02T03:00:00Z"
    assert breaches[1]["outbox"][0]["event"]["data"]["due_at"] == "2026-12-04T03:00:00Z"

    # The digest of Monday lists it as late.
    clock.now = at(MONDAY, 7)
    await planning.plan(WARD, MONDAY, firing="cutoff@1")
    fired = await planning.morning_digest(Timer(f"digest/{WARD}", "digest", clock.now, {"ward_code": WARD}))
    [prepared] = fired.events
    data = prepared.data
    assert isinstance(data, DigestPrepared)
    assert (data.day, data.routes, data.visits, data.late) == (MONDAY, 1, 1, ("HS-p",))
    assert fired.next_due == at(date(2026, 12, 8), 7)


@pytest.fixture
def audit_queue(namespace: str) -> str:
    return Topology(namespace).queue("audit").name


async def test_dispatch_plans_the_day_at_start_when_its_cut_off_passed_while_it_was_down_and_replans_it(
    service_settings, dispatch_db, rabbitmq_url, audit_queue, office_day, monkeypatch
):
    monkeypatch.setenv("DISPATCH_PLANNING_SECONDS", "1")
    day = office_day
    await dispatch_db["visits"].insert_many(
        [
            a_visit("a", day, agreed_at=(9, 0)),
            a_visit("b", day, field="dat_dai", group="Qua Bộ", half_day="afternoon"),
            a_visit("c", day, field="y_te", status="agreed"),
        ]
    )
    # The cut-off fell due while dispatch was down.
    due = utcnow() - timedelta(minutes=5)
    await dispatch_db["timers"].insert_one(
        {"_id": f"cutoff/{WARD}", "kind": "cutoff", "due_at": due, "data": {"ward_code": WARD, "day": day.isoformat()}}
    )

    async def published(revision: int) -> list[dict[str, Any]]:
        plan_id = f"{WARD}/{day}"
        await eventually(
            lambda: dispatch_db["day_plans"].find_one({"_id": plan_id, "revision": revision, "unpublished": None}),
            timeout=30,
            what=f"revision {revision} planned and published",
        )
        await asyncio.sleep(0.5)
        return [
            event
            for event in (json.loads(m.body) for m in await queued(rabbitmq_url, audit_queue))
            if parse_event(event).type == "route.planned"
        ]

    async with serving(*build(DispatchSettings())):
        routes = await published(1)
    by_team = {r["data"]["team_id"]: r["data"] for r in routes}
    assert {t: [s["visit_id"] for s in r["stops"]] for t, r in by_team.items()} == {
        "tk-03": ["a"],
        "tk-06": ["b"],
        "tk-04": ["c"],
    }
    assert by_team["tk-04"]["vehicle_kind"] == "xe_o_to_phuong" and by_team["tk-04"]["vehicle_id"] == "tk-xe-01"
    assert all(r["ward_code"] == WARD and r["data"]["revision"] == 1 for r in routes)
    timer = await dispatch_db["timers"].find_one({"_id": f"cutoff/{WARD}"})
    assert timer is not None and timer["due_at"] > utcnow()  # the next cut-off

    # Down again: b is cancelled; at the next start the re-planning sweep finds the day changed.
    await dispatch_db["visits"].update_one({"_id": "b"}, {"$set": {"status": "cancelled"}})
    await dispatch_db["timers"].update_one({"_id": f"replanning/{WARD}"}, {"$set": {"due_at": utcnow()}})
    async with serving(*build(DispatchSettings())):
        routes = await published(2)
    by_team = {r["data"]["team_id"]: r["data"] for r in routes}
    assert set(by_team) == {"tk-03", "tk-04", "tk-06"}
    assert by_team["tk-06"]["stops"] == [] and by_team["tk-06"]["revision"] == 2


async def test_an_operator_reads_a_days_routes_with_local_times(planning, dispatch_db, service_settings):
    await dispatch_db["visits"].insert_many(
        [a_visit("a", MONDAY, agreed_at=(9, 0)), a_visit("b", MONDAY, group="Nonexistent", status="agreed")]
    )
    await planning.plan(WARD, MONDAY, firing="cutoff@1")

    shown = roster_command(service_settings, "routes", "--ward", WARD, "--day", MONDAY.isoformat())
    missing = roster_command(service_settings, "routes", "--ward", WARD, "--day", "2026-12-08")

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"{WARD} {MONDAY}: revision 1, planned 04/12 16:00")
    assert "tk-03 (xe_may, own motorbike): 1 stops" in lines
    assert any(line.startswith("  09:00-") and "HS-a  Thanh Xá  Đăng ký khai tử" in line for line in lines)
    assert lines[-1] == "unassigned: HS-b"
    assert missing.returncode == 1 and "not planned yet" in missing.stderr


async def test_a_plan_the_solver_gets_wrong_is_not_published_nor_solved_again_at_once(dispatch_db, clock):
    class Broken:
        async def plan(self, problem: DayProblem) -> DayPlan:
            raise NoFeasiblePlan("a trip breaks a window or its shift")

    planning = await day_planning(dispatch_db, clock, Broken())
    await dispatch_db["visits"].insert_one(a_visit("a", MONDAY, agreed_at=(9, 0)))
    cutoff = Timer(f"cutoff/{WARD}", "cutoff", clock.now, {"ward_code": WARD, "day": MONDAY.isoformat()})

    fired = await planning.at_cutoff(cutoff)

    assert await dispatch_db["day_plans"].count_documents({}) == 0
    assert fired.next_due == at(MONDAY, 16)  # the timer moves on to its next cut-off


async def test_what_planning_reads_of_the_visits_goes_through_indexes_not_a_scan(planning, dispatch_db):
    # The service-level sweep reads a ward's visits ending after a moment, hourly: a scan would read
    # every visit ever booked (the bench's round with past requests found it). The fixture made the indexes.
    for query in (
        {"ward_code": WARD, "ends_at": {"$gt": at(MONDAY, 0)}},
        {"ward_code": WARD, "day": MONDAY.isoformat()},
    ):
        explained = await dispatch_db.command("explain", {"find": "visits", "filter": query})
        assert "COLLSCAN" not in str(explained["queryPlanner"]["winningPlan"]), query

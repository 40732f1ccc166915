"""dispatch: assigns outreach staff and proposes home visits. Composition only."""

from __future__ import annotations

from datetime import time, timedelta

import httpx
from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gandan.dispatch.api import roster_router
from gandan.dispatch.decisions import shipped_decisions
from gandan.dispatch.handlers import (
    OneBookingAtATime,
    agree_appointment,
    announce_served_wards,
    answer_staff_reply,
    cancel_visit,
    replace_who_cannot_go,
    schedule_home_visit,
)
from gandan.dispatch.planning.handlers import DayPlanning, PlanningSettings
from gandan.dispatch.planning.repository import MongoDayPlans
from gandan.dispatch.planning.timers import MongoTimers
from gandan.dispatch.repository import MongoRosters, MongoVisits
from gandan.dispatch.roster import load_roster, shipped_wards
from gandan.dispatch.routing.osrm import OsrmTravel
from gandan.dispatch.routing.solver import RoutePlanner
from gandan.dispatch.routing.travel import GreatCircleTravel
from gandan.shared.clock import utcnow
from gandan.shared.events import (
    AppointmentAgreed,
    DigestPrepared,
    RequestCancelled,
    RequestRegistered,
    RosterChanged,
    RoutePlanned,
    ServiceLevelBreached,
    StaffReplied,
    VehicleKind,
    VisitRescheduled,
    VisitScheduled,
    VisitUnassignable,
    WardsServed,
)
from gandan.shared.service import Service, run
from gandan.shared.settings import ServiceSettings
from gandan.shared.spec import ServiceSpec

# A table of a day's places; planning falls back to estimates rather than wait longer.
_OSRM_TIMEOUT = 20.0


class DispatchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DISPATCH_")

    http_port: int = 8002
    # Two hours: time for the messages to reach the citizen, the officer and the group leader,
    # for the officer to take the papers and cross the ward, and for the citizen to gather
    # documents; short enough that a morning request is still visited the same afternoon.
    min_lead_minutes: int = Field(120, ge=0, le=7 * 24 * 60)
    # How long a roster and the calendar are read from memory: a change through this process's API
    # is seen at once; one made elsewhere (the operator's command, another dispatch) within this.
    roster_refresh_seconds: int = Field(60, ge=1, le=24 * 60 * 60)
    # README "A day's routes".
    planning_cutoff: time = Field(time(16), description="local time, the working day before, the next day is planned")
    planning_seconds: float = Field(10.0, gt=0, le=600, description="the solver's time for one ward's day")
    # Road travel times for planning from an OSRM server; unset, the offline estimate (README "Route planning").
    osrm_url: str = ""
    # The OSRM profile per vehicle kind: a motorbike profile is not among OSRM's defaults.
    osrm_profiles: dict[VehicleKind, str] = Field(
        default_factory=lambda: {VehicleKind.MOTORBIKE: "motorbike", VehicleKind.WARD_CAR: "driving"}
    )
    replan_check_minutes: int = Field(10, ge=1, le=24 * 60)
    service_level_sweep_minutes: int = Field(60, ge=1, le=24 * 60)
    visit_within_working_days: int = Field(5, ge=1, le=60)
    # Per ward code, overriding visit_within_working_days: {"11002": 3}.
    visit_within_working_days_by_ward: dict[str, int] = Field(default_factory=dict)
    digest_at: time = Field(time(7), description="local time of the morning digest, each working day")

    def planning(self) -> PlanningSettings:
        return PlanningSettings(
            cutoff=self.planning_cutoff,
            digest_at=self.digest_at,
            replan_check=timedelta(minutes=self.replan_check_minutes),
            service_level_sweep=timedelta(minutes=self.service_level_sweep_minutes),
            visit_within_working_days=self.visit_within_working_days,
            visit_within_by_ward=self.visit_within_working_days_by_ward,
        )


SPEC = ServiceSpec(
    name="dispatch",
    settings=DispatchSettings,
    produces=(
        VisitScheduled,
        RosterChanged,
        WardsServed,
        RoutePlanned,
        VisitUnassignable,
        # Declared ahead of the booking's publishing it (issue 9, item 5), for notify's letters.
        VisitRescheduled,
        ServiceLevelBreached,
        DigestPrepared,
    ),
    handlers={
        RequestRegistered.event_type: schedule_home_visit,
        AppointmentAgreed.event_type: agree_appointment,
        RequestCancelled.event_type: cancel_visit,
        StaffReplied.event_type: answer_staff_reply,
        # Its own: a leave marked replaces the visits it touches (handlers.replace_who_cannot_go).
        RosterChanged.event_type: replace_who_cannot_go,
    },
)


def build(settings: DispatchSettings | None = None) -> tuple[Service, FastAPI]:
    settings = settings or DispatchSettings()
    service = Service(SPEC, settings)
    outbox = service.outbox()
    repository = MongoVisits(service.database, outbox)
    rosters = MongoRosters(service.database, outbox, refresh_after=timedelta(seconds=settings.roster_refresh_seconds))
    timers = MongoTimers(outbox)
    plans = MongoDayPlans(service.database, outbox)
    road = httpx.AsyncClient(base_url=settings.osrm_url, timeout=_OSRM_TIMEOUT) if settings.osrm_url else None
    travel = GreatCircleTravel() if road is None else OsrmTravel(road, profiles=settings.osrm_profiles)
    planner = RoutePlanner(travel, time_limit=timedelta(seconds=settings.planning_seconds))
    planning = DayPlanning(
        rosters=rosters, plans=plans, timers=timers, planner=planner, settings=settings.planning(), clock=utcnow
    )
    service.on_startup(repository.ensure_indexes)
    service.on_startup(timers.ensure_indexes)
    service.on_startup(plans.ensure_indexes)

    async def seed_and_announce() -> None:
        # On a first start `make run` works: the shipped rosters and years, where the store has none.
        await rosters.seed([load_roster(ward) for ward in shipped_wards()], shipped_decisions())
        served = await rosters.wards()
        await announce_served_wards(served, repository=repository, clock=utcnow)
        await planning.arm(served)

    async def stop_planner() -> None:
        planner.close()
        if road is not None:
            await road.aclose()

    service.on_startup(seed_and_announce)
    service.worker(timers.run)
    service.on_shutdown(stop_planner)
    service.consume(
        rosters=rosters,
        repository=repository,
        clock=utcnow,
        min_lead=timedelta(minutes=settings.min_lead_minutes),
        # Most officers ride their own motorbike (seed 003 §3).
        travel=GreatCircleTravel().between(VehicleKind.MOTORBIKE),
        one_at_a_time=OneBookingAtATime(),
    )
    return service, service.http_app(roster_router(rosters))


def main() -> None:
    run(*build())


if __name__ == "__main__":
    main()

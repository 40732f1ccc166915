"""dispatch: assigns outreach staff and proposes home visits. Composition only."""

from __future__ import annotations

from datetime import timedelta

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
from gandan.dispatch.repository import MongoRosters, MongoVisits
from gandan.dispatch.roster import load_roster, shipped_wards
from gandan.dispatch.routing.model import VehicleKind
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
    VisitRescheduled,
    VisitScheduled,
    VisitUnassignable,
    WardsServed,
)
from gandan.shared.service import Service, run
from gandan.shared.settings import ServiceSettings
from gandan.shared.spec import ServiceSpec


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


SPEC = ServiceSpec(
    name="dispatch",
    settings=DispatchSettings,
    # The planned day's types: declared ahead of dispatch's publishing them (issue 9), for notify's letters.
    produces=(
        VisitScheduled,
        RosterChanged,
        WardsServed,
        RoutePlanned,
        VisitUnassignable,
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
    service.on_startup(repository.ensure_indexes)

    async def seed_and_announce() -> None:
        # On a first start `make run` works: the shipped rosters and years, where the store has none.
        await rosters.seed([load_roster(ward) for ward in shipped_wards()], shipped_decisions())
        await announce_served_wards(await rosters.wards(), repository=repository, clock=utcnow)

    service.on_startup(seed_and_announce)
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

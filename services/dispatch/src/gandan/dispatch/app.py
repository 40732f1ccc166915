"""dispatch: assigns outreach staff and books home visits. Composition only."""

from __future__ import annotations

from datetime import timedelta
from functools import cache, partial

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gandan.dispatch.domain import WorkingCalendar
from gandan.dispatch.handlers import OneBookingAtATime, announce_served_wards, schedule_home_visit
from gandan.dispatch.repository import MongoVisits
from gandan.dispatch.roster import load_roster, served_wards
from gandan.shared.clock import utcnow
from gandan.shared.events import RequestRegistered, VisitScheduled, WardsServed
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


SPEC = ServiceSpec(
    name="dispatch",
    settings=DispatchSettings,
    produces=(VisitScheduled, WardsServed),
    handlers={RequestRegistered.event_type: schedule_home_visit},
)


def build(settings: DispatchSettings | None = None) -> tuple[Service, FastAPI]:
    settings = settings or DispatchSettings()
    service = Service(SPEC, settings)
    repository = MongoVisits(service.database, service.outbox())
    service.on_startup(repository.ensure_indexes)
    service.on_startup(partial(announce_served_wards, served=served_wards, repository=repository, clock=utcnow))
    service.consume(
        rosters=cache(load_roster),
        calendar=WorkingCalendar(),
        repository=repository,
        clock=utcnow,
        min_lead=timedelta(minutes=settings.min_lead_minutes),
        one_at_a_time=OneBookingAtATime(),
    )
    return service, service.http_app()


def main() -> None:
    run(*build())


if __name__ == "__main__":
    main()

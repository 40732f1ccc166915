"""intake: the front door. Composition only."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from gandan.intake.api import home_requests_router
from gandan.intake.cccd import CccdCipher
from gandan.intake.handlers import record_visit_rescheduled, record_visit_scheduled, record_wards_served
from gandan.intake.lifecycle.api import CitizenLimits, lifecycle_router
from gandan.intake.lifecycle.domain import LIFECYCLE_EVENTS
from gandan.intake.lifecycle.repository import MongoRequestLifecycle
from gandan.intake.repository import MongoHomeRequests, MongoServedWards
from gandan.shared.events import (
    ContactRegistered,
    RequestRegistered,
    VisitRescheduled,
    VisitScheduled,
    WardsServed,
)
from gandan.shared.service import Service, run
from gandan.shared.settings import ServiceSettings
from gandan.shared.spec import ServiceSpec


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_")

    http_port: int = 8001
    # Keys the citizen pseudonyms; rotating it changes every citizen_ref.
    pseudonym_key: SecretStr = Field(min_length=32)
    # Seals the citizen ID numbers kept; without it they cannot be read back.
    cccd_key: SecretStr = Field(min_length=32)
    # Citizens' look-ups and survey answers (no credential), counted together: README "Citizens".
    citizen_attempts_per_code_per_hour: int = Field(default=10, ge=1)
    citizen_attempts_per_client_per_minute: int = Field(default=10, ge=1)


SPEC = ServiceSpec(
    name="intake",
    settings=IntakeSettings,
    produces=(ContactRegistered, RequestRegistered, *LIFECYCLE_EVENTS),
    handlers={
        VisitScheduled.event_type: record_visit_scheduled,
        VisitRescheduled.event_type: record_visit_rescheduled,
        WardsServed.event_type: record_wards_served,
    },
)


def build(settings: IntakeSettings | None = None) -> tuple[Service, FastAPI]:
    settings = settings or IntakeSettings()
    service = Service(SPEC, settings)
    outbox = service.outbox()
    repository = MongoHomeRequests(outbox, CccdCipher(settings.cccd_key.get_secret_value().encode()))
    served = MongoServedWards(service.database)
    service.on_startup(repository.ensure_indexes)
    service.on_startup(served.load)
    service.consume(repository=repository, served=served)
    pseudonym_key = settings.pseudonym_key.get_secret_value().encode()
    lifecycle = MongoRequestLifecycle(outbox, repository.collection)
    limits = CitizenLimits(settings.citizen_attempts_per_code_per_hour, settings.citizen_attempts_per_client_per_minute)
    return service, service.http_app(
        home_requests_router(repository, served, pseudonym_key), lifecycle_router(lifecycle, limits)
    )


def main() -> None:
    run(*build())


if __name__ == "__main__":
    main()

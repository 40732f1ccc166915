"""audit: every event kept as evidence. Composition only."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from gandan.audit.api import evidence_router
from gandan.audit.handlers import record_evidence
from gandan.audit.repository import MongoEvidenceLog
from gandan.shared.service import Service, run
from gandan.shared.settings import ServiceSettings
from gandan.shared.spec import ServiceSpec
from gandan.shared.topology import ALL_EVENTS


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_")

    http_port: int = 8004


# Keeps evidence of every event, even one without a contract (which it dead-letters).
SPEC = ServiceSpec(name="audit", settings=AuditSettings, produces=(), handlers={ALL_EVENTS: record_evidence})


def build(settings: AuditSettings | None = None) -> tuple[Service, FastAPI]:
    settings = settings or AuditSettings()
    service = Service(SPEC, settings)
    repository = MongoEvidenceLog(service.database)
    service.on_startup(repository.ensure_indexes)
    service.consume(repository=repository)
    return service, service.http_app(evidence_router(repository))


def main() -> None:
    run(*build())


if __name__ == "__main__":
    main()

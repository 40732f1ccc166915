"""notify: messages to citizens and staff. Composition only."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from gandan.notify.api import messages_router
from gandan.notify.channels import SandboxChannel
from gandan.notify.handlers import prepare_visit_messages, remember_contact, send_due_messages
from gandan.notify.repository import MongoMessages
from gandan.shared.events import ContactRegistered, NotificationFailed, NotificationSent, VisitScheduled
from gandan.shared.service import Service, run
from gandan.shared.settings import ServiceSettings
from gandan.shared.spec import ServiceSpec
from gandan.shared.worker import PollingWorker


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_")

    http_port: int = 8003


SPEC = ServiceSpec(
    name="notify",
    settings=NotifySettings,
    produces=(NotificationSent, NotificationFailed),
    handlers={ContactRegistered.event_type: remember_contact, VisitScheduled.event_type: prepare_visit_messages},
)


def build(settings: NotifySettings | None = None) -> tuple[Service, FastAPI]:
    settings = settings or NotifySettings()
    service = Service(SPEC, settings)
    repository = MongoMessages(service.database, service.outbox())
    service.on_startup(repository.ensure_indexes)
    channel = SandboxChannel()
    # Woken by each visit's messages; the poll finds retries coming due (the first after 60 s).
    sender = PollingWorker(
        "message sender", partial(send_due_messages, repository=repository, channel=channel), poll_seconds=30
    )
    service.worker(sender.run)
    service.consume(repository=repository, channel=channel, sender=sender)
    return service, service.http_app(messages_router(repository))


def main() -> None:
    run(*build())


if __name__ == "__main__":
    main()

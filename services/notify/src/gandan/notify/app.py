"""notify: messages to citizens and staff. Composition only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import time, timedelta
from typing import Literal
from uuid import uuid4

import httpx
from fastapi import FastAPI
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from pymongo.asynchronous.database import AsyncDatabase

from gandan.notify.api import messages_router, preferences_router, receipts_router, replies_router
from gandan.notify.channels import (
    Channels,
    DevelopmentChannel,
    EsmsChannel,
    MessageChannel,
    SpeedSmsChannel,
    TokenPair,
    ZaloAccessToken,
    ZnsChannel,
)
from gandan.notify.domain import Policy, QuietHours
from gandan.notify.handlers import (
    Sender,
    prepare_breach_messages,
    prepare_digest_messages,
    prepare_progress_letter,
    prepare_rescheduled_messages,
    prepare_route_messages,
    prepare_unassignable_messages,
    prepare_visit_messages,
    remember_contact,
)
from gandan.notify.repository import MinuteRateLimit, MongoMessages, MongoZaloTokens
from gandan.shared.clock import utcnow
from gandan.shared.events import (
    AppointmentAgreed,
    ContactRegistered,
    DigestPrepared,
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    RequestClosed,
    RequestOverdue,
    ResultDelivered,
    ResultReady,
    RoutePlanned,
    ServiceLevelBreached,
    StaffReplied,
    VisitRescheduled,
    VisitScheduled,
    VisitUnassignable,
)
from gandan.shared.mongo import Document
from gandan.shared.service import Service, run
from gandan.shared.settings import ServiceSettings
from gandan.shared.spec import ServiceSpec
from gandan.shared.worker import PollingWorker

HTTP_TIMEOUT = httpx.Timeout(10.0)
SPEEDSMS_PER_MINUTE = 60


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_")

    http_port: int = 8003
    # Zalo ZNS: unset, no ZNS. `zns_templates` maps our template (`id.vN`) to the id Zalo approved.
    zns_url: str | None = None  # https://business.openapi.zalo.me
    zns_access_token: SecretStr | None = None
    # With these, the token pair is stored and refreshed before it expires (one replica at a time);
    # the settings' pair is used the first time only.
    zns_refresh_token: SecretStr | None = None
    zns_oauth_url: str = "https://oauth.zaloapp.com"
    zns_templates: dict[str, str] = Field(default_factory=dict)
    zns_development_mode: bool = False  # Zalo's sandbox: only the OA's administrators receive
    zns_app_secret: SecretStr | None = None  # the app's secret key: refreshes tokens, checks the webhook
    zns_app_id: str = ""
    zns_receipt_wait_seconds: float = 600  # no receipt by then: SMS follows
    # SMS: unset, messages go to the development channel (kept, never delivered).
    sms_provider: Literal["esms", "speedsms"] | None = None
    esms_url: str = "https://rest.esms.vn"
    esms_api_key: SecretStr | None = None
    esms_secret_key: SecretStr | None = None
    esms_brandname: str = ""
    esms_sandbox: bool = False
    esms_callback_url: str | None = None  # ours, with ?secret=<esms_callback_secret>
    esms_callback_secret: SecretStr | None = None
    speedsms_url: str = "https://api.speedsms.vn"
    speedsms_token: SecretStr | None = None
    speedsms_sender: str = ""
    # Quiet hours for citizens, local time, as "21:00-07:00"; "" for none.
    quiet_hours: str = "21:00-07:00"
    urgent_templates: dict[str, list[str]] = Field(
        default_factory=dict
    )  # ward code → template ids sent in quiet hours too
    unaccented_sms_wards: list[str] = Field(default_factory=list)
    # ward code → the centre's phone, which an agreed appointment gives when no officer is known yet.
    centre_phones: dict[str, str] = Field(default_factory=dict)
    # The page where citizens answer the satisfaction survey (it posts to intake's /v1/survey); unset,
    # a closed request gets no survey invitation.
    survey_url: str | None = None


SPEC = ServiceSpec(
    name="notify",
    settings=NotifySettings,
    produces=(NotificationSent, NotificationFailed, NotificationDelivered, StaffReplied),
    handlers={
        ContactRegistered.event_type: remember_contact,
        VisitScheduled.event_type: prepare_visit_messages,
        # The letters of a request's progress, to its citizen.
        AppointmentAgreed.event_type: prepare_progress_letter,
        ResultReady.event_type: prepare_progress_letter,
        ResultDelivered.event_type: prepare_progress_letter,
        RequestOverdue.event_type: prepare_progress_letter,
        RequestClosed.event_type: prepare_progress_letter,
        # The letters of dispatch's planned day.
        RoutePlanned.event_type: prepare_route_messages,
        VisitUnassignable.event_type: prepare_unassignable_messages,
        VisitRescheduled.event_type: prepare_rescheduled_messages,
        ServiceLevelBreached.event_type: prepare_breach_messages,
        DigestPrepared.event_type: prepare_digest_messages,
    },
)


def policy_of(settings: NotifySettings) -> Policy:
    quiet = None
    if settings.quiet_hours:
        start, end = (time.fromisoformat(part.strip()) for part in settings.quiet_hours.split("-"))
        quiet = QuietHours(start, end)
    return Policy(
        quiet_hours=quiet,
        urgent={ward: frozenset(ids) for ward, ids in settings.urgent_templates.items()},
        unaccented_wards=frozenset(settings.unaccented_sms_wards),
        centre_phones=settings.centre_phones,
        survey_url=settings.survey_url,
    )


def channels_of(settings: NotifySettings, repository: MongoMessages, database: AsyncDatabase[Document]) -> Channels:
    """ZNS first where configured, then the SMS provider; the development channel when neither is."""
    route: list[MessageChannel] = []
    clients: list[httpx.AsyncClient] = []

    def client(base_url: str, **options: object) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT, **options))  # type: ignore[arg-type]
        return clients[-1]

    if settings.zns_url and settings.zns_access_token:
        route.append(
            ZnsChannel(
                client(settings.zns_url),
                access_token=zalo_token(settings, database, client),
                templates=settings.zns_templates,
                development=settings.zns_development_mode,
            )
        )
    if settings.sms_provider == "esms" and settings.esms_api_key and settings.esms_secret_key:
        route.append(
            EsmsChannel(
                client(settings.esms_url),
                api_key=settings.esms_api_key.get_secret_value(),
                secret_key=settings.esms_secret_key.get_secret_value(),
                brandname=settings.esms_brandname,
                callback_url=settings.esms_callback_url,
                sandbox=settings.esms_sandbox,
            )
        )
    elif settings.sms_provider == "speedsms" and settings.speedsms_token:
        route.append(
            SpeedSmsChannel(
                client(settings.speedsms_url, auth=(settings.speedsms_token.get_secret_value(), "x")),
                sender=settings.speedsms_sender,
                limit=MinuteRateLimit(repository, "speedsms", SPEEDSMS_PER_MINUTE),
                clock=utcnow,
            )
        )
    return Channels(route or [DevelopmentChannel()], clients)


def zalo_token(
    settings: NotifySettings, database: AsyncDatabase[Document], client: Callable[[str], httpx.AsyncClient]
) -> Callable[[], Awaitable[str]]:
    """The access token: as configured, or, with a refresh token and the app's secret, refreshed in turn."""
    assert settings.zns_access_token is not None
    configured = settings.zns_access_token.get_secret_value()
    if not (settings.zns_refresh_token and settings.zns_app_secret and settings.zns_app_id):

        async def fixed() -> str:
            return configured

        return fixed
    store = MongoZaloTokens(database)
    refresh_before = timedelta(hours=1)
    # Its age unknown, the configured token is refreshed at its first use, and serves an hour meanwhile.
    first = TokenPair(configured, settings.zns_refresh_token.get_secret_value(), utcnow() + refresh_before)
    return ZaloAccessToken(
        client(settings.zns_oauth_url),
        store,
        app_id=settings.zns_app_id,
        secret_key=settings.zns_app_secret.get_secret_value(),
        clock=utcnow,
        owner=uuid4().hex,
        first=first,
        refresh_before=refresh_before,
    )


def build(settings: NotifySettings | None = None) -> tuple[Service, FastAPI]:
    settings = settings or NotifySettings()
    service = Service(SPEC, settings)
    repository = MongoMessages(service.database, service.outbox())
    service.on_startup(repository.ensure_indexes)
    # The HTTP clients are made here, opened by their first request, closed at stop.
    channels = channels_of(settings, repository, service.database)
    service.on_shutdown(channels.close)
    sender = Sender(
        repository,
        channels,
        policy_of(settings),
        receipt_wait=timedelta(seconds=settings.zns_receipt_wait_seconds),
    )
    # Woken by each visit's messages; the poll finds retries coming due.
    worker = PollingWorker("message sender", sender.step, poll_seconds=30)
    sender.on_hand(worker.wake)
    service.worker(worker.run)
    service.consume(repository=repository, sender=sender, policy=sender.policy)
    receipts = receipts_router(
        repository,
        sender,
        zalo_app_id=settings.zns_app_id,
        zalo_secret=_secret(settings.zns_app_secret),
        esms_secret=_secret(settings.esms_callback_secret),
    )
    replies = replies_router(repository, sender, esms_secret=_secret(settings.esms_callback_secret))
    return service, service.http_app(messages_router(repository), preferences_router(repository), receipts, replies)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def main() -> None:
    run(*build())


if __name__ == "__main__":
    main()

"""Settings from the environment.

Connection settings have one name for every service (`RABBITMQ_URL`, `MONGODB_URL`,
`GANDAN_*`); a service's own settings carry its prefix (`INTAKE_HTTP_PORT`, ...).
The broker URL is both: `INTAKE_RABBITMQ_URL` (the service's own credential, made
by `gandan-broker-access`) comes before the shared `RABBITMQ_URL`, whose `guest`
user is for the embedded default only.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def _shared(name: str) -> AliasChoices:
    return AliasChoices(name)


class _OwnBrokerUrl(PydanticBaseSettingsSource):
    """`<PREFIX>RABBITMQ_URL`: the service's own broker credential, when the operator gave it one."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = self.config.get("env_prefix") or ""
        url = os.environ.get(f"{prefix}RABBITMQ_URL") if prefix else None
        return {"RABBITMQ_URL": url, "own_broker_credentials": True} if url else {}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    rabbitmq_url: str = Field("amqp://guest:guest@127.0.0.1:5672/", validation_alias=_shared("RABBITMQ_URL"))
    # Set with `<PREFIX>RABBITMQ_URL`: that credential may declare only the service's own queues.
    own_broker_credentials: bool = Field(False, validation_alias=AliasChoices("own_broker_credentials"))
    mongodb_url: str = Field("mongodb://127.0.0.1:27017/", validation_alias=_shared("MONGODB_URL"))
    namespace: str = Field(
        "gandan",
        pattern=r"^[a-z][a-z0-9_-]{0,40}$",
        validation_alias=_shared("GANDAN_NAMESPACE"),
        description="Prefix of exchange, queue and database names; tests use their own.",
    )
    auth_secret: SecretStr = Field(validation_alias=_shared("GANDAN_AUTH_SECRET"), min_length=32)
    log_level: str = Field("INFO", validation_alias=_shared("GANDAN_LOG_LEVEL"))
    prefetch: int = Field(16, ge=1, le=1000, validation_alias=_shared("GANDAN_PREFETCH"))
    max_delivery_attempts: int = Field(5, ge=1, le=50, validation_alias=_shared("GANDAN_MAX_DELIVERY_ATTEMPTS"))
    # How long an event may wait for a temporary failure to pass (database or broker away, an earlier
    # event not handled yet) before it is dead-lettered: long enough for a database restore.
    max_wait_seconds: float = Field(3600, gt=0, validation_alias=_shared("GANDAN_MAX_WAIT_SECONDS"))

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    database: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _OwnBrokerUrl(settings_cls), env_settings, dotenv_settings, file_secret_settings)

    def database_name(self, service: str) -> str:
        return self.database or f"{self.namespace}_{service}"

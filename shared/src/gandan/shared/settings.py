"""Settings from the environment.

Connection settings have one name for every service (`RABBITMQ_URL`, `MONGODB_URL`,
`GANDAN_*`); a service's own settings carry its prefix (`INTAKE_HTTP_PORT`, ...).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _shared(name: str) -> AliasChoices:
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    rabbitmq_url: str = Field("amqp://guest:guest@127.0.0.1:5672/", validation_alias=_shared("RABBITMQ_URL"))
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

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    database: str = ""

    def database_name(self, service: str) -> str:
        return self.database or f"{self.namespace}_{service}"

"""What one service is, said once: its name, settings (HTTP port), the event types it
produces, and its handler map (consumed type → handler).

The bindings of its queue are derived from the handler map, so a type it handles
cannot be missing from the topology. `check_system` judges the services together:
a handler for a type no one produces, or a produced type no queue takes, is a
mistake in the system, refused before anything starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gandan.shared.events import EVENT_TYPES, Envelope, EventData
from gandan.shared.settings import ServiceSettings
from gandan.shared.topology import ALL_EVENTS, bindings

# A handler receives the validated envelope; what it needs besides (repository, clock, ...)
# are keyword-only parameters, bound when the service is composed.
Handler = Callable[..., Awaitable[None]]
BoundHandler = Callable[[Envelope[Any]], Awaitable[None]]


class SystemMisfit(ValueError):
    """The services do not fit together; the message says how."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    settings: type[ServiceSettings]
    produces: tuple[type[EventData], ...]
    # Consumed event type → handler; the key `ALL_EVENTS` takes every type (audit).
    handlers: Mapping[str, Handler]

    @property
    def bindings(self) -> tuple[str, ...]:
        """The routing keys its queue is bound by."""
        return bindings(self.handlers)

    @property
    def consumes(self) -> tuple[type[EventData], ...]:
        """The contracts of what it consumes (every registered one for `ALL_EVENTS`)."""
        if ALL_EVENTS in self.handlers:
            return EVENT_TYPES
        return tuple(t for t in EVENT_TYPES if t.event_type in self.handlers)

    @property
    def http_port_variable(self) -> str:
        return f"{self.settings.model_config.get('env_prefix', '')}HTTP_PORT"

    @property
    def default_http_port(self) -> int:
        return int(self.settings.model_fields["http_port"].default)

    def database(self, namespace: str) -> str:
        """The one database it owns."""
        return f"{namespace}_{self.name}"


def check_system(services: Iterable[ServiceSpec]) -> None:
    """Refuse services that do not fit together, naming each misfit."""
    services = list(services)
    known = {t.event_type for t in EVENT_TYPES}
    produced = {t.event_type: s.name for s in services for t in s.produces}
    taken = {t.event_type for s in services for t in s.consumes}
    problems = [
        f"{s.name} handles {t!r}, which no service produces"
        for s in services
        for t in s.handlers
        if t != ALL_EVENTS and t not in produced
    ]
    problems += [
        f"{s.name} handles {t!r}, which has no contract"
        for s in services
        for t in s.handlers
        if t not in known | {ALL_EVENTS}
    ]
    problems += [
        f"{owner} produces {t!r}, which no service's queue takes" for t, owner in produced.items() if t not in taken
    ]
    problems += [
        f"{s.name} produces {t.event_type!r}, which {t.owner} owns"
        for s in services
        for t in s.produces
        if t.owner != s.name
    ]
    if problems:
        raise SystemMisfit("the services do not fit together: " + "; ".join(problems))

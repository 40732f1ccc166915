"""audit keeps as evidence only events it can trust; the rest goes to its dead-letter queue with the reason."""

from __future__ import annotations

import json
from typing import Any

import aio_pika
import pytest

from gandan.audit.app import build
from gandan.shared.events import to_wire
from gandan.shared.messaging import MAX_EVENT_BYTES, REJECTED_REASON_HEADER
from gandan.shared.topology import Topology
from gandan.testing import eventually, queued, serving
from gandan.testing.factories import one_request

from .test_service import trail_of


def _request_wire() -> dict[str, Any]:
    request, _, _ = one_request()
    return to_wire(request)


def unknown_type() -> dict[str, Any]:
    return _request_wire() | {"type": "request.exploded"}


def unknown_version() -> dict[str, Any]:
    return _request_wire() | {"version": 2}


def invalid_data() -> dict[str, Any]:
    wire = _request_wire()
    return wire | {"data": wire["data"] | {"cccd": "001234567890"}}


def wrong_producer() -> dict[str, Any]:
    return _request_wire() | {"producer": "notify"}


def too_large() -> dict[str, Any]:
    # A valid event in every way but its size.
    wire = _request_wire()
    return wire | {"data": wire["data"] | {"procedure": "x" * MAX_EVENT_BYTES}}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (unknown_type, "unknown_type"),
        (unknown_version, "unknown_version"),
        (invalid_data, "invalid_data"),
        (wrong_producer, "wrong_producer"),
        (too_large, "too_large"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_an_event_audit_cannot_trust_is_dead_lettered_with_its_reason_and_not_kept(
    make, reason, service_settings, namespace, rabbitmq_url, publish, audit_db
):
    body = make()
    request, _, _ = one_request()
    dead_letter_queue = Topology(namespace).dead_letter_queue("audit").name
    service, app = build()

    async with serving(service, app) as client:
        await publish(json.dumps(body).encode(), routing_key=body["type"])
        dead: list[aio_pika.abc.AbstractIncomingMessage] = await eventually(
            lambda: queued(rabbitmq_url, dead_letter_queue), what="a dead letter"
        )
        # The consumer goes on with the next event.
        await publish(request)
        await eventually(lambda: trail_of(client), lambda r: r.status_code == 200, what="the next event kept")

    [letter] = dead
    assert json.loads(letter.body) == body
    assert letter.headers[REJECTED_REASON_HEADER] == reason
    assert await audit_db["events"].find_one({"_id": body["id"]}) is None
    assert await audit_db["events"].count_documents({}) == 1

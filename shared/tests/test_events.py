from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from gandan.shared.events import (
    EventRefused,
    RequestRegistered,
    for_service,
    owned_by,
    parse_event,
    to_wire,
)
from gandan.testing.factories import REQUEST_CODE, notification_failed, visit_scheduled


def test_an_event_survives_the_wire_unchanged(an_event):
    parsed = parse_event(to_wire(an_event))
    assert parsed == an_event
    assert isinstance(parsed.data, RequestRegistered)
    assert to_wire(an_event)["data"]["request_code"] == REQUEST_CODE


def test_the_envelope_names_type_version_and_routing(an_event):
    wire = to_wire(an_event)
    assert (wire["type"], wire["version"], wire["ward_code"], wire["producer"]) == (
        "request.registered",
        1,
        "11002",
        "intake",
    )
    assert wire["causation_id"] is None


def test_events_are_frozen(an_event):
    with pytest.raises(ValidationError):
        an_event.data.request_code = "other"


def test_occurred_at_is_kept_in_utc(an_event):
    hanoi = timezone(timedelta(hours=7))
    wire = to_wire(an_event) | {"occurred_at": datetime(2026, 12, 1, 8, 0, tzinfo=hanoi).isoformat()}
    assert parse_event(wire).occurred_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert parse_event(wire).occurred_at.utcoffset() == timedelta(0)


def test_a_time_without_zone_is_refused(an_event):
    with pytest.raises(EventRefused):
        parse_event(to_wire(an_event) | {"occurred_at": "2026-12-01T08:00:00"})


def test_an_unknown_type_or_version_is_refused_with_its_reason(an_event):
    with pytest.raises(EventRefused) as version:
        parse_event(to_wire(an_event) | {"version": 99})
    with pytest.raises(EventRefused) as event_type:
        parse_event(to_wire(an_event) | {"type": "request.exploded"})
    assert (version.value.reason, event_type.value.reason) == ("unknown_version", "unknown_type")


def test_data_with_fields_outside_the_contract_is_refused(an_event):
    wire = to_wire(an_event)
    wire["data"] = wire["data"] | {"cccd": "001234567890"}
    with pytest.raises(EventRefused) as refused:
        parse_event(wire)
    assert refused.value.reason == "invalid_data"
    assert "001234567890" not in str(refused.value)  # the reason names the field, not what it held


def test_a_broken_envelope_is_not_an_envelope(an_event):
    with pytest.raises(EventRefused) as refused:
        parse_event(to_wire(an_event) | {"ward_code": "HP-1"})
    assert refused.value.reason == "not_an_envelope"


def test_an_event_from_a_service_that_does_not_own_its_type_is_refused(an_event):
    with pytest.raises(EventRefused) as refused:
        parse_event(to_wire(an_event) | {"producer": "notify"})
    assert refused.value.reason == "wrong_producer"


def test_each_type_has_one_owner():
    assert {service: owned_by(service) for service in ("intake", "dispatch", "notify", "audit")} == {
        "intake": [
            "appointment.agreed",
            "contact.registered",
            "dossier.received",
            "dossier.submitted",
            "request.cancelled",
            "request.closed",
            "request.overdue",
            "request.registered",
            "result.delivered",
            "result.ready",
            "revisit.needed",
            "survey.answered",
        ],
        "dispatch": [
            "digest.prepared",
            "roster.changed",
            "route.planned",
            "service_level.breached",
            "visit.rescheduled",
            "visit.scheduled",
            "visit.unassignable",
            "wards.served",
        ],
        "notify": ["notification.delivered", "notification.failed", "notification.sent", "staff.replied"],
        "audit": [],
    }


def test_a_caused_event_keeps_ward_and_correlation_and_names_its_cause(an_event):
    visit = visit_scheduled()
    effect = for_service("dispatch").caused_by(an_event, visit)
    assert effect.producer == "dispatch"
    assert effect.correlation_id == an_event.correlation_id
    assert effect.causation_id == an_event.id
    assert effect.ward_code == an_event.ward_code
    assert effect.id != an_event.id


def test_the_clock_keeps_what_a_stored_date_keeps():
    from gandan.shared.clock import utcnow

    now = utcnow()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert now.microsecond % 1000 == 0


def test_a_service_factory_refuses_an_event_another_service_owns():
    data = notification_failed()
    with pytest.raises(ValueError, match="notify owns it"):
        for_service("dispatch").new(data, ward_code="11002", correlation_id=uuid4())

"""The lifecycle's handlers on its storage in memory: each accepted update stored once with its
event, a retry stored never, a collision decided again, and citizens reached by code and phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from gandan.intake.domain import RequestStatus
from gandan.intake.lifecycle.domain import (
    Appointment,
    Cancellation,
    NotAllowed,
    NotServedYet,
    Progress,
    RevisitReport,
    SurveyAnswer,
)
from gandan.intake.lifecycle.handlers import RequestNotFound, reach, record_survey_answer, update_request
from gandan.shared.events import CancelledBy, RevisitReason, SurveyRating, to_wire

from .fakes import FakeRequestLifecycle

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PHONE = "0912345678"
AGREED = Appointment(NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1))


def stored(status: RequestStatus = RequestStatus.APPOINTMENT_PROPOSED) -> FakeRequestLifecycle:
    return FakeRequestLifecycle(Progress("GD-ABC2345", "11002", "cit-1", PHONE, status, revision=1))


def update(requests: FakeRequestLifecycle, change, ward_code: str = "11002", code: str = "GD-ABC2345"):
    return update_request(ward_code, code, change, repository=requests, correlation_id=uuid4(), now=NOW)


async def test_an_agreed_appointment_is_stored_with_its_event_once_even_when_sent_again():
    requests = stored()

    first = await update(requests, AGREED)
    again = await update(requests, AGREED)

    assert (first.status, first.changed) == (RequestStatus.APPOINTMENT_AGREED, True)
    assert (again.status, again.changed) == (RequestStatus.APPOINTMENT_AGREED, False)
    assert [e.type for e in requests.events] == ["appointment.agreed"]
    assert requests.requests["GD-ABC2345"].appointment == AGREED


async def test_an_update_that_does_not_fit_stores_nothing():
    requests = stored(RequestStatus.CLOSED)

    with pytest.raises(NotAllowed):
        await update(requests, Cancellation(CancelledBy.CITIZEN, "Không cần nữa"))

    assert requests.events == []
    assert requests.requests["GD-ABC2345"].status is RequestStatus.CLOSED


async def test_a_change_that_met_another_is_decided_again_on_the_new_state():
    requests = stored()
    requests.collide = 2

    outcome = await update(requests, RevisitReport(RevisitReason.CITIZEN_ABSENT, None))

    assert outcome.status is RequestStatus.REVISIT_NEEDED
    assert [e.type for e in requests.events] == ["revisit.needed"]


@pytest.mark.parametrize(("ward_code", "code"), [("11359", "GD-ABC2345"), ("11002", "GD-NOTHERE")])
async def test_another_wards_request_is_not_found(ward_code, code):
    requests = stored()

    with pytest.raises(RequestNotFound):
        await update(requests, AGREED, ward_code=ward_code, code=code)

    assert requests.events == []


async def test_a_citizen_reaches_their_request_only_with_its_phone():
    requests = stored()

    assert (await reach("GD-ABC2345", PHONE, repository=requests)).code == "GD-ABC2345"
    for code, phone in (("GD-ABC2345", "0912345679"), ("GD-NOTHERE", PHONE)):
        with pytest.raises(RequestNotFound):
            await reach(code, phone, repository=requests)


async def test_survey_answers_once_served_the_second_replacing_the_first():
    requests = stored(RequestStatus.APPOINTMENT_AGREED)
    answer = SurveyAnswer(SurveyRating.HAI_LONG, None)

    def survey(given: SurveyAnswer, phone: str = PHONE):
        return record_survey_answer("GD-ABC2345", phone, given, repository=requests, correlation_id=uuid4(), now=NOW)

    with pytest.raises(NotServedYet):
        await survey(answer)
    requests.requests["GD-ABC2345"] = stored(RequestStatus.VISITED).requests["GD-ABC2345"]
    with pytest.raises(RequestNotFound):
        await survey(answer, phone="0987654321")

    assert not (await survey(answer)).replaced
    assert not (await survey(answer)).replaced  # the same again: nothing new
    assert (await survey(SurveyAnswer(SurveyRating.RAT_HAI_LONG, "Rất tốt"))).replaced

    assert [(e.type, to_wire(e)["data"]["replaces"]) for e in requests.events] == [
        ("survey.answered", False),
        ("survey.answered", True),
    ]

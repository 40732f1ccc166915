"""A request's lifecycle without I/O: every update in every state, allowed or refused.

The expected transitions are written here on their own, as the plan describes them (seed 000,
issue 8), not read from the table under test."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from gandan.intake.domain import RequestStatus
from gandan.intake.lifecycle.domain import (
    STATUS_TEXT,
    Appointment,
    Cancellation,
    Closure,
    Delay,
    Delivery,
    DossierReport,
    NotAllowed,
    NotServedYet,
    PaperDossierSubmitted,
    Progress,
    ResultReadiness,
    RevisitReport,
    SurveyAnswer,
    Update,
    advance,
    answer_survey,
)
from gandan.shared.events import (
    CancelledBy,
    DossierSubmission,
    ProcedureKind,
    ResultHandover,
    RevisitReason,
    SurveyRating,
    to_wire,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PHONE = "0912345678"

# One update of each kind, as the officers and the one-stop system send them.
UPDATES: dict[str, Update] = {
    "agree": Appointment(NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1)),
    "dossier online": DossierReport("H31.11-261201-0001", 12, DossierSubmission.ONLINE, True, False),
    "dossier on paper": DossierReport(None, 0, DossierSubmission.PAPER, False, True),
    "absent": RevisitReport(RevisitReason.CITIZEN_ABSENT, None),
    "documents missing": RevisitReport(RevisitReason.DOCUMENTS_MISSING, "Thiếu giấy khai sinh bản chính"),
    "cancel": Cancellation(CancelledBy.CITIZEN, "Con đã làm giúp tại Trung tâm"),
    "paper submitted": PaperDossierSubmitted("H31.11-261201-0002"),
    "result ready": ResultReadiness(ProcedureKind.BIRTH_REGISTRATION, ResultHandover.POST, "EB123456789VN"),
    "delivered": Delivery(ProcedureKind.BIRTH_REGISTRATION),
    "overdue": Delay(ProcedureKind.LAND, date(2026, 12, 20)),
    "finished": Closure(ProcedureKind.DEATH_REGISTRATION),
}

# (update, from) → to: the only moves there are.
ALLOWED: dict[tuple[str, str], str] = {
    ("agree", "registered"): "appointment_agreed",
    ("agree", "appointment_proposed"): "appointment_agreed",
    ("agree", "appointment_agreed"): "appointment_agreed",  # moved to another time
    ("agree", "revisit_needed"): "appointment_agreed",
    ("dossier online", "appointment_proposed"): "dossier_submitted",
    ("dossier online", "appointment_agreed"): "dossier_submitted",
    ("dossier on paper", "appointment_proposed"): "visited",
    ("dossier on paper", "appointment_agreed"): "visited",
    ("absent", "appointment_proposed"): "revisit_needed",
    ("absent", "appointment_agreed"): "revisit_needed",
    ("documents missing", "appointment_proposed"): "revisit_needed",
    ("documents missing", "appointment_agreed"): "revisit_needed",
    ("cancel", "registered"): "cancelled",
    ("cancel", "appointment_proposed"): "cancelled",
    ("cancel", "appointment_agreed"): "cancelled",
    ("cancel", "revisit_needed"): "cancelled",
    ("cancel", "visited"): "cancelled",
    ("cancel", "dossier_submitted"): "cancelled",
    ("paper submitted", "visited"): "dossier_submitted",
    ("result ready", "dossier_submitted"): "result_ready",
    ("result ready", "overdue"): "result_ready",
    ("overdue", "dossier_submitted"): "overdue",
    ("overdue", "overdue"): "overdue",  # a second new due date
    ("delivered", "result_ready"): "delivered",
    ("finished", "delivered"): "closed",
}
STATES = [
    "registered",
    "appointment_proposed",
    "appointment_agreed",
    "visited",
    "dossier_submitted",
    "result_ready",
    "delivered",
    "closed",
    "cancelled",
    "revisit_needed",
    "overdue",
]
EVENT_OF = {
    "agree": "appointment.agreed",
    "dossier online": "dossier.received",
    "dossier on paper": "dossier.received",
    "absent": "revisit.needed",
    "documents missing": "revisit.needed",
    "cancel": "request.cancelled",
    "paper submitted": "dossier.submitted",
    "result ready": "result.ready",
    "delivered": "result.delivered",
    "overdue": "request.overdue",
    "finished": "request.closed",
}


def a_request(status: str, **changes: Any) -> Progress:
    return replace(Progress("GD-ABC2345", "11002", "cit-7f3a", PHONE, RequestStatus(status), revision=4), **changes)


def test_the_states_are_those_of_the_plan():
    assert sorted(s.value for s in RequestStatus) == sorted(STATES)
    assert set(STATUS_TEXT) == set(RequestStatus)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("name", list(UPDATES))
def test_each_update_in_each_state_moves_as_the_plan_says_or_is_refused_naming_the_state(name, state):
    request = a_request(state)
    expected = ALLOWED.get((name, state))

    if expected is None:
        with pytest.raises(NotAllowed) as refused:
            advance(request, UPDATES[name], correlation_id=uuid4(), now=NOW)
        assert STATUS_TEXT[RequestStatus(state)] in refused.value.message
        assert refused.value.message.startswith("Không thể ")
        return

    change = advance(request, UPDATES[name], correlation_id=uuid4(), now=NOW)
    assert change is not None
    assert change.status == expected
    assert change.revision == request.revision  # stored only onto the state it was decided on
    assert change.event.type == EVENT_OF[name]
    data = to_wire(change.event)["data"]
    assert (data["status"], data["request_code"]) == (expected, request.code)
    assert change.event.ward_code == request.ward_code
    assert change.event.occurred_at == NOW


def test_the_same_update_again_changes_nothing_whatever_the_state_moved_to():
    update = UPDATES["absent"]
    change = advance(a_request("appointment_agreed"), update, correlation_id=uuid4(), now=NOW)
    assert change is not None

    after = a_request(change.status, last_update=change.fingerprint, revision=5)

    assert advance(after, update, correlation_id=uuid4(), now=NOW) is None  # a retry
    # Another report is another update: judged by the table.
    with pytest.raises(NotAllowed):
        advance(after, UPDATES["documents missing"], correlation_id=uuid4(), now=NOW)


def test_events_carry_the_citizen_reference_and_no_phone():
    for name, update in UPDATES.items():
        state = next(s for (n, s) in ALLOWED if n == name)
        change = advance(a_request(state), update, correlation_id=uuid4(), now=NOW)
        assert change is not None
        wire = json.dumps(to_wire(change.event))
        assert PHONE not in wire and PHONE[1:] not in wire, name
        assert to_wire(change.event)["data"]["citizen_ref"] == "cit-7f3a"


def test_result_events_say_the_kind_of_procedure_for_the_letter():
    ready = advance(a_request("dossier_submitted"), UPDATES["result ready"], correlation_id=uuid4(), now=NOW)
    assert ready is not None
    assert to_wire(ready.event)["data"] | {"status": "x"} == {
        "request_code": "GD-ABC2345",
        "citizen_ref": "cit-7f3a",
        "status": "x",
        "procedure_kind": "birth_registration",
        "handover": "post",
        "tracking_number": "EB123456789VN",
    }


# --- satisfaction ---------------------------------------------------------------------------

ANSWER = SurveyAnswer(SurveyRating.RAT_HAI_LONG, "Cán bộ nhiệt tình")


@pytest.mark.parametrize("state", STATES)
def test_only_a_served_request_can_be_rated(state):
    served = state in {"visited", "dossier_submitted", "result_ready", "delivered", "closed", "overdue"}
    if not served:
        with pytest.raises(NotServedYet):
            answer_survey(a_request(state), ANSWER, correlation_id=uuid4(), now=NOW)
        return
    change = answer_survey(a_request(state), ANSWER, correlation_id=uuid4(), now=NOW)
    assert change is not None and not change.replaces
    assert change.event.type == "survey.answered"


def test_a_second_answer_replaces_the_first_and_says_so_and_a_repeat_changes_nothing():
    answered = a_request("closed", survey=ANSWER)
    other = SurveyAnswer(SurveyRating.KHONG_HAI_LONG, None)

    change = answer_survey(answered, other, correlation_id=uuid4(), now=NOW)

    assert change is not None and change.replaces
    assert to_wire(change.event)["data"]["replaces"] is True
    assert answer_survey(answered, ANSWER, correlation_id=uuid4(), now=NOW) is None


def test_only_the_requests_own_phone_reaches_it():
    request = a_request("registered")
    assert request.reached_with(PHONE)
    assert not request.reached_with("0912345679")
    assert not replace(request, phone="0987654321").reached_with(PHONE)

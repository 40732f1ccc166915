"""audit's handler on its evidence in memory: every event kept once, minimised; then the trail it
gives, from the fake and from MongoDB alike."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from gandan.audit.domain import EvidenceLog
from gandan.audit.handlers import record_evidence
from gandan.audit.repository import MongoEvidenceLog
from gandan.testing.factories import ADDRESS, OTHER_WARD, WARD, contact_registered, envelope, one_request

from .fakes import FakeEvidenceLog

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def log() -> FakeEvidenceLog:
    return FakeEvidenceLog()


async def test_an_event_is_kept_with_its_envelope(log):
    request, _, visit = one_request(at=T0)

    await record_evidence(visit, repository=log)

    [kept] = log.evidence.values()
    assert (kept.event_id, kept.type, kept.version) == (visit.id, "visit.scheduled", 1)
    assert (kept.ward_code, kept.producer, kept.occurred_at) == (WARD, "dispatch", visit.occurred_at)
    assert (kept.correlation_id, kept.causation_id) == (request.correlation_id, request.id)
    assert kept.request_code == visit.data.request_code


async def test_a_redelivered_event_changes_nothing_and_says_so(log, caplog):
    _, contact, _ = one_request(at=T0)
    await record_evidence(contact, repository=log)
    first = dict(log.evidence)

    with caplog.at_level(logging.INFO, logger="gandan.audit.handlers"):
        await record_evidence(contact, repository=log)

    assert log.evidence == first  # the first record stays, recorded_at included
    assert [r.getMessage() for r in caplog.records] == ["already recorded"]


async def test_personal_data_is_minimised_before_it_is_kept(log):
    contact = envelope(contact_registered(name="Nguyễn Thị Lan (con gái 0987 654 321)", phone="0912345678"))

    await record_evidence(contact, repository=log)

    [kept] = log.evidence.values()
    assert kept.data["phone"] == "091****678"
    assert kept.data["name"] == "Nguyễn Thị Lan (con gái 098****321)"
    assert ADDRESS not in str(kept.data)
    assert kept.data["citizen_ref"] == contact.data.citizen_ref


@pytest.fixture(params=["in memory", "mongodb"])
async def evidence_log(request, audit_db) -> EvidenceLog:
    if request.param == "in memory":
        return FakeEvidenceLog()
    repository = MongoEvidenceLog(audit_db)
    await repository.ensure_indexes()
    return repository


async def test_a_trail_holds_one_request_of_one_ward_in_the_order_it_happened(evidence_log):
    mine = one_request(at=T0)
    other_request = one_request(request_code="GD-OTHER01", at=T0 - timedelta(days=1))
    same_code_elsewhere = one_request(ward_code=OTHER_WARD, at=T0)
    for event in (mine.visit, *other_request, mine.contact, *same_code_elsewhere, mine.request):
        await record_evidence(event, repository=evidence_log)

    trail = await evidence_log.trail(WARD, mine.request.data.request_code)

    assert [e.event_id for e in trail] == [e.id for e in mine]

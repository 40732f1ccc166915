"""The lifecycle's part of a stored home request: `status` and `revision` at the top (what the
request's own reader shows), the rest under `lifecycle`; each change written with its event in one
write through the outbox, onto the revision it was decided on."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from gandan.intake.domain import TERMINAL_STATUSES, RequestStatus
from gandan.intake.lifecycle.domain import Appointment, Change, Progress, SurveyAnswer, SurveyChange
from gandan.shared.events import SurveyRating
from gandan.shared.mongo import Document
from gandan.shared.outbox import Outbox

LIFECYCLE = "lifecycle"
REVISION = "revision"
OPEN_KEY = "open_key"  # registration's guard against a second open request (`MongoHomeRequests`)
_READ = {
    "ward_code": 1,
    "citizen_ref": 1,
    "phone": 1,
    "status": 1,
    REVISION: 1,
    "visit.starts_at": 1,
    "visit.ends_at": 1,
    LIFECYCLE: 1,
}


class MongoRequestLifecycle:
    def __init__(self, outbox: Outbox, requests: AsyncCollection[Document]) -> None:
        """`requests`: registration's collection (`MongoHomeRequests.collection`), one document per request."""
        self._outbox = outbox
        self._requests = requests

    async def progress(self, code: str, ward_code: str | None = None) -> Progress | None:
        query: Document = {"_id": code} | ({"ward_code": ward_code} if ward_code else {})
        document = await self._requests.find_one(query, _READ)
        return _progress(document) if document else None

    async def store(self, change: Change | SurveyChange) -> bool:
        if isinstance(change, Change):
            values: Document = {
                "status": change.status.value,
                f"{LIFECYCLE}.last_update": change.fingerprint,
                f"{LIFECYCLE}.last_update_at": change.event.occurred_at,
            } | {f"{LIFECYCLE}.{slot}": _record(record) for slot, record in change.records.items()}
        else:
            values = {
                f"{LIFECYCLE}.survey": asdict(change.answer)
                | {"answered_at": change.answered_at, "replaces": change.replaces}
            }
        update: Document = {"$set": values, "$inc": {REVISION: 1}}
        if isinstance(change, Change) and change.status in TERMINAL_STATUSES:
            update["$unset"] = {OPEN_KEY: ""}  # done with: the citizen may ask for it again
        return await self._outbox.update(
            self._requests,
            {"_id": change.code, "ward_code": change.ward_code, REVISION: change.revision or None},
            update,
            change.event,
        )


def _record(update: object) -> Document:
    # BSON has no date type: a date is kept as ISO text, as registration keeps the preferred date.
    values: Document = asdict(update)  # type: ignore[call-overload]
    return {k: v.isoformat() if isinstance(v, date) and not isinstance(v, datetime) else v for k, v in values.items()}


def _progress(document: Document) -> Progress:
    lifecycle: dict[str, Any] = document.get(LIFECYCLE) or {}
    agreed, visit = lifecycle.get("appointment"), document.get("visit")
    appointment = (
        Appointment(**agreed) if agreed else Appointment(visit["starts_at"], visit["ends_at"]) if visit else None
    )
    survey = lifecycle.get("survey")
    return Progress(
        code=document["_id"],
        ward_code=document["ward_code"],
        citizen_ref=document["citizen_ref"],
        phone=document["phone"],
        status=RequestStatus(document["status"]),
        revision=document.get(REVISION) or 0,
        last_update=lifecycle.get("last_update"),
        appointment=appointment,
        appointment_agreed=bool(agreed),
        survey=SurveyAnswer(SurveyRating(survey["rating"]), survey["comment"]) if survey else None,
        survey_replaced=bool(survey and survey["replaces"]),
    )

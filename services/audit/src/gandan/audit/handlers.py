"""Thin handler: every event becomes evidence, once."""

from __future__ import annotations

import logging

from gandan.audit.domain import minimised
from gandan.audit.repository import EvidenceRepository
from gandan.shared.clock import utcnow
from gandan.shared.events import Envelope, EventData, to_wire
from gandan.shared.logs import log_fields

logger = logging.getLogger(__name__)


async def record_evidence(event: Envelope[EventData], *, repository: EvidenceRepository) -> None:
    # The evidence is what was published: the data's wire form, minimised as its contract marks it.
    if not await repository.record(event, minimised(type(event.data), to_wire(event)["data"]), utcnow()):
        logger.info("already recorded", extra=log_fields(event_id=str(event.id), event_type=event.type))

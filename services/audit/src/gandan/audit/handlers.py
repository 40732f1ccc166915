"""Thin handler: every event becomes evidence, once."""

from __future__ import annotations

import logging

from gandan.audit.domain import Evidence, EvidenceLog
from gandan.shared.clock import utcnow
from gandan.shared.events import Envelope, EventData
from gandan.shared.logs import log_fields

logger = logging.getLogger(__name__)


async def record_evidence(event: Envelope[EventData], *, repository: EvidenceLog) -> None:
    if not await repository.record(Evidence.of(event, utcnow())):
        logger.info("already recorded", extra=log_fields(event_id=str(event.id), event_type=event.type))

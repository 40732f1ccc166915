from datetime import date
from uuid import uuid4

import pytest

from gandan.shared.events import (
    Envelope,
    EventData,
    ProcedureField,
    RequestRegistered,
    ResultDelivery,
    TimeWindow,
    new_event,
)


def request_registered(request_code: str = "GD-TEST001") -> Envelope[EventData]:
    return new_event(
        RequestRegistered(
            request_code=request_code,
            citizen_ref="c0ffee",
            residential_group="Thanh Xá",
            procedure="Chứng thực bản sao",
            field=ProcedureField.CHUNG_THUC,
            preferred_date=date(2026, 12, 1),
            time_window=TimeWindow.MORNING,
            result_delivery=ResultDelivery.POST,
        ),
        ward_code="11002",
        producer="intake",
        correlation_id=uuid4(),
    )


@pytest.fixture
def an_event() -> Envelope[EventData]:
    return request_registered()

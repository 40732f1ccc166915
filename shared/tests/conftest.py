import pytest

from gandan.shared.events import Envelope, EventData
from gandan.testing.factories import envelope, request_registered


@pytest.fixture
def an_event() -> Envelope[EventData]:
    return envelope(request_registered())

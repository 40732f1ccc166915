"""The committed AsyncAPI documents are the public contract: they must match the code."""

from pathlib import Path

import pytest

from gandan.shared.contract import SERVICES, documents

CONTRACT = Path(__file__).parent.parent / "docs" / "asyncapi"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return documents()


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_contract_is_current(service, generated):
    committed = (CONTRACT / f"{service}.json").read_text()
    assert committed == generated[service], f"run `make asyncapi` and commit docs/asyncapi/{service}.json"


def test_the_contract_shows_each_event_with_its_envelope(generated):
    assert '"Envelope[RequestRegistered]"' in generated["intake"]
    assert '"Envelope[VisitScheduled]"' in generated["dispatch"]
    assert '"Envelope[NotificationSent]"' in generated["notify"]
    assert '"visit.scheduled:publish"' in generated["dispatch"]

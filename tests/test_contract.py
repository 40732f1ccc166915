"""The committed AsyncAPI documents are the public contract: they must match the code."""

import json
from pathlib import Path

import pytest

from gandan.shared import events
from gandan.shared.contract import SERVICES, documents
from gandan.shared.events import personal_mark

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


def test_the_contract_marks_each_field_carrying_personal_data_as_its_model_does(generated):
    shown: dict[str, dict[str, str | None]] = {}
    for document in generated.values():
        for title, schema in json.loads(document)["components"]["schemas"].items():
            model = getattr(events, title, None)
            if isinstance(model, type) and issubclass(model, events.Contract):
                shown[title] = {name: p.get("x-personal") for name, p in schema["properties"].items()}
                marks = {name: personal_mark(field) for name, field in model.model_fields.items()}
                assert shown[title] == {name: how and how.value for name, how in marks.items()}, title

    assert shown["ContactRegistered"]["phone"] == "mask"
    assert shown["ContactRegistered"]["address"] == "drop"
    assert shown["StaffContact"]["phone"] == shown["LeaderContact"]["phone"] == "mask"

"""The committed AsyncAPI documents are the public contract: they must match the code."""

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from gandan.shared import events
from gandan.shared.events import personal_mark
from gandan.shared.spec import ServiceSpec
from gandan.system.contract import documents
from gandan.system.services import SERVICES

CONTRACT = Path(__file__).parent.parent / "docs" / "asyncapi"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return documents()


def _target(document: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    node = document
    for part in ref["$ref"].removeprefix("#/").split("/"):
        node = node[unquote(part)]
    return node


def _envelopes(document: dict[str, Any], channel: dict[str, Any]) -> dict[str, str]:
    """Each message's payload schema title, by message key."""
    return {
        key: _target(document, _target(document, ref)["payload"])["title"] for key, ref in channel["messages"].items()
    }


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_the_committed_contract_is_current(service, generated):
    committed = (CONTRACT / f"{service}.json").read_text()
    assert committed == generated[service], f"run `make asyncapi` and commit docs/asyncapi/{service}.json"


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


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_the_contract_shows_every_type_consumed_and_produced_with_its_envelope(spec: ServiceSpec):
    document = json.loads((CONTRACT / f"{spec.name}.json").read_text())
    received = {
        name: channel
        for name, channel in document["channels"].items()
        if document["operations"][name]["action"] == "receive"
    }
    consumed: dict[str, str] = {}
    for channel in received.values():
        consumed |= _envelopes(document, channel)
    assert consumed == {t.event_type: f"Envelope[{t.__name__}]" for t in spec.consumes}

    produced = {}
    for name, channel in document["channels"].items():
        if document["operations"][name]["action"] == "send":
            [title] = _envelopes(document, channel).values()
            produced[channel["address"]] = title
    assert produced == {t.event_type: f"Envelope[{t.__name__}]" for t in spec.produces}

"""The OpenAPI documents tell the truth: every answer an endpoint can give, in the shape it has,
and the rules of every field of the form."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from gandan.shared.service import Service
from gandan.system.services import names

# Every service of the system: a new one without its line in ANSWERS fails here.
BUILDERS: dict[str, Callable[[], tuple[Service, FastAPI]]] = {
    name: importlib.import_module(f"gandan.{name}.app").build for name in names()
}
ERROR = "#/components/schemas/ErrorBody"
READY = "#/components/schemas/Readiness"

# What each endpoint can answer, and nothing it cannot (each code has its test in the service's tests).
ANSWERS = {
    "intake": {
        ("post", "/v1/home-requests"): {"202", "401", "403", "409", "413", "422", "503"},
        ("get", "/v1/home-requests/{code}"): {"200", "401", "404", "422", "503"},
        **{
            ("post", f"/v1/home-requests/{{code}}/{update}"): {"200", "401", "403", "404", "409", "413", "422", "503"}
            for update in (
                "appointment",
                "reports/dossier-received",
                "reports/citizen-absent",
                "reports/documents-missing",
                "reports/cancelled",
                "results/dossier-submitted",
                "results/ready",
                "results/delivered",
                "results/overdue",
                "results/finished",
            )
        },
        ("post", "/v1/lookup"): {"200", "404", "413", "422", "429", "503"},
        ("post", "/v1/survey"): {"200", "404", "409", "413", "422", "429", "503"},
    },
    "dispatch": {
        ("get", "/v1/wards/{ward_code}/roster"): {"200", "401", "403", "404", "422", "503"},
        ("delete", "/v1/wards/{ward_code}/roster/staff/{staff_id}"): {"200", "401", "403", "404", "409", "422", "503"},
        **{
            (method, f"/v1/wards/{{ward_code}}/roster/{change}"): {
                "200",
                "401",
                "403",
                "404",
                "409",
                "413",
                "422",
                "503",
            }
            for method, change in (
                ("put", "staff/{staff_id}"),
                ("post", "staff/{staff_id}/leave"),
                ("put", "vehicles/{vehicle_id}"),
            )
        },
    },
    "notify": {
        ("get", "/v1/messages"): {"200", "401", "403", "422", "503"},
        # Delivery receipts: no credential, the provider's signature or our callback secret instead.
        ("post", "/v1/receipts/zalo"): {"200", "401", "422", "503"},
        ("get", "/v1/receipts/esms"): {"200", "401", "422", "503"},
        # Staff's replies by SMS (eSMS's two-way callback), checked by our callback secret.
        ("get", "/v1/replies/esms"): {"200", "401", "422", "503"},
        ("post", "/v1/replies/esms"): {"200", "401", "413", "422", "503"},
        ("put", "/v1/contacts/{code}/preferences"): {"200", "401", "403", "404", "422", "503"},
    },
    "audit": {("get", "/v1/requests/{code}/trail"): {"200", "401", "403", "404", "422", "503"}},
}
HEALTH = {("get", "/health/live"): {"200"}, ("get", "/health/ready"): {"200", "503"}}


@pytest.fixture(scope="module")
def documents(service_env_for_documents: None) -> dict[str, dict[str, Any]]:
    return {name: build()[1].openapi() for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def service_env_for_documents() -> Any:
    # Building a service reads its settings; nothing is connected until it runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANDAN_AUTH_SECRET", "x" * 40)
        patch.setenv("INTAKE_PSEUDONYM_KEY", "y" * 40)
        patch.setenv("INTAKE_CCCD_KEY", "z" * 40)
        yield


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in document["paths"].items() for method, op in item.items()}


@pytest.mark.parametrize("service", BUILDERS)
def test_every_endpoint_documents_exactly_the_answers_it_can_give(documents, service):
    answers = {key: set(op["responses"]) for key, op in operations(documents[service]).items()}
    assert answers == ANSWERS[service] | HEALTH


@pytest.mark.parametrize("service", BUILDERS)
def test_every_error_is_documented_in_the_error_shape(documents, service):
    document = documents[service]
    for (method, path), op in operations(document).items():
        for status, response in op["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            schema = response["content"]["application/json"]["schema"]
            expected = READY if path == "/health/ready" else ERROR
            assert schema == {"$ref": expected}, (method, path, status)
            assert response["description"]
            if status == "503" and path != "/health/ready":
                assert "Retry-After" in response["headers"], (method, path)
    if ANSWERS[service]:  # a service with endpoints of its own (not only health)
        error = document["components"]["schemas"]["ErrorBody"]
        detail = document["components"]["schemas"]["ErrorDetail"]
        assert error["required"] == ["errors"]
        assert error["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ErrorDetail"}
        assert set(detail["required"]) == {"field", "code", "message"}


@pytest.fixture(scope="module")
def form(documents) -> dict[str, Any]:
    return documents["intake"]["components"]["schemas"]["HomeRequestForm"]["properties"]


def test_the_form_states_the_phone_and_ward_code_rules(form):
    phone = re.compile(form["phone"]["pattern"])
    for written in ("0912345678", "0912 345 678", "+84 912.345.678", "84912345678"):
        assert phone.fullmatch(written), written
    for wrong in ("0212345678", "091234567", "12345", "09123456789x"):
        assert not phone.fullmatch(wrong), wrong
    assert form["phone"]["maxLength"] == 30
    assert form["ward_code"]["pattern"] == "^[0-9]{5}$"
    assert "danh mục" in form["ward_code"]["description"]


def test_the_form_states_the_date_format_and_range(form):
    assert form["preferred_date"]["format"] == "date"
    assert "hôm nay" in form["preferred_date"]["description"]
    assert "90 ngày" in form["preferred_date"]["description"]


@pytest.mark.parametrize(
    ("field", "lengths"),
    [("name", (2, 100)), ("residential_group", (1, 100)), ("address", (5, 200)), ("procedure", (3, 200))],
)
def test_free_text_fields_state_their_lengths_and_refuse_control_characters(form, field, lengths):
    assert (form[field]["minLength"], form[field]["maxLength"]) == lengths
    refusing = re.compile(form[field]["pattern"])
    assert refusing.fullmatch("Nguyễn Văn An")
    for hidden in ("\x00", "\u202e", "\u2066", "\x9b"):
        assert not refusing.fullmatch(f"An{hidden}"), repr(hidden)


def test_every_intake_body_has_an_example_its_own_model_accepts(documents):
    document = documents["intake"]
    forms = {
        **vars(importlib.import_module("gandan.intake.api")),
        **vars(importlib.import_module("gandan.intake.lifecycle.api")),
    }
    bodies = {
        (method, path): op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for (method, path), op in operations(document).items()
        if "requestBody" in op
    }
    assert len(bodies) == 13  # registration, the appointment, 4 field reports, 5 results, look-up, survey
    for endpoint, name in bodies.items():
        [shown] = document["components"]["schemas"][name].get("examples") or [None]
        assert shown is not None, endpoint
        forms[name].model_validate(shown)  # raises when the example would be refused

"""A property-based fuzz of each service's HTTP API from its own OpenAPI document (schemathesis):
valid and invalid requests, with a valid credential, against the real ASGI app running on the
real broker and database. No answer is a 5xx, none is one the document does not list or shaped
otherwise, and no invalid request is accepted. Bounded: a few hundred examples per service."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from gandan.shared.auth import Role
from gandan.system import services as system
from gandan.testing import auth

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, negative_data_rejection]
EXAMPLES = 60  # per operation and mode: with two modes, a few hundred per service
SERVICES_WITH_ENDPOINTS = ("intake", "dispatch", "notify", "audit")
# The role that may do most of what each service offers: refused at once, a request tests little.
ROLES = {"dispatch": Role.LEADERSHIP}


@pytest.fixture
def running(service_settings: dict[str, str]) -> Iterator[None]:
    """Every service's queues declared, as the launcher does; the apps schemathesis starts (their
    lifespan, in its own event loop) stopped at the end, before the namespace is removed."""
    asyncio.run(system.declare(service_settings["RABBITMQ_URL"], service_settings["GANDAN_NAMESPACE"]))
    try:
        yield
    finally:
        asgi.shutdown_lifespans()


@pytest.mark.parametrize("service", SERVICES_WITH_ENDPOINTS)
@pytest.mark.timeout(300)
def test_the_api_answers_every_generated_request_as_its_document_says(running: None, service: str) -> None:
    _, app = importlib.import_module(f"gandan.{service}.app").build()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = auth("11002", ROLES.get(service, Role.OFFICER))
    results = list(schema.get_all_operations())
    invalid_schemas = [result.err() for result in results if isinstance(result, Err)]
    assert not invalid_schemas
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert operations

    for operation in operations:
        # Nothing to make invalid in an operation without parameters or body (the health checks).
        invalid = any([operation.path_parameters, operation.query, operation.headers, operation.body])
        for mode in (GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if invalid else [])):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,  # the same examples each run: a failure here is reproducible
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def answers_as_documented(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            answers_as_documented()

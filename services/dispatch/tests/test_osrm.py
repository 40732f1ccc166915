"""The OSRM table client against a local server speaking OSRM's table API (`/table/v1/{profile}/...`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gandan.dispatch.routing.model import Place
from gandan.dispatch.routing.osrm import OsrmTravel
from gandan.dispatch.routing.travel import GreatCircleTravel
from gandan.shared.events import VehicleKind
from gandan.testing import free_port

PLACES = (Place(20.8560, 106.6820), Place(20.8601, 106.6795), Place(20.8523, 106.6901))
PROFILES = {VehicleKind.MOTORBIKE: "motorbike", VehicleKind.WARD_CAR: "driving"}


@dataclass
class Osrm:
    """Answers every pair with a road of 1,000 m per index step and 100 s, unless told otherwise."""

    answer: dict[str, object] | None = None
    status: int = 200
    unrouted: set[tuple[int, int]] = field(default_factory=set)
    asked: list[tuple[str, list[tuple[float, ...]], str]] = field(default_factory=list)

    async def table(self, request: Request) -> JSONResponse:
        profile = request.path_params["profile"]
        coordinates = [tuple(map(float, pair.split(","))) for pair in request.path_params["coordinates"].split(";")]
        self.asked.append((profile, coordinates, request.query_params.get("annotations", "")))
        if self.answer is not None:
            return JSONResponse(self.answer, status_code=self.status)
        n = len(coordinates)
        durations = [[None if (i, j) in self.unrouted else 100.0 * abs(i - j) for j in range(n)] for i in range(n)]
        distances = [[None if (i, j) in self.unrouted else 1000.0 * abs(i - j) for j in range(n)] for i in range(n)]
        return JSONResponse({"code": "Ok", "durations": durations, "distances": distances}, status_code=self.status)


@asynccontextmanager
async def serving(osrm: Osrm) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    app = Starlette(routes=[Route("/table/v1/{profile}/{coordinates}", osrm.table)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def test_road_times_come_from_the_table_service_with_the_stop_overhead():
    osrm = Osrm()
    async with serving(osrm) as client:
        table = await OsrmTravel(client, profiles=PROFILES, stop_overhead=timedelta(minutes=3)).table(
            PLACES, VehicleKind.MOTORBIKE
        )
    profile, coordinates, annotations = osrm.asked[0]
    assert profile == "motorbike"
    # Longitude first, as OSRM reads them.
    assert coordinates[0] == pytest.approx((106.6820, 20.8560))
    assert annotations == "duration,distance"
    assert table.seconds[0] == (0, 100 + 180, 200 + 180)
    assert table.metres[2] == (2000, 1000, 0)


async def test_each_vehicle_kind_asks_its_own_profile():
    osrm = Osrm()
    async with serving(osrm) as client:
        await OsrmTravel(client, profiles=PROFILES).table(PLACES, VehicleKind.WARD_CAR)
    assert osrm.asked[0][0] == "driving"


async def test_a_pair_the_road_network_cannot_route_is_estimated_not_made_impossible():
    osrm = Osrm(unrouted={(0, 2)})
    estimate = GreatCircleTravel()
    async with serving(osrm) as client:
        table = await OsrmTravel(client, profiles=PROFILES, fallback=estimate).table(PLACES, VehicleKind.MOTORBIKE)
    assert (table.metres[0][2], table.seconds[0][2]) == estimate.leg(PLACES[0], PLACES[2], VehicleKind.MOTORBIKE)
    assert table.seconds[2][0] == 200 + 180  # the other way round was routed


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ({"code": "InvalidQuery", "message": "Query string malformed"}, 400),
        ({"code": "TooBig", "message": "Too many table coordinates"}, 400),
        ({"code": "Ok", "durations": [[0.0]], "distances": [[0.0]]}, 200),  # not the size asked for
        ({"unexpected": True}, 200),
    ],
)
async def test_an_error_or_a_malformed_answer_plans_on_estimates(answer, status):
    osrm = Osrm(answer=answer, status=status)
    estimate = GreatCircleTravel()
    async with serving(osrm) as client:
        table = await OsrmTravel(client, profiles=PROFILES, fallback=estimate).table(PLACES, VehicleKind.MOTORBIKE)
    assert table == await estimate.table(PLACES, VehicleKind.MOTORBIKE)


async def test_a_service_that_is_away_plans_on_estimates():
    estimate = GreatCircleTravel()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=1) as client:
        table = await OsrmTravel(client, profiles=PROFILES, fallback=estimate).table(PLACES, VehicleKind.WARD_CAR)
    assert table == await estimate.table(PLACES, VehicleKind.WARD_CAR)

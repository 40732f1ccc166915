"""Travel times from a road network: an OSRM table service (`GET /table/v1/{profile}/{coordinates}`).

Valhalla's `sources_to_targets` answers the same question; OSRM's shape is the one spoken here. Where the
service is away, answers an error or leaves a pair unrouted (`null`), the offline estimate stands in for
it: a plan on estimates is better for the citizens of the day than no plan.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import timedelta

import httpx

from gandan.dispatch.routing.model import Place
from gandan.dispatch.routing.travel import GreatCircleTravel, TravelTable
from gandan.shared.events import VehicleKind
from gandan.shared.logs import log_fields

logger = logging.getLogger(__name__)

# OSRM's own default for `--max-table-size`: a larger table is refused by the server.
MAX_PLACES = 100


class OsrmTravel:
    """Road durations and distances by vehicle kind, each kind an OSRM profile (a motorbike profile is
    not among OSRM's defaults: the operator names the one their server was built with)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        profiles: Mapping[VehicleKind, str],
        stop_overhead: timedelta = timedelta(minutes=3),
        fallback: GreatCircleTravel | None = None,
    ) -> None:
        self._client = client
        self._profiles = dict(profiles)
        self._stop_overhead = math.ceil(stop_overhead.total_seconds())
        self._fallback = fallback or GreatCircleTravel(stop_overhead=stop_overhead)

    async def table(self, places: Sequence[Place], kind: VehicleKind) -> TravelTable:
        if len(places) > MAX_PLACES:
            raise ValueError(f"{len(places)} places: an OSRM table takes at most {MAX_PLACES}")
        answer = await self._ask(places, kind)
        if answer is None:
            return await self._fallback.table(places, kind)
        durations, distances = answer
        metres: list[tuple[int, ...]] = []
        seconds: list[tuple[int, ...]] = []
        for i, a in enumerate(places):
            row_m, row_s = [], []
            for j, b in enumerate(places):
                duration, distance = durations[i][j], distances[i][j]
                if i == j or a == b:
                    row_m.append(0)
                    row_s.append(0)
                elif duration is None or distance is None:
                    # Unrouted (a place off the road network): the estimate, not an impossible leg.
                    m, s = self._fallback.leg(a, b, kind)
                    row_m.append(m)
                    row_s.append(s)
                else:
                    row_m.append(round(distance))
                    row_s.append(math.ceil(duration) + self._stop_overhead)
            metres.append(tuple(row_m))
            seconds.append(tuple(row_s))
        return TravelTable(metres=tuple(metres), seconds=tuple(seconds))

    async def _ask(
        self, places: Sequence[Place], kind: VehicleKind
    ) -> tuple[list[list[float | None]], list[list[float | None]]] | None:
        # OSRM takes longitude first.
        coordinates = ";".join(f"{p.longitude:.6f},{p.latitude:.6f}" for p in places)
        try:
            response = await self._client.get(
                f"/table/v1/{self._profiles[kind]}/{coordinates}", params={"annotations": "duration,distance"}
            )
            body = response.json()
            if response.status_code != 200 or body.get("code") != "Ok":
                raise ValueError(f"HTTP {response.status_code}, code {str(body.get('code'))[:40]!r}")
            durations, distances = body["durations"], body["distances"]
            if len(durations) != len(places) or any(len(row) != len(places) for row in durations + distances):
                raise ValueError("a table not the size asked for")
            return durations, distances
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            logger.warning(
                "road travel times unavailable; planning on estimates",
                extra=log_fields(places=len(places), reason=repr(error)[:200]),
            )
            return None

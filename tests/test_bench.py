"""`make bench` keeps working: its short run prints every figure, on the real stack.

No timing is asserted (a shared CI machine is no benchmark); what is checked is that
every journey finished, that the services' database commands and the broker's publishes
were counted, and that every figure the README's table quotes is printed.
"""

import re
from pathlib import Path

import pytest

from gandan.system.bench import SMOKE, bench


@pytest.mark.timeout(300)
async def test_the_short_bench_prints_every_figure_of_a_finished_run(rabbitmq_url: str, tmp_path: Path):
    output = "\n".join(await bench(SMOKE, tmp_path, rabbitmq_url))
    print(output)

    assert "NOT FINISHED" not in output
    assert re.search(r"journaled single inserts \d+/s .* insert_many \d+ docs/s.* \d+ msgs/s", output)
    rounds = output.split("== ")[1:3]
    assert [r.splitlines()[0] for r in rounds] == [
        "empty database",
        f"with {SMOKE.past:,} past requests and their evidence",
    ]
    for figures in rounds:
        journeys = re.search(r"saturation: (\d+) journeys \((\d+) booked\) in [\d.]+ s = [\d.]+ journeys/s", figures)
        assert journeys and int(journeys[1]) == SMOKE.saturation and int(journeys[2]) > 0
        assert re.search(
            r"of journaled single inserts/s, .* of batched insert docs/s, .* of broker round trips/s", figures
        )
        assert re.search(r"202 -> visit.scheduled +\d+ / \d+ / \d+", figures)
        assert re.search(r"202 -> last evidence record +\d+ / \d+ / \d+", figures)
        # Every service touches the database on every journey; each booked one publishes six events.
        for service in ("intake", "dispatch", "notify", "audit"):
            per_journey = re.search(rf"\n    {service} +([\d.]+) ", figures)
            assert per_journey and float(per_journey[1]) > 0, service
            assert re.search(rf"\n    {service} +[\d.]+ CPU-s +\d+ MiB", figures), service
        assert re.search(r"\n    database +[\d.]+ CPU-s +\d+ MiB", figures)
        assert float(re.findall(r"database commands per journey: ([\d.]+)", figures)[0]) > 0
        assert float(re.findall(r"broker publishes per journey: ([\d.]+)", figures)[0]) >= 2
    assert re.search(r"== idle [\d.]+ s: database commands per minute", output)
    for service in ("intake", "dispatch", "notify", "audit"):
        assert re.search(rf"\n    {service} +\d+/min .* CPU [\d.]+ %", output), service
    shapes = re.search(r"query shapes the services ran: (\d+), not backed by an index: (\d+)", output)
    assert shapes and int(shapes[1]) > 0
    assert len(re.findall(r"\n    COLLSCAN ", output)) == int(shapes[2])

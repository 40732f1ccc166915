"""One home-service request travels intake → dispatch → notify → audit, on the real broker
and database, with the four services as separate processes started the way `gandan-up` does."""

import signal
from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import holidays
import httpx
import pytest

from gandan.shared.clock import LOCAL_TZ, utcnow
from gandan.testing import auth, eventually, launch, ward_not_served
from gandan.testing.factories import home_request_form


@pytest.fixture
def system(service_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, int]]:
    ports, launcher = launch(service_env, tmp_path)
    try:
        yield ports
    finally:
        launcher.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            code = launcher.wait(60)
        finally:
            launcher.kill()
        output = (tmp_path / "system.log").read_text()
        assert code == 0, output[-4000:]
        assert "stopped" in output


def next_working_day(day: date) -> date:
    days_off = holidays.country_holidays("VN", years=[day.year, day.year + 1])
    while day.weekday() >= 5 or day in days_off:
        day += timedelta(days=1)
    return day


async def test_a_home_request_becomes_a_visit_three_messages_and_its_evidence(system):
    url = {name: f"http://127.0.0.1:{port}" for name, port in system.items()}
    staff = auth("11002")
    preferred = utcnow().astimezone(LOCAL_TZ).date() + timedelta(days=3)
    visit_day = next_working_day(preferred)

    async with httpx.AsyncClient(timeout=10) as client:

        async def all_ready() -> bool:
            try:
                answers = [await client.get(f"{u}/health/ready") for u in url.values()]
            except httpx.TransportError:  # not listening yet
                return False
            return all(a.status_code == 200 for a in answers)

        await eventually(all_ready, timeout=90, what="all four services ready")

        registration = partial(
            client.post,
            f"{url['intake']}/v1/home-requests",
            headers=staff,
            json=home_request_form(
                name="Nguyễn Thị Hoa",
                phone="0912 345 678",
                residential_group="Qua Bộ",
                address="Số 5, Qua Bộ, phường Thạch Khôi",
                category="nguoi_gia_yeu_co_don",
                procedure="Chứng thực bản sao từ bản chính",
                field="chung_thuc",
                preferred_date=preferred.isoformat(),
                time_window="afternoon",
            ),
        )
        # Dispatch announces the wards it serves as it starts; until intake has heard, it refuses them.
        answer = await eventually(registration, lambda a: not ward_not_served(a), what="intake knows 11002 is served")
        assert answer.status_code == 202, answer.text
        code = answer.json()["request_code"]

        expected_types = [
            "contact.registered",
            "request.registered",
            "visit.scheduled",
            "notification.sent",
            "notification.sent",
            "notification.sent",
        ]

        async def complete_trail():
            try:
                trail = await client.get(f"{url['audit']}/v1/requests/{code}/trail", headers=staff)
            except httpx.TransportError:  # a slow answer is asked again, as while starting
                return None
            if trail.status_code == 200 and len(trail.json()["events"]) == len(expected_types):
                return trail.json()["events"]
            return None

        events = await eventually(complete_trail, timeout=60, what=f"the complete trail of {code}")
        # One registration announces both at the same moment: either may come first.
        assert sorted(e["type"] for e in events[:2]) == expected_types[:2]
        assert [e["type"] for e in events[2:]] == expected_types[2:]
        assert len({e["correlation_id"] for e in events}) == 1
        registered = next(e for e in events if e["type"] == "request.registered")
        visit = events[2]
        assert visit["causation_id"] == registered["event_id"]
        assert all(e["causation_id"] == visit["event_id"] for e in events[3:])
        assert "0912345678" not in str(events)

        messages = (
            await client.get(f"{url['notify']}/v1/messages", headers=staff, params={"request_code": code})
        ).json()["messages"]
        by_role = {m["recipient_role"]: m for m in messages}
        assert set(by_role) == {"citizen", "officer", "group_leader"}
        assert all(m["status"] == "sent" for m in messages)
        # Dispatch proposes the afternoon asked for; the SMS form names it and the date, abridged.
        when = f"chiều {visit_day:%d/%m}"
        citizen, officer, leader = by_role["citizen"], by_role["officer"], by_role["group_leader"]
        assert citizen["text"].startswith("P.Thạch Khôi hẹn đến nhà ông/bà Nguyễn Thị Hoa")
        assert when in citizen["text"] and code in citizen["text"]
        assert citizen["segments"] == 2
        assert officer["recipient_name"] == "Lê Văn Giang" and when in officer["text"]
        assert "Số 5, Qua Bộ" in officer["text"] and "Nguyễn Thị Hoa" in officer["text"]
        assert (
            leader["recipient_name"] == "Nguyễn Văn Hiện"
            and when in leader["text"]
            and "Lê Văn Giang" in leader["text"]
        )
        assert citizen["phone"] == "091****678"

        status = (await client.get(f"{url['intake']}/v1/home-requests/{code}", headers=staff)).json()
        assert status["status"] == "appointment_proposed"
        assert status["visit"]["officer_name"] == "Lê Văn Giang"

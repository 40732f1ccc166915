"""Rosters and the calendar in dispatch's own database: seeded on a first start, changed through the
admin API and the operator's command, each change stored with its `roster.changed`, and read by the
booking from memory. On the real broker and database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gandan.dispatch.app import DispatchSettings, build
from gandan.dispatch.repository import MongoRosters
from gandan.dispatch.roster import GROUPS_FILE, STAFF_FILE, VEHICLES_FILE, load_roster
from gandan.shared.auth import Role
from gandan.shared.events import RosterChange, VisitScheduled
from gandan.shared.outbox import Outbox
from gandan.shared.topology import Topology
from gandan.testing import auth, eventually, serving

from .conftest import RelayNotRunning

ROSTER = "/v1/wards/{ward}/roster"
ADMIN = Role.LEADERSHIP
NEW_OFFICER = {
    "name": "Trần Thị Hoa",
    "title": "Chuyên viên Văn phòng HĐND-UBND phường",
    "role": "chuyen_vien",
    "fields": ["ho_tich"],
    "groups": [1],
    "phone": "0500.111.222",
}


@pytest.fixture
def dispatch(service_settings):
    return build(DispatchSettings())


def roster_events(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Its `roster.changed` events (a ward's first roster also announces the wards served)."""
    return [entry["event"] for entry in document["outbox"] if entry["event"]["type"] == "roster.changed"]


async def test_a_first_start_seeds_the_shipped_rosters_and_years_and_a_second_keeps_what_changed(
    service_settings, dispatch_db, collect, namespace
):
    async with serving(*build(DispatchSettings())) as client:
        answer = await client.delete(ROSTER.format(ward="11359") + "/staff/gv-10", headers=auth("11359", ADMIN))
        assert answer.status_code == 200, answer.text
    async with serving(*build(DispatchSettings())):
        await eventually(
            lambda: dispatch_db["rosters"].count_documents({"unpublished": {"$exists": True}}),
            lambda n: n == 0,
            what="every roster.changed published",
        )

    documents = {d["_id"]: d for d in await dispatch_db["rosters"].find().to_list()}
    assert sorted(documents) == ["10672", "11002", "11359"]
    assert documents["11002"]["version"] == 1
    assert documents["11359"]["version"] == 2  # the second start did not seed it again
    assert "gv-10" not in {m["staff_id"] for m in documents["11359"]["roster"]["officers"]}
    assert [e["data"]["change"] for e in roster_events(documents["11359"])] == ["seeded", "member_removed"]
    [year] = await dispatch_db["calendar_years"].find().to_list()
    assert year["_id"] == 2026 and year["decision"]["days_off"] == ["2026-01-02"]
    # Published: audit keeps each change as evidence.
    audited = await collect(Topology(namespace).queue("audit").name, 4)
    # Published at least once: a start stopped before marking its events published sends them again.
    changes = {e.id: e.data.change for e in audited if e.type == "roster.changed"}
    assert sorted(changes.values()) == [
        RosterChange.MEMBER_REMOVED,
        RosterChange.SEEDED,
        RosterChange.SEEDED,
        RosterChange.SEEDED,
    ]


async def test_a_change_through_the_api_is_stored_with_its_event_and_booked_with_at_once(
    dispatch, dispatch_db, publish, collect, request_registered, office_day, namespace
):
    url = ROSTER.format(ward="11002")
    async with serving(*dispatch) as client:
        # Read once, so the booking's roster is in memory before the change.
        assert (await client.get(url, headers=auth("11002", ADMIN))).status_code == 200
        added = await client.put(f"{url}/staff/tk-08", json=NEW_OFFICER, headers=auth("11002", ADMIN))
        assert added.status_code == 200, added.text
        leave = {"first_day": office_day.isoformat(), "last_day": office_day.isoformat()}
        marked = await client.post(f"{url}/staff/tk-03/leave", json=leave, headers=auth("11002", Role.OPERATOR))
        assert marked.status_code == 200, marked.text
        vehicle = {"kind": "xe_may", "seats": 2, "carries": ["máy quét"], "available": False}
        saved = await client.put(f"{url}/vehicles/tk-xm-08", json=vehicle, headers=auth("11002", ADMIN))
        assert saved.status_code == 200, saved.text
        read = (await client.get(url, headers=auth("11002", ADMIN))).json()["roster"]

        await publish(request_registered(preferred_date=office_day, field="ho_tich", residential_group="Thanh Xá"))
        [scheduled] = [e for e in await collect(Topology(namespace).queue("notify").name, 1)]

    assert isinstance(scheduled.data, VisitScheduled)
    assert scheduled.data.officer.staff_id == "tk-08"  # Lê Văn Giang is on leave that day
    hoa = next(m for m in read["officers"] if m["staff_id"] == "tk-08")
    assert (hoa["phone"], hoa["groups"], hoa["leave"]) == ("0500111222", [1], [])
    assert next(m for m in read["officers"] if m["staff_id"] == "tk-03")["leave"] == [
        {"first_day": office_day.isoformat(), "last_day": office_day.isoformat()}
    ]
    assert {
        "vehicle_id": "tk-xm-08",
        "kind": "xe_may",
        "seats": 2,
        "carries": ["máy quét"],
        "available": False,
        "out_of_service": [],
    } in read["vehicles"]
    stored = await dispatch_db["rosters"].find_one({"_id": "11002"})
    events = roster_events(stored)
    assert [(e["data"]["change"], e["data"]["subject"], e["data"]["version"]) for e in events] == [
        ("seeded", None, 1),
        ("member_saved", "tk-08", 2),
        ("leave_marked", "tk-03", 3),
        ("vehicle_saved", "tk-xm-08", 4),
    ]
    assert stored["version"] == 4
    assert "0500111222" not in json.dumps(events) and "0587490257" not in json.dumps(events)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/v1/wards/11359/roster", None, 403, "wrong_ward"),
        ("put", "/v1/wards/11359/roster/staff/gv-03", NEW_OFFICER, 403, "wrong_ward"),
        ("get", "/v1/wards/11218/roster", None, 403, "wrong_ward"),
        ("put", "/v1/wards/11002/roster/staff/tk-08", {**NEW_OFFICER, "phone": "0212345678"}, 422, "invalid_phone"),
        ("put", "/v1/wards/11002/roster/staff/tk-08", {**NEW_OFFICER, "fields": ["thue_vu"]}, 422, "unknown_field"),
        ("put", "/v1/wards/11002/roster/staff/tk-08", {**NEW_OFFICER, "groups": [99]}, 422, "unknown_group"),
        ("delete", "/v1/wards/11002/roster/staff/tk-99", None, 404, "unknown_staff"),
        (
            "post",
            "/v1/wards/11002/roster/staff/tk-03/leave",
            {"first_day": "2026-12-02", "last_day": "2026-12-01"},
            422,
            "leave_reversed",
        ),
        ("put", "/v1/wards/11002/roster/vehicles/xe-1", {"kind": "xe_tai", "seats": 2}, 422, "enum"),
        ("put", "/v1/wards/11002/roster/staff/TK 08", NEW_OFFICER, 422, "string_pattern_mismatch"),
    ],
)
async def test_a_change_refused_changes_nothing(dispatch, dispatch_db, method, path, body, status, code):
    async with serving(*dispatch) as client:
        kwargs: dict[str, Any] = {"headers": auth("11002", ADMIN)} | ({"json": body} if body else {})
        answer = await getattr(client, method)(path, **kwargs)

    assert answer.status_code == status, answer.text
    assert code in [e["code"] for e in answer.json()["errors"]]
    assert {d["version"] for d in await dispatch_db["rosters"].find().to_list()} == {1}


async def test_a_ward_without_a_roster_answers_404(dispatch):
    async with serving(*dispatch) as client:
        answer = await client.get("/v1/wards/11218/roster", headers=auth("11218", ADMIN))

    assert answer.status_code == 404
    assert [e["code"] for e in answer.json()["errors"]] == ["roster_not_found"]


async def test_a_change_made_elsewhere_is_read_once_the_cache_is_due(dispatch_db):
    now = [0.0]
    here = MongoRosters(
        dispatch_db, Outbox(RelayNotRunning(), dispatch_db), refresh_after=timedelta(seconds=60), clock=lambda: now[0]
    )
    elsewhere = MongoRosters(dispatch_db, Outbox(RelayNotRunning(), dispatch_db), refresh_after=timedelta(0))
    await elsewhere.replace(load_roster("11002"), RosterChange.IMPORTED)
    assert len((await here.roster("11002")).officers) == 7

    await elsewhere.change("11002", lambda r: r.without_member("tk-07"), RosterChange.MEMBER_REMOVED, "tk-07")

    assert len((await here.roster("11002")).officers) == 7  # from memory
    now[0] = 61
    assert len((await here.roster("11002")).officers) == 6


# --- the operator's command ------------------------------------------------------------------


def roster_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from gandan.dispatch.operator import main; main()", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def copy_roster(tmp_path: Path, ward: str) -> Path:
    shipped = Path(__file__).parents[1] / "src/gandan/dispatch/rosters" / ward
    for name in (STAFF_FILE, GROUPS_FILE, VEHICLES_FILE):
        (tmp_path / name).write_text((shipped / name).read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


async def test_the_command_imports_a_roster_and_refuses_an_invalid_one_whole(service_settings, dispatch_db, tmp_path):
    folder = copy_roster(tmp_path, "11359")
    staff = (folder / STAFF_FILE).read_text(encoding="utf-8")
    (folder / STAFF_FILE).write_text(staff.replace("Đỗ Văn Tâm", "Đỗ Văn Tâm Anh"), encoding="utf-8")

    imported = roster_command(service_settings, "import", "--ward", "11359", str(folder))

    assert imported.returncode == 0, imported.stderr
    assert "10 staff, 6 residential groups, 3 vehicles" in imported.stdout
    stored = await dispatch_db["rosters"].find_one({"_id": "11359"})
    assert "Đỗ Văn Tâm Anh" in {m["name"] for m in stored["roster"]["officers"]}
    [event] = roster_events(stored)
    assert (event["type"], event["data"]["change"], event["ward_code"]) == ("roster.changed", "imported", "11359")

    lines = staff.splitlines()
    broken = "\n".join([lines[0], lines[1].replace("0500.181.590", "0500"), lines[2], lines[3].replace("ho_tich", "y")])
    (folder / STAFF_FILE).write_text(broken, encoding="utf-8")
    refused = roster_command(service_settings, "import", "--ward", "11359", str(folder))

    assert refused.returncode == 1
    assert refused.stderr.splitlines()[:2] == [
        "can_bo.csv:2: số điện thoại '0500' không phải 10 chữ số bắt đầu bằng 03, 05, 07, 08 hoặc 09",
        "can_bo.csv:4: lĩnh vực không biết: y",
    ]
    assert "nothing imported" in refused.stderr
    assert (await dispatch_db["rosters"].find_one({"_id": "11359"}))["version"] == 1


async def test_the_command_enters_a_year_s_decision_which_the_booking_then_follows(
    service_settings, dispatch_db, tmp_path
):
    decision = tmp_path / "2027.toml"
    decision.write_text(
        'year = 2027\nsource = "Quyết định thử"\ndays_off = ["2027-01-04"]\nworking_days = ["2027-01-09"]\n',
        encoding="utf-8",
    )

    entered = roster_command(service_settings, "calendar", str(decision))
    invalid = roster_command(service_settings, "calendar", str(tmp_path / "missing.toml"))

    assert entered.returncode == 0, entered.stderr
    assert invalid.returncode == 1 and "nothing entered" in invalid.stderr
    calendar = await MongoRosters(
        dispatch_db, Outbox(RelayNotRunning(), dispatch_db), refresh_after=timedelta(0)
    ).calendar()
    assert not calendar.is_working_day(date(2027, 1, 4)) and calendar.is_working_day(date(2027, 1, 9))
    assert not calendar.is_provisional(date(2027, 6, 1))


async def test_the_command_opens_a_ward_on_a_weekend_day(service_settings, dispatch_db):
    await MongoRosters(dispatch_db, Outbox(RelayNotRunning(), dispatch_db), refresh_after=timedelta(0)).replace(
        load_roster("10672"), RosterChange.IMPORTED
    )

    opened = roster_command(service_settings, "open-day", "--ward", "10672", "2026-12-06")

    assert opened.returncode == 0, opened.stderr
    stored = await dispatch_db["rosters"].find_one({"_id": "10672"})
    assert stored["roster"]["open_days"] == ["2026-12-06"]
    assert [e["data"]["change"] for e in roster_events(stored)] == ["imported", "opened_on"]

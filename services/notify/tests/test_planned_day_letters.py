"""The letters of dispatch's planned day: the arrival window, the route of the day, "we could not book
you", the changed visit, escalations and the morning digest; each fitting its medium."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from gandan.notify.domain import (
    Contact,
    Policy,
    breach_messages,
    digest_messages,
    rescheduled_messages,
    route_messages,
    unassignable_messages,
)
from gandan.notify.templates import ZNS_MAX_CHARS, Encoding, sms_size
from gandan.shared.events import (
    DigestPrepared,
    LeaderContact,
    RecipientRole,
    RescheduleReason,
    RoutePlanned,
    RouteStop,
    ServiceLevelBreached,
    ServiceLevelRule,
    StaffContact,
    UnassignableReason,
    VisitRescheduled,
    VisitUnassignable,
)
from gandan.testing.factories import LEADER, OFFICER

WARD_NAME = "Phường Thạch Khôi"
DAY = date(2026, 11, 30)
# 08:10 in Vietnam on Monday 30/11/2026.
EIGHT_TEN = datetime(2026, 11, 30, 1, 10, tzinfo=UTC)
COMPANION = StaffContact(staff_id="tk-07", name="Phạm Thu Hà", phone="0986222333")
LEADERSHIP = (
    StaffContact(staff_id="tk-01", name="Vũ Minh Tuấn", phone="0904111000"),
    StaffContact(staff_id="tk-02", name="Trần Thị Mai", phone="0904222000"),
)
GROUPS = ("Thanh Xá", "Quán Bồ", "Vĩnh Lộc", "An Trì", "Đông Thái")


def code(i: int) -> str:
    return f"GD-AB12C{i:02d}"


def contact(request_code: str, name: str = "Nguyễn Thị Lan", address: str = "Số 12 ngõ 3, Thanh Xá") -> Contact:
    return Contact(request_code, name, f"09123456{int(request_code[-2:]):02d}", address, "Thanh Xá")


def stop(i: int, procedure: str = "Đăng ký khai tử") -> RouteStop:
    arrives = EIGHT_TEN + timedelta(minutes=50 * i)
    return RouteStop(
        request_code=code(i),
        visit_id=f"visit-{i}",
        residential_group=GROUPS[i % len(GROUPS)],
        procedure=procedure,
        arrives_from=arrives,
        arrives_until=arrives + timedelta(minutes=40),
    )


def route(count: int = 5, *, revision: int = 1, officer: StaffContact = OFFICER, **changes) -> RoutePlanned:
    values: dict[str, Any] = {
        "day": DAY,
        "team_id": "team-1",
        "revision": revision,
        "officer": officer,
        "companions": (COMPANION,),
        "vehicle_id": None,
        "vehicle_kind": None,
        "stops": tuple(stop(i) for i in range(count)),
        "provisional": False,
    }
    return RoutePlanned(**values | changes)


def unassignable(**changes) -> VisitUnassignable:
    values: dict[str, Any] = {
        "request_code": code(0),
        "citizen_ref": "cit-7f3a",
        "reason": UnassignableReason.NO_OFFICER_FOR_FIELD,
        "detail": "Không có cán bộ lĩnh vực đất đai trong tuần",
        "leadership": LEADERSHIP,
    }
    return VisitUnassignable(**values | changes)


def rescheduled(**changes) -> VisitRescheduled:
    values: dict[str, Any] = {
        "request_code": code(0),
        "visit_id": "visit-0",
        "starts_at": EIGHT_TEN + timedelta(days=1),
        "ends_at": EIGHT_TEN + timedelta(days=1, hours=1),
        "officer": COMPANION,
        "leader": LEADER,
        "reason": RescheduleReason.OFFICER_DECLINED,
    }
    return VisitRescheduled(**values | changes)


def breached(**changes) -> ServiceLevelBreached:
    values: dict[str, Any] = {
        "request_code": code(0),
        "rule": ServiceLevelRule.FIRST_CONTACT,
        "due_at": EIGHT_TEN,
        "leadership": LEADERSHIP,
    }
    return ServiceLevelBreached(**values | changes)


def digest(**changes) -> DigestPrepared:
    values: dict[str, Any] = {
        "day": DAY,
        "routes": 4,
        "visits": 17,
        "unassigned": (code(1), code(2)),
        "late": (code(3),),
        "leadership": LEADERSHIP,
    }
    return DigestPrepared(**values | changes)


def typical_drafts():
    """One of each letter, with typical values: for the checks every template goes through."""
    stops = route()
    contacts = {s.request_code: contact(s.request_code) for s in stops.stops}
    return (
        *route_messages(stops, contacts, {}, WARD_NAME),
        *unassignable_messages(unassignable(), contact(code(0)), WARD_NAME),
        *rescheduled_messages(rescheduled(), contact(code(0)), WARD_NAME),
        *breach_messages(breached(), WARD_NAME),
        *digest_messages(digest(), WARD_NAME),
    )


LONG_NAME = ("Nguyễn Thị Phương Thảo Hoàng Ngọc Bảo Châu Trần Lê Minh Khuê " * 2)[:100]
LONG_ADDRESS = "Số 1234 ngách 56/78 ngõ 910 đường Nguyễn Bỉnh Khiêm " * 4
LONG_WARD = "Phường Nguyễn Bỉnh Khiêm Dương Kinh Kiến Thụy"


def longest_drafts():
    """The longest values the contracts and forms allow: names of 100, a detail of 300, a day of 20 stops."""
    long_staff = StaffContact(staff_id="x" * 20, name=LONG_NAME, phone="0983111222")
    stops = route(
        20,
        officer=long_staff,
        team_id="t" * 40,
        stops=tuple(stop(i, "Đăng ký kết hôn có yếu tố nước ngoài " * 5) for i in range(20)),
    )
    contacts = {s.request_code: contact(s.request_code, LONG_NAME, LONG_ADDRESS) for s in stops.stops}
    many = tuple(code(i) for i in range(40))
    leadership = (long_staff,)
    return (
        *route_messages(stops, contacts, {}, LONG_WARD),
        *unassignable_messages(
            unassignable(detail="Không có cán bộ " * 18 + "x" * 12, leadership=leadership),
            contact(code(0), LONG_NAME, LONG_ADDRESS),
            LONG_WARD,
        ),
        *rescheduled_messages(
            rescheduled(officer=long_staff, leader=LeaderContact(name=LONG_NAME, roles=(), phone="0978333444")),
            contact(code(0), LONG_NAME, LONG_ADDRESS),
            LONG_WARD,
        ),
        *breach_messages(breached(rule=ServiceLevelRule.VISIT_DEADLINE, leadership=leadership), LONG_WARD),
        *digest_messages(digest(unassigned=many[:20], late=many[20:], leadership=leadership), LONG_WARD),
    )


@pytest.mark.parametrize("unaccented", [False, True])
def test_with_typical_values_every_letter_fits_in_two_sms_parts(unaccented):
    for draft in typical_drafts():
        text = draft.template.sms_text(draft.values, unaccented=unaccented)
        size = sms_size(text)
        assert "$" not in text, draft.template.key
        assert size.encoding is (Encoding.GSM7 if unaccented else Encoding.UCS2), (draft.template.key, text)
        assert size.segments <= 2, (draft.template.key, size, text)


def test_with_the_longest_values_sms_stays_cut_and_zns_within_zalos_limits():
    for draft in longest_drafts():
        accented = sms_size(draft.template.sms_text(draft.values, unaccented=False))
        unaccented = sms_size(draft.template.sms_text(draft.values, unaccented=True))
        assert accented.segments <= 4, (draft.template.key, accented)
        assert unaccented.segments <= 2, (draft.template.key, unaccented)
        data = draft.template.zns_data(draft.values)
        assert all(len(data[name]) <= limit for name, limit in draft.template.zns_limits.items())
        zns = draft.template.zns_text(draft.values)
        assert "$" not in zns
        assert len(zns) < ZNS_MAX_CHARS, (draft.template.key, len(zns))


def sms_of(draft) -> str:
    return draft.template.sms_text(draft.values, unaccented=False)


def test_each_citizen_of_the_day_is_told_their_window_and_the_team_their_route_in_order():
    day = route(3)
    drafts = route_messages(day, {s.request_code: contact(s.request_code) for s in day.stops}, {}, WARD_NAME)

    citizens = [d for d in drafts if d.recipient_role is RecipientRole.CITIZEN]
    staff = [d for d in drafts if d.recipient_role is RecipientRole.OFFICER]
    assert [(d.phone, d.subject) for d in citizens] == [
        ("0912345600", code(0)),
        ("0912345601", code(1)),
        ("0912345602", code(2)),
    ]
    assert (
        sms_of(citizens[0])
        == "P.Thạch Khôi: ngày 30/11, cán bộ sẽ đến nhà ông/bà trong khoảng 8:10-8:50. Mã GD-AB12C00"
    )
    assert "thứ Hai, 30/11/2026" in citizens[1].template.zns_text(citizens[1].values)
    assert "9:00-9:40" in sms_of(citizens[1])
    assert [d.phone for d in staff] == [OFFICER.phone, COMPANION.phone]
    assert {d.subject for d in staff} == {"route:2026-11-30:team-1"}
    assert sms_of(staff[0]) == (
        "P.Thạch Khôi: lịch đến nhà 30/11: 3 nhà: 8:10 GD-AB12C00 Thanh Xá; 9:00 GD-AB12C01 Quán Bồ; "
        "9:50 GD-AB12C02 Vĩnh Lộc"
    )
    assert "1) 8:10-8:50 GD-AB12C00 (Thanh Xá); 2) 9:00-9:40" in staff[0].template.zns_text(staff[0].values)


def test_a_long_route_shows_its_first_stops_and_how_many_more_within_two_parts():
    day = route(9)
    [officer, _] = [
        d
        for d in route_messages(day, {s.request_code: contact(s.request_code) for s in day.stops}, {}, WARD_NAME)
        if d.recipient_role is RecipientRole.OFFICER
    ]

    text = sms_of(officer)
    assert text.startswith("P.Thạch Khôi: lịch đến nhà 30/11: 9 nhà: 8:10 GD-AB12C00 Thanh Xá;")
    shown = text.count("GD-")
    assert 1 <= shown < 9
    assert text.endswith(f"+{9 - shown} nhà")
    assert sms_size(text).segments == 2


def test_a_later_revision_tells_only_citizens_whose_window_changed_and_the_team_that_it_changed():
    day = route(3, revision=2)
    contacts = {s.request_code: contact(s.request_code) for s in day.stops}
    told = {code(0): "8:10-8:50", code(1): "9:10-9:50"}  # the first unchanged, the second moved

    drafts = route_messages(day, contacts, told, WARD_NAME)

    assert [d.subject for d in drafts if d.recipient_role is RecipientRole.CITIZEN] == [code(1), code(2)]
    assert "lịch đến nhà 30/11 (đã đổi): 3 nhà" in sms_of(drafts[-1])


def test_a_team_left_without_stops_is_told_its_day_changed():
    drafts = route_messages(route(0, revision=3), {}, {}, WARD_NAME)

    assert [d.phone for d in drafts] == [OFFICER.phone, COMPANION.phone]
    assert sms_of(drafts[0]) == "P.Thạch Khôi: lịch đến nhà 30/11 (đã đổi): không còn nhà nào."


def test_a_citizen_nobody_could_be_booked_for_hears_the_centre_will_call_and_the_leadership_whom_to_call():
    drafts = unassignable_messages(unassignable(), contact(code(0)), WARD_NAME)

    [citizen, *leadership] = drafts
    assert sms_of(citizen) == (
        "P.Thạch Khôi chưa xếp được lịch đến nhà ông/bà (mã GD-AB12C00). Trung tâm sẽ gọi điện cho ông/bà."
    )
    assert [(d.recipient_role, d.phone, d.recipient_key) for d in leadership] == [
        (RecipientRole.LEADERSHIP, "0904111000", "tk-01"),
        (RecipientRole.LEADERSHIP, "0904222000", "tk-02"),
    ]
    assert sms_of(leadership[0]) == (
        "Chưa xếp được lịch GD-AB12C00 (Nguyễn Thị Lan 0912345600): Không có cán bộ lĩnh vực đất đai trong tuần. "
        "Đề nghị gọi lại."
    )


def test_a_changed_visit_tells_the_citizen_the_new_time_and_officer_and_the_new_officer_the_citizens_phone():
    citizen, officer = rescheduled_messages(rescheduled(), contact(code(0)), WARD_NAME)

    assert (
        sms_of(citizen) == "P.Thạch Khôi đổi lịch: cán bộ Phạm Thu Hà đến nhà ông/bà vào 08:10 T3 01/12. Mã GD-AB12C00"
    )
    assert officer.phone == COMPANION.phone
    assert "0912345600" in sms_of(officer)
    assert dict(officer.refs) == {"visit_id": "visit-0", "staff_id": "tk-07", "day": "2026-12-01"}


def test_escalations_and_the_digest_go_to_each_of_the_leadership():
    [breach, _] = breach_messages(breached(), WARD_NAME)
    [morning, _] = digest_messages(digest(), WARD_NAME)

    assert (
        sms_of(breach)
        == "Trễ hạn GD-AB12C00: gọi hẹn trong 1 ngày làm việc, hạn 08:10 T2 30/11. Đề nghị chỉ đạo xử lý."
    )
    assert (morning.subject, morning.recipient_role) == ("digest:2026-11-30", RecipientRole.LEADERSHIP)
    assert sms_of(morning) == (
        "P.Thạch Khôi sáng 30/11: 4 tuyến, 17 nhà; chưa xếp 2, trễ 1. Chưa xếp: GD-AB12C01, GD-AB12C02; Trễ: GD-AB12C03"
    )


# 22:30 in Vietnam.
LATE_EVENING = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("role", [RecipientRole.OFFICER, RecipientRole.GROUP_LEADER, RecipientRole.LEADERSHIP])
def test_staff_are_written_to_in_quiet_hours_and_citizens_in_the_morning(role):
    policy = Policy()

    assert policy.earliest("11002", role, "digest_leadership", LATE_EVENING) == LATE_EVENING
    assert policy.earliest("11002", RecipientRole.CITIZEN, "visit_window_citizen", LATE_EVENING) == datetime(
        2026, 11, 27, 0, 0, tzinfo=UTC
    )

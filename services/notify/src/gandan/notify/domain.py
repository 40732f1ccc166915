"""What notify says, to whom: Vietnamese messages rendered from templates. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from string import Template

from gandan.shared.clock import local
from gandan.shared.events import RecipientRole, VisitScheduled

_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")

# Versioned names: a changed wording is a new template, so evidence says which text was sent.
TEMPLATES: dict[str, Template] = {
    "visit_appointment_citizen.v1": Template(
        "Kính gửi ông/bà $citizen_name: $centre hẹn đến nhà ông/bà lúc $when để hỗ trợ thủ tục "
        '"$procedure". Cán bộ $officer_name cùng ông/bà $leader_name (tổ dân phố $group) sẽ đến. '
        "Mã yêu cầu: $request_code."
    ),
    "visit_assignment_officer.v1": Template(
        "Phân công: đồng chí $officer_name đến nhà ông/bà $citizen_name, $address (tổ dân phố $group) "
        'lúc $when để hỗ trợ thủ tục "$procedure", cùng ông/bà $leader_name ($leader_phone). '
        "Mã yêu cầu: $request_code."
    ),
    "visit_assignment_leader.v1": Template(
        "Đề nghị ông/bà $leader_name cùng cán bộ $officer_name ($officer_phone) đến nhà ông/bà "
        '$citizen_name, $address lúc $when để hỗ trợ thủ tục "$procedure". Mã yêu cầu: $request_code.'
    ),
}


@dataclass(frozen=True)
class Contact:
    """How to reach the citizen of one request."""

    request_code: str
    name: str
    phone: str
    address: str
    residential_group: str


@dataclass(frozen=True)
class Message:
    recipient_role: RecipientRole
    recipient_name: str
    phone: str
    template: str
    text: str


def when(moment: datetime) -> str:
    """`08:00 thứ Ba, 01/12/2026`, in Vietnam's time."""
    at = local(moment)
    return f"{at:%H:%M} {_WEEKDAYS[at.weekday()]}, {at:%d/%m/%Y}"


def centre_of(ward_name: str | None) -> str:
    # "Phường Thạch Khôi" reads "phường Thạch Khôi" inside a sentence.
    return (
        f"Trung tâm Phục vụ hành chính công {ward_name[:1].lower()}{ward_name[1:]}"
        if ward_name
        else "Trung tâm Phục vụ hành chính công"
    )


def visit_messages(visit: VisitScheduled, contact: Contact, ward_name: str | None) -> tuple[Message, ...]:
    """The appointment for the citizen and the assignment for the officer and the group leader."""
    values = {
        "citizen_name": contact.name,
        "address": contact.address,
        "group": visit.residential_group,
        "centre": centre_of(ward_name),
        "when": when(visit.starts_at),
        "procedure": visit.procedure,
        "officer_name": visit.officer.name,
        "officer_phone": visit.officer.phone,
        "leader_name": visit.leader.name,
        "leader_phone": visit.leader.phone,
        "request_code": visit.request_code,
    }
    recipients = (
        (RecipientRole.CITIZEN, contact.name, contact.phone, "visit_appointment_citizen.v1"),
        (RecipientRole.OFFICER, visit.officer.name, visit.officer.phone, "visit_assignment_officer.v1"),
        (RecipientRole.GROUP_LEADER, visit.leader.name, visit.leader.phone, "visit_assignment_leader.v1"),
    )
    return tuple(
        Message(role, name, phone, template, TEMPLATES[template].substitute(values))
        for role, name, phone, template in recipients
    )

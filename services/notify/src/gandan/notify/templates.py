"""What notify says: versioned templates, each with an SMS form and a Zalo ZNS form, and the arithmetic
of SMS segments. No I/O.

A template is known by its id and version: a changed wording is a new version, so a stored message
says exactly which text it carried. New letters (for events other services will announce) are added to
`TEMPLATES` the same way.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from string import Template as Text
from types import MappingProxyType

# Zalo approves a ZNS template in advance; it refuses one longer than this, with its values filled in.
ZNS_MAX_CHARS = 400


class Encoding(StrEnum):
    GSM7 = "gsm7"  # unaccented Latin: 160 characters in one SMS, 153 per part of a longer one
    UCS2 = "ucs2"  # anything else, Vietnamese with diacritics: 70, then 67 per part


# The GSM 03.38 basic set, and the extension characters that each take two places.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsSize:
    encoding: Encoding
    length: int  # in the encoding's units: GSM-7 septets (an extension character counts 2), UCS-2 code units
    segments: int


def sms_size(text: str) -> SmsSize:
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text):
        length = sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
        return SmsSize(Encoding.GSM7, length, 1 if length <= 160 else math.ceil(length / 153))
    length = len(text.encode("utf-16-le")) // 2
    return SmsSize(Encoding.UCS2, length, 1 if length <= 70 else math.ceil(length / 67))


def fold_accents(text: str) -> str:
    """Vietnamese without diacritics, for wards that send unaccented SMS: `Đông Đức Hợp` → `Dong Duc Hop`.

    `đ` is a letter of its own, not `d` with a mark, so decomposing leaves it: it is mapped by hand.
    """
    plain = text.replace("đ", "d").replace("Đ", "D").replace("…", "...")  # a cut value's ellipsis too
    decomposed = unicodedata.normalize("NFD", plain)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


@dataclass(frozen=True)
class Template:
    id: str
    version: int
    sms: Text
    # The text registered with Zalo (its `<name>` placeholders written `$name` here), and the most
    # characters Zalo takes for each parameter.
    zns: Text
    zns_limits: MappingProxyType[str, int]
    # Essential to the citizen's request (an appointment, a result): sent even to those who opted out
    # of the rest (a survey, a greeting).
    essential: bool = True

    @property
    def key(self) -> str:
        return f"{self.id}.v{self.version}"

    def sms_text(self, values: dict[str, str], *, unaccented: bool) -> str:
        # Cut as for Zalo: the longest name or address the forms allow would make an SMS of many parts.
        text = self.sms.substitute(values | self.zns_data(values))
        return fold_accents(text) if unaccented else text

    def zns_data(self, values: dict[str, str]) -> dict[str, str]:
        """The `template_data` of a ZNS request: each parameter cut to Zalo's limit for it."""
        return {name: _clip(values[name], limit) for name, limit in self.zns_limits.items()}

    def zns_text(self, values: dict[str, str]) -> str:
        """The message as Zalo shows it."""
        return self.zns.substitute(self.zns_data(values))


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _limits(**limits: int) -> MappingProxyType[str, int]:
    return MappingProxyType(limits)


# Zalo takes a name of 30 characters, an address of 200; ours are shorter, so the whole stays under
# 400 with the longest values the forms allow (a name of 100, an address or a procedure of 200).
_NAME, _PHONE, _ADDRESS, _CODE, _WHEN, _PROCEDURE, _CENTRE = 30, 15, 70, 20, 40, 50, 80

# --- the letters of a request's progress, to its citizen (intake's lifecycle events; seed 004 B.4) ---

_DOCUMENTS, _HOTLINE, _DATE, _TRACKING, _URL = 60, 20, 10, 20, 60


def _letter(template_id: str, sms: str, zns: str, *, essential: bool = True, **limits: int) -> Template:
    return Template(
        template_id,
        1,
        sms=Text(sms),
        zns=Text(zns),
        zns_limits=_limits(citizen_name=_NAME, centre=_CENTRE, request_code=_CODE, **limits),
        essential=essential,
    )


PROGRESS_LETTERS = (
    _letter(
        "appointment_agreed_citizen",
        "$ward hẹn $when_short tại nhà. Xin chuẩn bị: $documents. Đổi lịch liên hệ $hotline. Mã $request_code",
        "Kính gửi ông/bà $citizen_name: $centre xác nhận lịch hẹn đến nhà ông/bà vào $when (mã yêu cầu "
        "$request_code). Xin ông/bà chuẩn bị sẵn: $documents. Nếu cần đổi lịch, xin ông/bà liên hệ $hotline.",
        when=_WHEN,
        documents=_DOCUMENTS,
        hotline=_HOTLINE,
    ),
    # One wording per way the result is handed over (seed 000 III.5).
    _letter(
        "result_ready_portal",
        "$ward: đã có kết quả hồ sơ $request_code của ông/bà trên Cổng Dịch vụ công.",
        "Kính gửi ông/bà $citizen_name: kết quả giải quyết hồ sơ của ông/bà (mã yêu cầu $request_code) đã "
        "được trả trên Cổng Dịch vụ công. Ông/bà đăng nhập bằng tài khoản định danh điện tử VNeID để xem và "
        "tải về. $centre trân trọng thông báo.",
    ),
    _letter(
        "result_ready_post",
        "$ward: kết quả hồ sơ $request_code đã gửi qua bưu điện đến ông/bà, mã bưu gửi $tracking_number.",
        "Kính gửi ông/bà $citizen_name: $centre đã gửi kết quả giải quyết hồ sơ của ông/bà (mã yêu cầu "
        "$request_code) qua dịch vụ bưu chính công ích, mã bưu gửi $tracking_number. Nhân viên bưu điện sẽ "
        "liên hệ ông/bà khi giao.",
        tracking_number=_TRACKING,
    ),
    _letter(
        "result_ready_centre",
        "$ward: đã có kết quả hồ sơ $request_code tại Trung tâm. Người đến nhận xin mang theo CCCD.",
        "Kính gửi ông/bà $citizen_name: kết quả giải quyết hồ sơ của ông/bà (mã yêu cầu $request_code) đã có "
        "tại $centre. Ông/bà hoặc người được ủy quyền xin mang theo CCCD khi đến nhận.",
    ),
    _letter(
        "result_ready_home",
        "$ward: đã có kết quả hồ sơ $request_code, cán bộ sẽ mang đến nhà ông/bà và gọi trước khi đến.",
        "Kính gửi ông/bà $citizen_name: kết quả giải quyết hồ sơ của ông/bà (mã yêu cầu $request_code) đã có. "
        "$centre sẽ trả kết quả tại nhà ông/bà; cán bộ sẽ gọi điện trước khi đến.",
    ),
    # Greetings are not essential: a citizen who opted out of the rest does not get them.
    _letter(
        "result_delivered_birth",
        "$ward chúc mừng gia đình ông/bà $citizen_name có thêm thành viên mới. Chúc cháu bé luôn khỏe mạnh!",
        "Kính gửi ông/bà $citizen_name: $centre xin chúc mừng gia đình ông/bà đón thêm thành viên mới. Kính "
        "chúc cháu bé luôn khỏe mạnh, ngoan ngoãn và gia đình luôn hạnh phúc, bình an. (Mã yêu cầu: $request_code.)",
        essential=False,
    ),
    _letter(
        "result_delivered_marriage",
        "$ward chúc mừng ông/bà $citizen_name đã đăng ký kết hôn. Chúc ông/bà và người bạn đời trăm năm hạnh phúc!",
        "Kính gửi ông/bà $citizen_name: nhân dịp ông/bà đăng ký kết hôn, $centre xin gửi lời chúc mừng tốt đẹp "
        "nhất. Kính chúc ông/bà và người bạn đời trăm năm hạnh phúc. (Mã yêu cầu: $request_code.)",
        essential=False,
    ),
    _letter(
        "result_delivered_death",
        "$ward xin thành kính chia buồn cùng ông/bà $citizen_name và gia đình. Mong gia đình sớm vượt qua mất mát.",
        "Kính gửi ông/bà $citizen_name và gia đình: $centre xin thành kính chia buồn trước sự mất mát lớn của "
        "gia đình. Kính mong ông/bà và gia đình sớm vượt qua nỗi đau, giữ gìn sức khỏe. (Mã yêu cầu: $request_code.)",
        essential=False,
    ),
    # The apology for a late dossier, with its new date (seed 004 B.4: "xin lỗi và xin gia hạn").
    _letter(
        "request_overdue_apology",
        "$ward xin lỗi ông/bà: hồ sơ $request_code chưa giải quyết kịp hạn, hẹn trả kết quả ngày $new_due_date. "
        "Mong ông/bà thông cảm.",
        "Kính gửi ông/bà $citizen_name: $centre chân thành xin lỗi ông/bà vì hồ sơ (mã yêu cầu $request_code) "
        "chưa được giải quyết đúng hạn. Trung tâm xin gia hạn và hẹn trả kết quả vào ngày $new_due_date. Rất "
        "mong ông/bà thông cảm.",
        new_due_date=_DATE,
    ),
    # Answered with the request code and the phone the message reached (intake's POST /v1/survey).
    _letter(
        "request_closed_survey",
        "$ward mời ông/bà đánh giá sự hài lòng tại $survey_url với mã $request_code và số điện thoại này.",
        "Kính gửi ông/bà $citizen_name: hồ sơ của ông/bà (mã yêu cầu $request_code) đã hoàn tất. Để $centre "
        "phục vụ tốt hơn, kính mời ông/bà đánh giá mức độ hài lòng tại $survey_url: nhập mã yêu cầu và số điện "
        "thoại nhận tin này.",
        essential=False,
        survey_url=_URL,
    ),
)


# --- letters of dispatch's planned day, and the answer to a staff reply not understood -------------
# Lists (a day's stops, the digest's codes) are fitted to two SMS parts where they are drafted; the
# ZNS form carries more of them, within its parameters' limits.
_WINDOW, _DAY, _LIST, _DETAIL, _CODES = 20, 40, 250, 120, 90

PLANNED_DAY_LETTERS = (
    Template(
        "visit_window_citizen",
        1,
        sms=Text("$ward: ngày $day, cán bộ sẽ đến nhà ông/bà trong khoảng $window. Mã $request_code"),
        zns=Text(
            "Kính gửi ông/bà $citizen_name: ngày $day_long, cán bộ $centre sẽ đến nhà ông/bà trong khoảng "
            '$window để hỗ trợ thủ tục "$procedure". Mã yêu cầu: $request_code.'
        ),
        zns_limits=_limits(
            citizen_name=_NAME, day_long=_DAY, centre=_CENTRE, window=_WINDOW, procedure=_PROCEDURE, request_code=_CODE
        ),
    ),
    Template(
        "route_of_day_officer",
        1,
        sms=Text("$ward: lịch đến nhà $day$changed: $stops_short"),
        zns=Text("Lịch đến nhà ngày $day_long$changed của đồng chí $officer_name: $stops."),
        zns_limits=_limits(day_long=_DAY, changed=_WINDOW, officer_name=_NAME, stops=_LIST),
    ),
    Template(
        "visit_unassignable_citizen",
        1,
        sms=Text("$ward chưa xếp được lịch đến nhà ông/bà (mã $request_code). Trung tâm sẽ gọi điện cho ông/bà."),
        zns=Text(
            "Kính gửi ông/bà $citizen_name: $centre chưa xếp được lịch đến nhà ông/bà (mã yêu cầu $request_code). "
            "Cán bộ Trung tâm sẽ gọi điện cho ông/bà để hẹn lại."
        ),
        zns_limits=_limits(citizen_name=_NAME, centre=_CENTRE, request_code=_CODE),
    ),
    Template(
        "visit_unassignable_leadership",
        1,
        # The citizen's phone: the centre calls them (they were told so).
        sms=Text("Chưa xếp được lịch $request_code ($citizen_name $citizen_phone): $detail_short. Đề nghị gọi lại."),
        zns=Text(
            "Kính gửi lãnh đạo $centre: chưa xếp được lịch đến nhà cho yêu cầu $request_code của ông/bà "
            "$citizen_name ($citizen_phone). Lý do: $detail. Đề nghị bố trí và gọi điện cho người dân."
        ),
        zns_limits=_limits(
            centre=_CENTRE, request_code=_CODE, citizen_name=_NAME, citizen_phone=_PHONE, detail=_DETAIL
        ),
    ),
    Template(
        "visit_rescheduled_citizen",
        1,
        sms=Text("$ward đổi lịch: cán bộ $officer_name đến nhà ông/bà vào $when_short. Mã $request_code"),
        zns=Text(
            "Kính gửi ông/bà $citizen_name: $centre đổi lịch hẹn. Cán bộ $officer_name cùng ông/bà $leader_name "
            "sẽ đến nhà ông/bà vào $when. Mã yêu cầu: $request_code."
        ),
        zns_limits=_limits(
            citizen_name=_NAME, centre=_CENTRE, officer_name=_NAME, leader_name=_NAME, when=_WHEN, request_code=_CODE
        ),
    ),
    Template(
        "visit_rescheduled_officer",
        1,
        # As the assignment's: the citizen's phone to call first; who goes with them is in the ZNS form.
        sms=Text("Lịch mới $when_short: $citizen_name $citizen_phone, $address. $request_code"),
        zns=Text(
            "Phân công (đổi lịch): đồng chí $officer_name đến nhà ông/bà $citizen_name ($citizen_phone), $address "
            "vào $when, cùng ông/bà $leader_name ($leader_phone). Mã yêu cầu: $request_code."
        ),
        zns_limits=_limits(
            officer_name=_NAME,
            citizen_name=_NAME,
            citizen_phone=_PHONE,
            address=_ADDRESS,
            when=_WHEN,
            leader_name=_NAME,
            leader_phone=_PHONE,
            request_code=_CODE,
        ),
    ),
    Template(
        "service_level_breached_leadership",
        1,
        sms=Text("Trễ hạn $request_code: $rule, hạn $due_short. Đề nghị chỉ đạo xử lý."),
        zns=Text(
            "Kính gửi lãnh đạo $centre: yêu cầu $request_code đã quá hạn $rule (hạn $due). Đề nghị chỉ đạo xử lý."
        ),
        zns_limits=_limits(centre=_CENTRE, request_code=_CODE, rule=_DAY, due=_WHEN),
    ),
    Template(
        "digest_leadership",
        1,
        sms=Text(
            "$ward sáng $day: $routes tuyến, $visits nhà; chưa xếp $unassigned_count, trễ $late_count. $codes_short"
        ),
        zns=Text(
            "Báo cáo sáng $day_long của $centre: $routes tuyến, $visits lượt đến nhà. "
            "Chưa xếp được lịch ($unassigned_count): $unassigned. Trễ hạn ($late_count): $late."
        ),
        zns_limits=_limits(
            day_long=_DAY,
            centre=_CENTRE,
            routes=4,
            visits=4,
            unassigned_count=4,
            unassigned=_CODES,
            late_count=4,
            late=_CODES,
        ),
    ),
    Template(
        "staff_reply_help",
        1,
        sms=Text("Chưa hiểu trả lời cho $request_code. Nhắn OK, KHÔNG hoặc ĐỔI 14:00 (thêm 1/12 nếu khác ngày)."),
        zns=Text(
            "Hệ thống chưa hiểu trả lời của đồng chí cho yêu cầu $request_code. Xin nhắn OK (nhận), KHÔNG (từ chối) "
            "hoặc ĐỔI 14:00 (đổi giờ; thêm ngày, ví dụ ĐỔI 14:00 1/12, nếu khác ngày)."
        ),
        zns_limits=_limits(request_code=_CODE),
    ),
)


def clipped(value: str, limit: int) -> str:
    """`value`, cut to `limit` characters with an ellipsis, as a parameter is for Zalo."""
    return _clip(value, limit)


# Each letter by its id, at its current version.
LETTERS: MappingProxyType[str, Template] = MappingProxyType(
    {t.id: t for t in (*PROGRESS_LETTERS, *PLANNED_DAY_LETTERS)}
)

# The SMS forms of staff carry what the officer needs on the way (seed 000: the citizen's phone, to
# call first); the rest (who goes with them, the procedure for the leader) is in the ZNS form, so
# that the SMS fits in two parts with a real address and procedure.
TEMPLATES: MappingProxyType[tuple[str, int], Template] = MappingProxyType(
    {
        (t.id, t.version): t
        for t in (
            Template(
                "visit_appointment_citizen",
                3,
                sms=Text(
                    "$ward hẹn đến nhà ông/bà $citizen_name vào $when_short hỗ trợ thủ tục $procedure. Mã $request_code"
                ),
                zns=Text(
                    "Kính gửi ông/bà $citizen_name: $centre hẹn đến nhà ông/bà vào $when để hỗ trợ thủ tục "
                    '"$procedure". Cán bộ $officer_name cùng ông/bà $leader_name sẽ đến. Mã yêu cầu: $request_code.'
                ),
                zns_limits=_limits(
                    citizen_name=_NAME,
                    centre=_CENTRE,
                    when=_WHEN,
                    procedure=_PROCEDURE,
                    officer_name=_NAME,
                    leader_name=_NAME,
                    request_code=_CODE,
                ),
            ),
            Template(
                "visit_assignment_officer",
                3,
                # The citizen's phone, so the officer can call before going (seed 000).
                sms=Text("Lịch $when_short: $citizen_name $citizen_phone, $address; $procedure. $request_code"),
                zns=Text(
                    "Phân công: đồng chí $officer_name đến nhà ông/bà $citizen_name ($citizen_phone), $address "
                    'vào $when để hỗ trợ thủ tục "$procedure", cùng ông/bà $leader_name ($leader_phone). '
                    "Mã yêu cầu: $request_code."
                ),
                zns_limits=_limits(
                    officer_name=_NAME,
                    citizen_name=_NAME,
                    citizen_phone=_PHONE,
                    address=_ADDRESS,
                    when=_WHEN,
                    procedure=_PROCEDURE,
                    leader_name=_NAME,
                    leader_phone=_PHONE,
                    request_code=_CODE,
                ),
            ),
            Template(
                "visit_assignment_leader",
                3,
                sms=Text(
                    "Lịch $when_short: cùng cán bộ $officer_name $officer_phone đến nhà $citizen_name, $address. "
                    "$request_code"
                ),
                zns=Text(
                    "Đề nghị ông/bà $leader_name cùng cán bộ $officer_name ($officer_phone) đến nhà ông/bà "
                    '$citizen_name, $address vào $when để hỗ trợ thủ tục "$procedure". Mã yêu cầu: $request_code.'
                ),
                zns_limits=_limits(
                    leader_name=_NAME,
                    officer_name=_NAME,
                    officer_phone=_PHONE,
                    citizen_name=_NAME,
                    address=_ADDRESS,
                    when=_WHEN,
                    procedure=_PROCEDURE,
                    request_code=_CODE,
                ),
            ),
            *PROGRESS_LETTERS,
            *PLANNED_DAY_LETTERS,
        )
    }
)

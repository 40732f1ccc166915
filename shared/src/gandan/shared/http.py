"""The HTTP error shape every service answers with.

Errors are `{"errors": [{"field", "code", "message"}]}`: a stable code for
programs, a Vietnamese message for the person reading it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# Vietnamese messages for pydantic's own error types; our validators raise
# PydanticCustomError with their own code and message.
_MESSAGES = {
    "missing": "Thiếu thông tin bắt buộc.",
    "string_type": "Phải là chuỗi ký tự.",
    "string_too_short": "Không được để trống.",
    "string_too_long": "Quá dài.",
    "string_pattern_mismatch": "Không đúng định dạng.",
    "enum": "Giá trị không nằm trong danh sách cho phép.",
    "literal_error": "Giá trị không nằm trong danh sách cho phép.",
    "date_type": "Ngày không hợp lệ (định dạng YYYY-MM-DD).",
    "date_parsing": "Ngày không hợp lệ (định dạng YYYY-MM-DD).",
    "date_from_datetime_parsing": "Ngày không hợp lệ (định dạng YYYY-MM-DD).",
    "extra_forbidden": "Trường này không được chấp nhận.",
    "json_invalid": "Nội dung không phải JSON hợp lệ.",
    "model_attributes_type": "Nội dung phải là một đối tượng JSON.",
    "dict_type": "Nội dung phải là một đối tượng JSON.",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.field = status, code, message, field


def _field(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":  # its location ends in a character offset, not a field
        return "body"
    parts = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def validation_errors(error: RequestValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": _field(e),
            "code": e["type"],
            "message": _MESSAGES.get(e["type"], e.get("msg", "Không hợp lệ.")),
        }
        for e in error.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"errors": validation_errors(error)})

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        body = {"field": error.field or "", "code": error.code, "message": error.message}
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(status_code=error.status, content={"errors": [body]}, headers=headers)

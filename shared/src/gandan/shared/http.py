"""The HTTP error shape every service answers with, and the limits every service keeps.

Errors are `{"errors": [{"field", "code", "message"}]}`: a stable code for programs, a
Vietnamese message for the person reading it. Whatever goes wrong answers in this shape:
validation, credentials, a body too large or not JSON, an unknown path, the database away
(503 with `Retry-After`), an answer that takes too long (503), an unexpected error (500).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pymongo.errors import ConnectionFailure, PyMongoError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gandan.shared.logs import log_fields

logger = logging.getLogger(__name__)

# The largest form (four free-text fields of at most 200 characters, every character
# escaped as \uXXXX) is under 5 KB; 16 KiB leaves room and refuses anything that is not a form
# before it is parsed, so no body can make a service spend memory or time on it.
MAX_BODY_BYTES = 16 * 1024
# Longer than the database driver's own timeouts, so those answer first; this bounds what they
# cannot, e.g. a database server that accepts connections and then never answers.
RESPONSE_DEADLINE_SECONDS = 10.0
# When a client should try again after a 503: the database is usually back within seconds.
RETRY_AFTER_SECONDS = 5

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
    "int_parsing": "Phải là một số nguyên.",
    "greater_than_equal": "Giá trị quá nhỏ.",
    "less_than_equal": "Giá trị quá lớn.",
    "uuid_parsing": "Không đúng định dạng UUID.",
    "int_type": "Phải là một số nguyên.",
    "bool_type": "Phải là true hoặc false.",
    "bool_parsing": "Phải là true hoặc false.",
    "datetime_type": "Thời điểm không hợp lệ (ISO 8601, có múi giờ).",
    "datetime_parsing": "Thời điểm không hợp lệ (ISO 8601, có múi giờ).",
    "timezone_aware": "Thời điểm phải có múi giờ, ví dụ 2026-12-02T08:00:00+07:00.",
}


# A request code in a path, as a person reads or types it (GD-ABCDEFG): anything longer is not one.
RequestCode = Annotated[str, Path(min_length=1, max_length=20, description="Mã yêu cầu, ví dụ GD-ABCDEFG")]


class ErrorDetail(BaseModel):
    field: str = Field(description="The field at fault (`body` for the body as a whole), or empty")
    code: str = Field(description="Stable code for programs, e.g. invalid_phone")
    message: str = Field(description="Vietnamese message for the person")


class ErrorBody(BaseModel):
    errors: list[ErrorDetail] = Field(min_length=1)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = dict(headers or {})


_DESCRIPTIONS = {
    401: "No credential, or one that is invalid, expired, or a citizen's that is bound to no one",
    403: "The credential's role or ward may not do this",
    404: "Not found (or not visible to this credential)",
    409: "Conflicts with an earlier request",
    413: f"Body larger than {MAX_BODY_BYTES} bytes",
    422: "Invalid input, every invalid field reported; or a body that is not JSON",
    429: "Too many attempts: try again after Retry-After seconds",
    503: "The database is unreachable or the answer took too long: try again after Retry-After seconds",
}


def example(make: Callable[[], dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    """A request body's example for the OpenAPI document, made when the document is: an example
    with dates stays valid (a preferred date must lie ahead), and a test validates each one."""

    def add(schema: dict[str, Any]) -> None:
        schema["examples"] = [make()]

    return add


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the errors an endpoint can answer, all in the error shape."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        if status in (429, 503):
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
            }
        responses[status] = response
    return responses


def error_response(
    status: int, code: str, message: str, field: str = "", headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(errors=[ErrorDetail(field=field, code=code, message=message)])
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


def unavailable() -> JSONResponse:
    return error_response(
        503,
        "temporarily_unavailable",
        "Hệ thống tạm thời không xử lý được yêu cầu, vui lòng thử lại sau ít phút.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _field(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":  # its location ends in a character offset, not a field
        return "body"
    parts = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
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


_NOT_JSON = "Nội dung không phải JSON hợp lệ."
_BODY_TOO_LARGE = f"Nội dung gửi lên quá lớn (tối đa {MAX_BODY_BYTES // 1024} KB)."
_HTTP_ERRORS = {
    404: ("not_found", "Không có địa chỉ này."),
    405: ("method_not_allowed", "Địa chỉ này không nhận phương thức này."),
    413: ("body_too_large", _BODY_TOO_LARGE),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"errors": validation_errors(error)})

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        headers = error.headers | ({"WWW-Authenticate": "Bearer"} if error.status == 401 else {})
        return error_response(error.status, error.code, error.message, error.field or "", headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 400:
            # FastAPI's only 400: a body it could not parse that is not a JSON syntax error
            # (nesting deeper than the parser's recursion limit, bytes that are not UTF-8).
            # To the caller it is the same as any other body that is not JSON.
            return error_response(422, "json_invalid", _NOT_JSON, "body")
        code, message = _HTTP_ERRORS.get(error.status_code, ("http_error", "Yêu cầu không được chấp nhận."))
        return error_response(error.status_code, code, message, headers=error.headers)

    @app.exception_handler(PyMongoError)
    async def _database_error(_: Request, error: PyMongoError) -> JSONResponse:
        # Unreachable or too slow: the caller may retry. Anything else is our fault.
        if isinstance(error, ConnectionFailure) or error.timeout:
            logger.warning("database unavailable", extra=log_fields(error=type(error).__name__))
            return unavailable()
        logger.exception("database error")
        return _internal()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        return _internal()

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(Deadline, seconds=RESPONSE_DEADLINE_SECONDS)


def _internal() -> JSONResponse:
    return error_response(500, "internal_error", "Đã có lỗi ngoài dự kiến, vui lòng thử lại sau.")


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413)


class BodyLimit:
    """Refuse a request body over `max_bytes` (413), counted as it arrives, so a missing or
    false Content-Length changes nothing. A declared length over the limit is refused before
    a byte is read. Only bodies an endpoint reads count: a GET never answers 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise BodyTooLarge
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge
            return message

        await self.app(scope, limited, send)


class Deadline:
    """Answer 503 (error shape, Retry-After) when a response has not started within `seconds`."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                await self.app(scope, receive, tracked)
        except TimeoutError:
            if started or not deadline.expired():
                raise
            logger.warning("no response in time", extra=log_fields(path=scope.get("path"), seconds=self.seconds))
            await unavailable()(scope, receive, send)

"""Every error leaves the API in one shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import DomainError, RangeNotSatisfiable, RateLimited

log = logging.getLogger("v1tr0.errors")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The one error shape of every API route."""

    error: ErrorDetail


# Declared on every API route (app.include_router(..., responses=ERROR_RESPONSES)), so the OpenAPI schema
# documents what the handlers below can answer; the schema fuzzer (tests/fuzz) holds them to it.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "malformed JSON",
        401: "missing, invalid or expired token",
        403: "not allowed",
        404: "not found (or not visible to the caller)",
        409: "conflicts with stored data",
        413: "request body too large",
        415: "unsupported file type",
        422: "request failed validation",
        429: "rate limited; see Retry-After",
        503: "a backing service (database, Redis, model) is unavailable",
    }.items()
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status, headers=headers
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out on purpose: it may hold a password or a token.
    return [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error.get("type")}
        for error in exc.errors()
    ]


async def handle_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if isinstance(exc, RangeNotSatisfiable):
        headers = {"Content-Range": f"bytes */{exc.size}"}
    if exc.status_code == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(item["type"] == "json_invalid" for item in details):
        return error_response(400, "malformed_json", "request body is not valid JSON", details)
    return error_response(422, "invalid", "request failed validation", details)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def handle_integrity_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("integrity error", exc_info=exc)
    return error_response(409, "conflict", "the request conflicts with stored data")


async def handle_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("backing service unavailable", exc_info=exc)
    return error_response(503, "service_unavailable", "a backing service is unavailable; retry shortly")


async def handle_db_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated or isinstance(exc.orig, psycopg.OperationalError):
        return await handle_unavailable(request, exc)
    log.error("database error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(IntegrityError, handle_integrity_error)
    app.add_exception_handler(OperationalError, handle_unavailable)
    app.add_exception_handler(PoolTimeout, handle_unavailable)
    app.add_exception_handler(DBAPIError, handle_db_error)
    app.add_exception_handler(psycopg.OperationalError, handle_unavailable)
    app.add_exception_handler(redis.exceptions.ConnectionError, handle_unavailable)
    app.add_exception_handler(redis.exceptions.TimeoutError, handle_unavailable)

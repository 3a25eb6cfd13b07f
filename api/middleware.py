"""ASGI middleware: request id, trace span, security headers, body limit, metrics, last-resort 500, CORS."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logs import request_id_var
from core.tracing import ServerSpan, start_server_span

log = logging.getLogger("v1tr0.http")

REQUEST_LATENCY = Histogram(
    "v1tr0_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUESTS_IN_ERROR = Counter("v1tr0_http_unhandled_errors_total", "requests that ended in an unhandled error")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _new_request_id() -> str:
    """32 hex digits, like uuid4().hex, without a system call: a correlation id, not a secret."""
    return f"{random.getrandbits(128):032x}"


UNMATCHED = "unmatched"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"x-xss-protection", b"1; mode=block"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
STRICT_CSP = b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; frame-ancestors 'none'"
)
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


def error_body(status: int, code: str, message: str, details: Any = None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the error shape rather than plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        }
        reason = bytes(response.body).decode()  # e.g. "Disallowed CORS origin"
        return Response(
            error_body(response.status_code, "cors_refused", reason),
            status_code=response.status_code,
            headers=headers,
            media_type="application/json",
        )


class BodyTooLarge(Exception):
    pass


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/projects/{project_id}`), never the raw ids.

    A route included into the app with a prefix may keep only its own path (FastAPI 0.165 does), so
    the prefix is taken from the request path: whatever comes before the route's own part."""
    template = getattr(scope.get("route"), "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED
    try:
        own_part = template.format_map(
            {name: str(value) for name, value in scope.get("path_params", {}).items()}
        )
    except (KeyError, ValueError, IndexError):
        return template
    path: str = scope["path"]
    if own_part and path.endswith(own_part):
        return path[: len(path) - len(own_part)] + template
    return template


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        upload_paths: tuple[str, ...] = (),
        hsts: bool = False,
        tracing: bool = False,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_paths = upload_paths
        self.hsts = hsts
        self.tracing = tracing

    def _limit_for(self, scope: Scope) -> int:
        path: str = scope["path"]
        if any(marker in path for marker in self.upload_paths):
            return self.max_upload_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else _new_request_id()
        token = request_id_var.set(request_id)
        path: str = scope["path"]
        span = (
            start_server_span(
                method=scope["method"],
                path=path,
                scheme=scope.get("scheme", "http"),
                request_id=request_id,
                traceparent=headers.get(b"traceparent", b"").decode("latin-1") or None,
                tracestate=headers.get(b"tracestate", b"").decode("latin-1") or None,
            )
            if self.tracing
            else None
        )
        error: Exception | None = None
        docs = path.startswith(("/docs", "/redoc", "/static/swagger"))
        limit = self._limit_for(scope)
        state = {"status": 500, "started": False, "too_large": False}

        extra_headers = [(b"x-request-id", request_id.encode()), *SECURITY_HEADERS]
        extra_headers.append((b"content-security-policy", DOCS_CSP if docs else STRICT_CSP))
        if self.hsts:
            extra_headers.append(HSTS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message["headers"] = list(message.get("headers", [])) + extra_headers
            await send(message)

        async def send_wrapper(message: Message) -> None:
            # Once the body is over the limit, whatever the app makes of the cut-short body (FastAPI
            # answers 400 "error parsing the body") is dropped for the 413 sent below.
            if state["too_large"] and not state["started"]:
                return
            await send_with_headers(message)

        async def respond_error(status: int, code: str, message: str) -> None:
            body = error_body(status, code, message)
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await respond_error(413, "payload_too_large", f"request body exceeds {limit} bytes")
                return
            received = 0

            async def receive_wrapper() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        state["too_large"] = True
                        raise BodyTooLarge
                return message

            await self.app(scope, receive_wrapper, send_wrapper)
        except BodyTooLarge:
            pass
        except Exception as exc:
            error = exc
            if not state["too_large"]:
                REQUESTS_IN_ERROR.inc()
                log.exception("unhandled error", extra={"path": path, "method": scope["method"]})
                if not state["started"]:
                    await respond_error(500, "internal_error", "internal server error")
        finally:
            try:
                if state["too_large"] and not state["started"]:
                    await respond_error(413, "payload_too_large", f"request body exceeds {limit} bytes")
            finally:
                self._finish(scope, started, state, span, error)
                request_id_var.reset(token)

    @staticmethod
    def _finish(
        scope: Scope, started: float, state: dict[str, Any], span: ServerSpan | None, error: Exception | None
    ) -> None:
        """Metrics, the access log line and the trace span of a finished (or abandoned) request."""
        elapsed = time.perf_counter() - started
        template = route_template(scope)
        status = int(state["status"])
        REQUEST_LATENCY.labels(scope["method"], template, str(status)).observe(elapsed)
        log.info(
            "request",
            extra={
                "method": scope["method"],
                "route": template,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        if span is not None:
            route = None if template == UNMATCHED else template
            span.finish(method=scope["method"], route=route, status=status, error=error)

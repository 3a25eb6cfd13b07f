"""Pure ASGI middleware: request id, security headers, body size limit, metrics and the last-resort 500."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logs import request_id_var

log = logging.getLogger("v1tr0.http")

REQUEST_LATENCY = Histogram(
    "v1tr0_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUESTS_IN_ERROR = Counter("v1tr0_http_unhandled_errors_total", "requests that ended in an unhandled error")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

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


class BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        upload_paths: tuple[str, ...] = (),
        hsts: bool = False,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_paths = upload_paths
        self.hsts = hsts

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
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        path: str = scope["path"]
        docs = path.startswith(("/docs", "/redoc", "/static/swagger"))
        limit = self._limit_for(scope)
        status_holder = {"status": 500, "started": False}

        extra_headers = [(b"x-request-id", request_id.encode()), *SECURITY_HEADERS]
        extra_headers.append((b"content-security-policy", DOCS_CSP if docs else STRICT_CSP))
        if self.hsts:
            extra_headers.append(HSTS)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message["headers"] = list(message.get("headers", [])) + extra_headers
            await send(message)

        async def respond_error(status: int, code: str, message: str) -> None:
            body = error_body(status, code, message)
            await send_wrapper(
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
                        raise BodyTooLarge
                return message

            await self.app(scope, receive_wrapper, send_wrapper)
        except BodyTooLarge:
            if not status_holder["started"]:
                await respond_error(413, "payload_too_large", f"request body exceeds {limit} bytes")
        except Exception:
            REQUESTS_IN_ERROR.inc()
            log.exception("unhandled error", extra={"path": path, "method": scope["method"]})
            if not status_holder["started"]:
                await respond_error(500, "internal_error", "internal server error")
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            status = int(status_holder["status"])
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
            request_id_var.reset(token)

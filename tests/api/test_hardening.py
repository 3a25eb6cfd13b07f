"""What every response carries whatever the route: one error shape, a request id (in the header and in the
JSON log lines), the security headers; CORS from settings; a body size limit; health, readiness (503 when
PostgreSQL or Redis is down), Prometheus metrics and an OpenAPI document with typed responses."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.app import API_PREFIX, api_routers, create_app
from api.resources import Resources
from api.routes import health
from core import keys
from core.embedded import free_port
from core.events import note_failure
from core.logs import JsonFormatter
from core.models import Project
from core.security import create_access_token
from tests.conftest import TEST_SECRET, Factory, add_failing_routes, make_settings

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "x-xss-protection": "1; mode=block",
    "referrer-policy": "no-referrer",
}
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
ALLOWED_ORIGIN = "http://localhost:3000"
SMALL_BODY_LIMIT = 2048


def assert_common_headers(response: httpx.Response) -> str:
    """Every response: a request id and the security headers. Returns the request id."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers)
    assert "default-src 'self'" in response.headers["content-security-policy"]
    request_id = response.headers["x-request-id"]
    assert request_id
    return request_id


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    assert_common_headers(response)
    return error


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """The app's log lines (loggers under `v1tr0`, INFO and up) as JsonFormatter writes them."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))  # formatted now: the request id is read from the context

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("v1tr0")
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def small_client(servers, resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose JSON body limit is SMALL_BODY_LIMIT bytes (sharing the test database and Redis)."""
    app = create_app(make_settings(servers, http={"max_body_bytes": SMALL_BODY_LIMIT}), resources=resources)
    async with asgi_client(app) as http:
        yield http


async def register_and_login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "password123", "full_name": "Ana"}
    )
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": "password123"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def project_count(resources: Resources) -> int:
    async with resources.sessionmaker() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Project)) or 0)


# --- one error shape -------------------------------------------------------------------------------------


async def test_every_client_error_status_has_the_error_shape(
    client: httpx.AsyncClient, small_client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = await register_and_login(client, "owner@example.com")
    stranger = await factory.user()
    r = await client.post("/api/v1/projects", json={"title": "Web"}, headers=owner)
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]

    assert_error(
        await client.post(
            "/api/v1/auth/login", content=b'{"email": "a@', headers={"Content-Type": "application/json"}
        ),
        400,
        "malformed_json",
    )
    unauthorized = await client.get("/api/v1/auth/me")
    assert_error(unauthorized, 401)
    assert unauthorized.headers["www-authenticate"] == "Bearer"
    assert_error(await client.get("/api/v1/users", headers=stranger.headers), 403, "forbidden")
    assert_error(await client.get("/api/v1/no-such-route"), 404, "not_found")
    assert_error(await client.get(f"/api/v1/projects/{uuid.uuid4()}", headers=owner), 404, "not_found")
    assert_error(await client.get(f"/api/v1/projects/{project_id}", headers=stranger.headers), 404)
    assert_error(await client.delete("/health/live"), 405, "method_not_allowed")
    duplicate = await client.post(
        "/api/v1/auth/register",
        json={"email": "owner@example.com", "password": "password123", "full_name": "B"},
    )
    assert_error(duplicate, 409)
    assert_error(
        await small_client.post(
            "/api/v1/projects", json={"title": "x", "description": "y" * SMALL_BODY_LIMIT}, headers=owner
        ),
        413,
        "payload_too_large",
    )
    upload = await client.post(
        f"/api/v1/projects/{project_id}/documents/upload",
        files={"file": ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png")},
        headers=owner,
    )
    assert_error(upload, 415, "unsupported_media_type")
    invalid = assert_error(
        await client.post("/api/v1/projects", json={"title": "x", "progress": 101}, headers=owner),
        422,
        "invalid",
    )
    assert invalid["details"][0]["loc"] == ["body", "progress"]


async def test_login_rate_limit_is_a_429_with_retry_after(client: httpx.AsyncClient, settings) -> None:
    await register_and_login(client, "limited@example.com")
    wrong = {"email": "limited@example.com", "password": "not-the-password"}
    # One attempt was spent logging in above.
    for _ in range(settings.auth.login_rate_limit - 1):
        assert_error(await client.post("/api/v1/auth/login", json=wrong), 401)

    limited = await client.post("/api/v1/auth/login", json=wrong)

    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= settings.auth.login_rate_window


@pytest.fixture
def failing_app(settings, resources: Resources) -> FastAPI:
    """The real app plus test-only routes that fail the way bugs do."""
    return add_failing_routes(
        create_app(settings, resources=resources),
        resources.engine,
        error="boom: password=hunter2 in /srv/app/secret.py",
        statement="SELECT secret_column FROM no_such_table",
    )


@pytest.mark.parametrize(
    ("path", "logged"), [("/test-only/boom", "hunter2"), ("/test-only/bad-sql", "no_such_table")]
)
async def test_an_unexpected_error_is_a_500_without_details(
    failing_app: FastAPI, log_lines: list[str], path: str, logged: str
) -> None:
    async with asgi_client(failing_app) as http:
        r = await http.get(path, headers={"X-Request-ID": "trace-500-abcdef"})

    error = assert_error(r, 500, "internal_error")
    assert error["details"] is None
    for leak in ("hunter2", "boom", "Traceback", "no_such_table", "SELECT", "secret"):
        assert leak not in r.text
    assert r.headers["x-request-id"] == "trace-500-abcdef"
    # The log keeps what the client does not see, under the same request id.
    failures = [line for line in parsed(log_lines) if "exc" in line]
    assert failures, log_lines
    assert all(line["request_id"] == "trace-500-abcdef" for line in failures)
    assert any(logged in line["exc"] for line in failures)


async def test_a_backing_service_error_in_a_route_is_a_503(servers, tmp_path: Path) -> None:
    """With Redis unreachable, login (whose rate limit lives in Redis) answers 503 in the error shape."""
    settings = make_settings(servers, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    resources = Resources.open(settings)
    try:
        async with asgi_client(create_app(settings, resources=resources)) as http:
            r = await http.post(
                "/api/v1/auth/login", json={"email": "a@example.com", "password": "password123"}
            )
    finally:
        await resources.close()

    assert_error(r, 503, "service_unavailable")
    assert "127.0.0.1" not in r.text


# --- request id, security headers, logs --------------------------------------------------------------------


async def test_a_valid_request_id_is_echoed_and_an_invalid_one_replaced(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "client-trace-0001"})
    assert assert_common_headers(echoed) == "client-trace-0001"

    for bad in ("short", "has spaces in it", "x" * 65, "<script>alert(1)</script>"):
        r = await client.get("/health/live", headers={"X-Request-ID": bad})
        assert GENERATED_REQUEST_ID.match(assert_common_headers(r)), bad

    first, second = await client.get("/health/live"), await client.get("/health/live")
    assert GENERATED_REQUEST_ID.match(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_successful_responses_carry_the_headers_too(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/register", json={"email": "h@example.com", "password": "password123", "full_name": "H"}
    )
    assert r.status_code == 201
    assert_common_headers(r)
    for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert_common_headers(r)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_log_lines_are_json_with_the_request_id(
    client: httpx.AsyncClient, log_lines: list[str]
) -> None:
    await client.get("/health/live", headers={"X-Request-ID": "trace-log-000001"})
    await client.get(f"/api/v1/projects/{uuid.uuid4()}", headers={"X-Request-ID": "trace-log-000002"})

    lines = parsed(log_lines)
    requests = {line["request_id"]: line for line in lines if line["message"] == "request"}
    assert requests["trace-log-000001"]["route"] == "/health/live"
    assert requests["trace-log-000001"]["status"] == 200
    assert requests["trace-log-000002"]["status"] == 401
    assert {"ts", "level", "logger", "duration_ms", "method"} <= set(requests["trace-log-000002"])


# --- CORS --------------------------------------------------------------------------------------------------


async def test_cors_preflight_from_an_allowed_origin(client: httpx.AsyncClient) -> None:
    r = await client.options(
        "/api/v1/projects",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )

    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    assert_common_headers(r)
    simple = await client.get("/health/live", headers={"Origin": ALLOWED_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "X-Request-ID" in simple.headers["access-control-expose-headers"]


async def test_cors_from_another_origin_is_not_allowed(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/projects",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert_error(preflight, 400)

    simple = await client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_origins_come_from_settings(servers, resources: Resources) -> None:
    settings = make_settings(servers, http={"cors_origins": ["https://app.example.com"]})
    async with asgi_client(create_app(settings, resources=resources)) as http:
        allowed = await http.options(
            "/api/v1/projects",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
        )
        default = await http.options(
            "/api/v1/projects", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET"}
        )

    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in default.headers


# --- body size limit ---------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_with_content_length_is_refused(
    client: httpx.AsyncClient, small_client: httpx.AsyncClient, resources: Resources
) -> None:
    headers = await register_and_login(client, "big@example.com")
    body = json.dumps({"title": "big", "description": "x" * (SMALL_BODY_LIMIT * 4)}).encode()

    r = await small_client.post(
        "/api/v1/projects", content=body, headers={**headers, "Content-Type": "application/json"}
    )

    assert r.request.headers["content-length"] == str(len(body))
    error = assert_error(r, 413, "payload_too_large")
    assert str(SMALL_BODY_LIMIT) in error["message"]
    assert await project_count(resources) == 0


async def test_a_chunked_body_over_the_limit_is_refused(
    client: httpx.AsyncClient, small_client: httpx.AsyncClient, resources: Resources
) -> None:
    headers = await register_and_login(client, "chunked@example.com")
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield b'{"title": "chunked", "description": "'
        for _ in range(16):
            sent.append(512)
            yield b"x" * 512
        yield b'"}'

    r = await small_client.post(
        "/api/v1/projects", content=body(), headers={**headers, "Content-Type": "application/json"}
    )

    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert_error(r, 413, "payload_too_large")
    assert await project_count(resources) == 0
    # A body under the limit, chunked the same way, goes through.

    async def small_body() -> AsyncIterator[bytes]:
        yield b'{"title": "fits",'
        yield b' "description": "ok"}'

    r = await small_client.post(
        "/api/v1/projects", content=small_body(), headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text
    assert await project_count(resources) == 1


# --- health and metrics ------------------------------------------------------------------------------------


async def test_liveness(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/live")

    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readiness_reports_database_redis_and_worker(client: httpx.AsyncClient, redis_client) -> None:
    r = await client.get("/health/ready")

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["redis"]["status"] == "up"
    assert body["checks"]["worker"]["status"] == "down"  # no worker runs in this test

    beat = time.time()
    await redis_client.set(keys.WORKER_HEARTBEAT, str(beat), ex=30)
    r = await client.get("/health/ready")
    assert r.json()["checks"]["worker"] == {"status": "up", "last_seen": beat, "recent_failures": 0}

    # Failures the worker noted recently are counted, the newest shown; old ones are not.
    await note_failure(redis_client, job="ingest_outbox", error="OperationalError: gone", outbox_id=7)
    stale = {"ts": time.time() - health.FAILURE_WINDOW - 60, "job": "ingest_outbox", "error": "old"}
    await redis_client.rpush(keys.WORKER_FAILURES, json.dumps(stale))
    worker = (await client.get("/health/ready")).json()["checks"]["worker"]
    assert worker["recent_failures"] == 1
    assert worker["last_failure"]["error"] == "OperationalError: gone"
    assert worker["last_failure"]["outbox_id"] == 7


@pytest.mark.parametrize("down", ["database", "redis"])
async def test_readiness_is_503_when_a_dependency_is_down(servers, tmp_path: Path, down: str) -> None:
    overrides = (
        {"database_url": f"postgresql://postgres@/postgres?host={tmp_path / 'no-server-here'}"}
        if down == "database"
        else {"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    settings = make_settings(servers, **overrides)
    resources = Resources.open(settings)
    try:
        async with asgi_client(create_app(settings, resources=resources)) as http:
            ready = await http.get("/health/ready")
            live = await http.get("/health/live")
            token = create_access_token(user_id=uuid.uuid4(), secret=TEST_SECRET, ttl_seconds=60)
            me = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    finally:
        await resources.close()

    assert live.status_code == 200
    assert ready.status_code == 503, ready.text
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"][down]["status"] == "down"
    up = "redis" if down == "database" else "database"
    assert body["checks"][up]["status"] == "up"
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["details"] == {"down": [down]}
    assert_common_headers(ready)
    if down == "database":
        assert_error(me, 503, "service_unavailable")


async def test_metrics_use_route_templates(client: httpx.AsyncClient, factory: Factory) -> None:
    actor = await factory.user()
    missing = uuid.uuid4()
    r = await client.get(f"/api/v1/projects/{missing}", headers=actor.headers)
    assert r.status_code == 404

    r = await client.get("/metrics")

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE v1tr0_http_request_duration_seconds histogram" in text
    assert re.search(
        r'v1tr0_http_request_duration_seconds_count\{method="GET",route="/api/v1/projects/\{project_id\}",'
        r'status="404"\} \d+',
        text,
    ), text[-3000:]
    assert str(missing) not in text


# --- OpenAPI and docs --------------------------------------------------------------------------------------


def schema_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves in its schema, read from the routers themselves."""
    routes = set()
    for prefix, router in [("", health.router), *((API_PREFIX, router) for router in api_routers())]:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                routes |= {(method.lower(), prefix + route.path) for method in route.methods}
    return routes


async def test_openapi_lists_every_route_with_a_typed_response(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    documented = {(method, path) for path, operations in spec["paths"].items() for method in operations}

    expected = schema_routes()
    assert len(expected) > 30
    assert documented == expected

    untyped = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            successes = {code: resp for code, resp in operation["responses"].items() if code.startswith("2")}
            assert successes, (method, path)
            for code, response in successes.items():
                for media_type, content in response.get("content", {}).items():
                    if media_type == "text/event-stream":
                        continue
                    if not content.get("schema"):
                        untyped.append((method, path, code, media_type))
    assert untyped == []


async def test_docs_are_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "/static/swagger/swagger-ui-bundle.js" in html
    assert "/static/swagger/swagger-ui.css" in html
    assert "/openapi.json" in html
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\"' ]+", html)
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        served = await client.get(f"/static/swagger/{asset}")
        assert served.status_code == 200, asset
        assert len(served.content) > 1000
        assert_common_headers(served)

"""Schemathesis against the app's OpenAPI schema, on a small budget: every operation is called with
generated input, anonymously and as an authenticated user, against a real uvicorn process. No answer is
a 500, and every answer is documented (status code, content type, body schema, headers).

The SSE chat routes and event feeds are left out: their 200 is an endless event stream, not a body to
validate (tests/retrieval/test_chat_stream.py and tests/api/test_feed.py cover them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from core.settings import Settings
from tests.conftest import TEST_SECRET, Servers
from tests.faults.conftest import Api


@schemathesis.check
def no_internal_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A 500 is a bug; a documented 503 (e.g. the search index before any model serves) is not."""
    if response.status_code == 500:
        raise AssertionError(f"500 from {case.method} {case.path}: {response.text[:300]}")


CHECKS = [
    no_internal_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

schema = (
    schemathesis.openapi.from_dict(
        create_app(Settings(environment="test", auth={"secret_key": TEST_SECRET})).openapi()
    )
    .exclude(path_regex=r"^/api/v1/ai/chat/\{project_id\}(/stream/\{message_id\})?$", method=["POST", "GET"])
    .exclude(path_regex=r"^/api/v1/ai/chat/\{project_id\}/stream/")
    .exclude(path_regex=r"^/api/v1/(projects/\{project_id\}/)?events$", method="GET")
)


class ServedApi(Api):
    """The fault tests' uvicorn process, against the suite's (shared) database and Redis."""

    def __init__(self, servers: Servers, tmp_path: Path) -> None:
        super().__init__(servers, tmp_path)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    api = ServedApi(servers, tmp_path_factory.mktemp("fuzz")).start()
    try:
        headers = api.user()
        r = api.http.post("/api/v1/projects", json={"title": f"Fuzz {uuid.uuid4().hex[:6]}"}, headers=headers)
        assert r.status_code == 201
        yield f"http://127.0.0.1:{api.port}", headers
    finally:
        api.stop()


@schema.parametrize()
@hypothesis_settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, served: tuple[str, dict[str, str]]
) -> None:
    base_url, headers = served
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=20)
    case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=20)

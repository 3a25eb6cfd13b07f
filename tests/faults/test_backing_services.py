"""PostgreSQL or Redis going away under a running API (a uvicorn process), and coming back.

The worker killed mid-job (SIGKILL) is covered by tests/ingestion/test_worker_process.py."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.conftest import Api, PrivateServices, assert_error_shape, eventually, worker


def _ready_status(api: Api) -> int:
    return api.http.get("/health/ready").status_code


def test_postgres_outage_answers_503_and_the_api_recovers_without_restart(
    private_services: PrivateServices, tmp_path: Path
) -> None:
    api = Api(private_services, tmp_path).start()
    try:
        headers = api.user()
        written = []
        for n in range(3):
            r = api.http.post("/api/v1/projects", json={"title": f"Before {n}"}, headers=headers)
            assert r.status_code == 201, r.text
            written.append(r.json()["id"])
        assert _ready_status(api) == 200

        private_services.stop_postgres()
        try:
            r = api.http.get("/health/ready")
            assert r.status_code == 503
            body = r.json()
            assert body["error"]["code"] == "service_unavailable"
            assert body["error"]["details"] == {"down": ["database"]}
            assert body["checks"]["database"]["status"] == "down"
            assert body["checks"]["redis"]["status"] == "up"

            for method, path, payload in [
                ("GET", "/api/v1/projects", None),
                ("GET", f"/api/v1/projects/{written[0]}", None),
                ("POST", "/api/v1/projects", {"title": "During"}),
                ("PUT", f"/api/v1/projects/{written[1]}", {"title": "Renamed during"}),
                ("GET", "/api/v1/auth/me", None),
            ]:
                r = api.http.request(method, path, json=payload, headers=headers)
                body = assert_error_shape(r, 503)
                assert body["error"]["code"] == "service_unavailable", (method, path, body)
            assert api.process.alive()
        finally:
            private_services.start_postgres()

        # The same API process (its pool reconnects): ready again, and every 2xx write is there.
        eventually(lambda: _ready_status(api) == 200, "ready after PostgreSQL restarts", log=api.process.log)
        for project_id in written:
            r = api.http.get(f"/api/v1/projects/{project_id}", headers=headers)
            assert r.status_code == 200, r.text
        r = api.http.get("/api/v1/projects", headers=headers)
        assert r.status_code == 200
        titles = {item["title"] for item in r.json()["items"]}
        assert titles == {"Before 0", "Before 1", "Before 2"}  # the failed writes left nothing behind
        r = api.http.post("/api/v1/projects", json={"title": "After"}, headers=headers)
        assert r.status_code == 201
        assert "Traceback" not in api.process.log()
    finally:
        api.stop()


def test_redis_outage_keeps_crud_working_and_nothing_is_lost_for_the_worker(
    private_services: PrivateServices, tmp_path: Path
) -> None:
    api = Api(private_services, tmp_path).start()
    indexer = worker(private_services, tmp_path)
    try:
        headers = api.user()
        r = api.http.post("/api/v1/projects", json={"title": "Redis outage"}, headers=headers)
        project_id = r.json()["id"]

        private_services.stop_redis()
        try:
            started = time.monotonic()
            r = api.http.get("/health/ready")
            assert r.status_code == 503
            assert r.json()["error"]["details"] == {"down": ["redis"]}

            r = api.http.get(f"/api/v1/projects/{project_id}", headers=headers)
            assert r.status_code == 200, r.text
            r = api.http.post("/api/v1/projects", json={"title": "Written without Redis"}, headers=headers)
            assert r.status_code == 201, r.text
            documents = []
            for n in range(3):
                r = api.http.post(
                    f"/api/v1/projects/{project_id}/documents",
                    json={"title": f"Acta {n}", "content": f"# Acta {n}\n\nEl plazo {n} vence el viernes."},
                    headers=headers,
                )
                assert r.status_code == 201, r.text
                documents.append(r.json()["id"])

            r = api.http.get(f"/api/v1/ai/ask/{project_id}", params={"q": "plazo"}, headers=headers)
            body = assert_error_shape(r, 503)
            assert body["error"]["code"] == "service_unavailable"
            r = api.http.post(f"/api/v1/ai/chat/{project_id}", json={"message": "¿plazo?"}, headers=headers)
            assert_error_shape(r, 503)
            assert time.monotonic() - started < 30  # no request hung on the missing Redis
        finally:
            private_services.start_redis()

        pending = private_services.query(
            "SELECT count(*) FROM outbox WHERE source_id = ANY(%(ids)s::uuid[]) AND status = 'pending'",
            {"ids": documents},
        )
        assert pending == [(3,)]

        indexer.start()

        def indexed() -> bool:
            assert indexer.alive(), indexer.log()
            rows = private_services.query(
                "SELECT count(DISTINCT source_id) FROM chunks WHERE source_id = ANY(%(ids)s::uuid[])",
                {"ids": documents},
            )
            return rows == [(3,)]

        eventually(indexed, "the documents written during the outage to be indexed", log=indexer.log)
        eventually(
            lambda: (
                private_services.query(
                    "SELECT count(*) FROM outbox WHERE source_id = ANY(%(ids)s::uuid[]) AND status = 'done'",
                    {"ids": documents},
                )
                == [(3,)]
            ),
            "the outbox rows to be done",
            log=indexer.log,
        )
        eventually(lambda: _ready_status(api) == 200, "ready after Redis restarts", log=api.process.log)
        r = api.http.get(f"/api/v1/ai/search/{project_id}", params={"q": "plazo viernes"}, headers=headers)
        assert r.status_code == 200, r.text
        assert {hit["source_id"] for hit in r.json()["results"]} & set(documents)
    finally:
        indexer.stop()
        api.stop()

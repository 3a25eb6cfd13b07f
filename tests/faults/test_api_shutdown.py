"""SIGTERM to the API (uvicorn) while a chat answer streams: the stream ends with an `error` event and
the partial answer is stored as interrupted.

The model is a tiny OpenAI-compatible server started here that streams a few tokens and then holds the
stream open until the test ends, so the answer is always mid-way when the signal arrives."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.faults.conftest import Api, PrivateServices, eventually, worker

TOKENS = ["El ", "plazo ", "de ", "entrega ", "es "]


class SlowModel:
    """Streams TOKENS as /chat/completions chunks, then waits (bounded) for `release`."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                owner.requests += 1
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                try:
                    for token in TOKENS:
                        chunk = {"choices": [{"index": 0, "delta": {"content": token}}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    owner.release.wait(60)
                except OSError:  # the API went away: that is the point
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> SlowModel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def slow_model() -> Iterator[SlowModel]:
    with SlowModel() as model:
        yield model


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object]]]:
    event, data = "message", ""
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif not line and data:
            yield event, json.loads(data)
            event, data = "message", ""


def test_sigterm_during_a_streamed_chat_ends_it_with_an_error_and_stores_the_partial_answer(
    private_services: PrivateServices, tmp_path: Path, slow_model: SlowModel
) -> None:
    api = Api(
        private_services,
        tmp_path,
        V1TR0_OPENAI__BASE_URL=slow_model.url,
        V1TR0_OPENAI__API_KEY="test-key",
        V1TR0_OPENAI__MAX_RETRIES="0",
    ).start()
    indexer = worker(private_services, tmp_path).start()
    try:
        headers = api.user()
        r = api.http.post("/api/v1/projects", json={"title": "Shutdown"}, headers=headers)
        project_id = r.json()["id"]
        r = api.http.post(
            f"/api/v1/projects/{project_id}/documents",
            json={"title": "Acta", "content": "# Plazos\n\nEl plazo de entrega es el viernes 14."},
            headers=headers,
        )
        document_id = r.json()["id"]
        eventually(
            lambda: (
                private_services.query(
                    "SELECT count(*) FROM chunks WHERE source_id = %(id)s", {"id": document_id}
                )[0][0]
                > 0
            ),
            "the document to be indexed",
            log=indexer.log,
        )

        events: list[tuple[str, dict[str, object]]] = []
        with api.http.stream(
            "POST",
            f"/api/v1/ai/chat/{project_id}",
            json={"message": "¿Cuál es el plazo de entrega?"},
            headers=headers,
            timeout=30,
        ) as response:
            assert response.status_code == 200
            for event, data in sse_events(response.iter_lines()):
                events.append((event, data))
                if [name for name, _ in events].count("delta") == len(TOKENS):
                    api.process.signal(signal.SIGTERM)
        # uvicorn re-raises the signal once it has shut down cleanly
        assert api.process.wait(30) in (0, -signal.SIGTERM), api.process.log()

        names = [name for name, _ in events]
        assert names[0] == "start"
        assert names[-1] == "error", events
        assert events[-1][1]["code"] == "interrupted"
        assert "done" not in names
        partial = "".join(str(data["text"]) for name, data in events if name == "delta")
        assert partial == "".join(TOKENS)

        message_id = events[0][1]["message_id"]
        rows = private_services.query(
            "SELECT processing_status, ai_response, error FROM chat_messages WHERE id = %(id)s",
            {"id": message_id},
        )
        assert rows == [("interrupted", partial.strip(), "the server stopped while answering")]
        assert slow_model.requests == 1
    finally:
        indexer.stop()
        api.stop()

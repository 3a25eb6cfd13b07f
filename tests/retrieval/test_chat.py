"""Chat over SSE: streamed events, stored turns, resumption, scoping."""

from __future__ import annotations

import json

from tests.ingestion.helpers import drain
from tests.retrieval.test_search_ask import _project_with_docs


def parse_sse(text: str) -> list[tuple[str, str, dict]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if ":" in line and not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value.lstrip(" ")
        if "event" in fields:
            events.append((fields.get("id", ""), fields["event"], json.loads(fields.get("data", "{}"))))
    return events


async def test_chat_streams_and_stores_turn(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await drain(settings, resources)

    r = await client.post(
        f"/api/v1/ai/chat/{project_id}", json={"message": "¿Quién enviará la factura?"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    names = [name for _, name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and "delta" in names and "citations" in names
    assert [int(i) for i, _, _ in events] == list(range(1, len(events) + 1))
    answer = "".join(data["text"] for _, name, data in events if name == "delta")
    assert "Ana" in answer and "[1]" in answer
    message_id = events[0][2]["message_id"]

    r = await client.get(f"/api/v1/ai/chat/{project_id}", headers=owner.headers)
    page = r.json()
    assert page["total"] == 1 and page["items"][0]["processing_status"] == "completed"
    assert page["items"][0]["ai_response"] == answer.strip()

    # Resume after event 2: the same answer, not a new one.
    r = await client.get(
        f"/api/v1/ai/chat/{project_id}/stream/{message_id}", headers={**owner.headers, "Last-Event-ID": "2"}
    )
    resumed = parse_sse(r.text)
    assert resumed[0][0] == "3" and resumed[-1][1] == "done"

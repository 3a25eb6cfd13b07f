"""Bad input to search and ask: empty, huge, stop-word and emoji queries, unknown projects, limits; answers
whose [n] always exist; HTML-safe snippets; transcript hits that point into their meeting."""

from __future__ import annotations

import dataclasses
import random
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from core.providers.llm import Generation, Usage
from retrieval.answer import NO_ANSWER
from retrieval.tasks import answer_tasks
from tests.ingestion.helpers import drain
from tests.retrieval.helpers import add_document, add_transcript, create_project
from tests.retrieval.test_search_ask import _project_with_docs

QUERY_ROUTES = ("/api/v1/ai/search/{pid}", "/api/v1/search", "/api/v1/ai/ask/{pid}")
MARKER = re.compile(r"\[(\d+)\]")
TAG = re.compile(r"<[^>]*>")


@pytest.fixture
async def indexed(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await drain(settings, resources)
    return owner, project_id


def _urls(project_id: str) -> list[str]:
    return [route.format(pid=project_id) for route in QUERY_ROUTES]


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_empty_or_missing_query_is_422(client, indexed):
    owner, project_id = indexed
    for url in _urls(project_id):
        _assert_error(await client.get(url, params={"q": ""}, headers=owner.headers), 422, "invalid")
        _assert_error(await client.get(url, headers=owner.headers), 422, "invalid")
    # Only blanks: a valid request with nothing to look for.
    r = await client.get(f"/api/v1/ai/search/{project_id}", params={"q": "   "}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["results"] == []
    r = await client.get(f"/api/v1/ai/ask/{project_id}", params={"q": " \t "}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["grounded"] is False and r.json()["citations"] == []


async def test_query_length_limit_is_10000_characters(client, indexed):
    owner, project_id = indexed
    words = ("¿Quién enviará la factura del presupuesto? " * 300)[:10_000]
    one_word = "x" * 10_000
    for url in _urls(project_id):
        for q in (words, one_word):
            assert len(q) == 10_000
            r = await client.get(url, params={"q": q}, headers=owner.headers)
            assert r.status_code == 200, (url, q[:20], r.text)
        _assert_error(await client.get(url, params={"q": words + "s"}, headers=owner.headers), 422, "invalid")
    # The long query is searched (cut internally), not ignored.
    r = await client.get(f"/api/v1/ai/search/{project_id}", params={"q": words}, headers=owner.headers)
    assert r.json()["results"][0]["title"] == "Presupuesto"
    r = await client.get(f"/api/v1/ai/ask/{project_id}", params={"q": words}, headers=owner.headers)
    assert r.json()["grounded"] is True and r.json()["citations"][0]["title"] == "Presupuesto"


@pytest.mark.parametrize(
    "q",
    ["de la que el", "the of and is", "🎉🔥😀", "🚀 " * 40, "¿¡?!…", "%_*'\"\\;--", "a\x00b", "\u200b\u200b"],
)
async def test_stop_words_emoji_and_symbols_find_nothing_without_error(client, indexed, q):
    owner, project_id = indexed
    for mode in ("hybrid", "vector", "text"):
        r = await client.get(
            f"/api/v1/ai/search/{project_id}", params={"q": q, "mode": mode}, headers=owner.headers
        )
        assert r.status_code == 200, (mode, r.text)
        assert {result["project_id"] for result in r.json()["results"]} <= {project_id}
    r = await client.get("/api/v1/search", params={"q": q}, headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/ai/ask/{project_id}", params={"q": q}, headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grounded"] is False and body["citations"] == []
    assert body["answer"] in NO_ANSWER.values()


async def test_unknown_project_is_404_everywhere(client, indexed):
    owner, _ = indexed
    missing = uuid.uuid4()
    gets = [
        f"/api/v1/ai/search/{missing}?q=presupuesto",
        f"/api/v1/ai/ask/{missing}?q=presupuesto",
        f"/api/v1/ai/chat/{missing}",
        f"/api/v1/ai/insights/{missing}",
        f"/api/v1/ai/suggestions/{missing}",
        f"/api/v1/ai/chat/{missing}/stream/{uuid.uuid4()}",
    ]
    for url in gets:
        _assert_error(await client.get(url, headers=owner.headers), 404, "not_found")
    for url in (f"/api/v1/ai/chat/{missing}", f"/api/v1/ai/chat/{missing}/streams"):
        _assert_error(
            await client.post(url, json={"message": "hola"}, headers=owner.headers), 404, "not_found"
        )
    r = await client.post(f"/api/v1/ai/chat/{missing}/messages/{uuid.uuid4()}/stop", headers=owner.headers)
    _assert_error(r, 404, "not_found")
    _assert_error(await client.get("/api/v1/ai/search/not-a-uuid?q=x", headers=owner.headers), 422, "invalid")


async def test_paging_and_filter_parameters_are_validated(client, indexed):
    owner, project_id = indexed
    url = f"/api/v1/ai/search/{project_id}"
    for params in (
        {"limit": 51},
        {"limit": 0},
        {"limit": -1},
        {"offset": -1},
        {"offset": 1001},
        {"mode": "magic"},
        {"source_type": "spreadsheet"},
        {"date_from": "yesterday"},
    ):
        for target in (url, "/api/v1/search"):
            r = await client.get(target, params={"q": "presupuesto", **params}, headers=owner.headers)
            _assert_error(r, 422, "invalid")
    r = await client.get(url, params={"q": "presupuesto", "meeting_id": "nope"}, headers=owner.headers)
    _assert_error(r, 422, "invalid")
    r = await client.get(url, params={"q": "presupuesto", "limit": 50}, headers=owner.headers)
    assert r.status_code == 200
    r = await client.get(url, params={"q": "presupuesto", "limit": 1}, headers=owner.headers)
    assert len(r.json()["results"]) == 1
    r = await client.post(
        f"/api/v1/ai/chat/{project_id}", json={"message": "x" * 10_001}, headers=owner.headers
    )
    _assert_error(r, 422, "invalid")
    for message in ("", "   ", "hola\x00mundo"):
        r = await client.post(
            f"/api/v1/ai/chat/{project_id}", json={"message": message}, headers=owner.headers
        )
        _assert_error(r, 422, "invalid")
        r = await client.post(
            f"/api/v1/ai/chat/{project_id}/streams", json={"message": message}, headers=owner.headers
        )
        _assert_error(r, 422, "invalid")


def _assert_markers_cited(body: dict) -> None:
    numbers = [citation["n"] for citation in body["citations"]]
    assert len(numbers) == len(set(numbers)), body
    cited = {int(n) for n in MARKER.findall(body["answer"])}
    assert cited == set(numbers), body


QUESTIONS = [
    "¿Quién enviará la factura?",
    "¿Cuál es el presupuesto total?",
    "¿Dónde se alojarán los servidores?",
    "¿Qué base de datos prefiere el cliente?",
    "¿Cuántas secciones tendrá la web y quién revisa el diseño?",
    "Who will review the design at the next meeting?",
    "What is the total budget of the project?",
    "¿Cuál es la receta de la paella?",
    "presupuesto servidores diseño factura",
]


async def test_every_cited_number_exists_with_the_extractive_answerer(client, indexed):
    owner, project_id = indexed
    for question in QUESTIONS:
        r = await client.get(f"/api/v1/ai/ask/{project_id}", params={"q": question}, headers=owner.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        _assert_markers_cited(body)
        assert body["grounded"] is bool(body["citations"]), body
        for citation in body["citations"]:
            r = await client.get(f"/api/v1/ai/chunks/{citation['chunk_id']}", headers=owner.headers)
            assert r.status_code == 200 and r.json()["project_id"] == project_id


@dataclasses.dataclass
class MarkerSpewingModel:
    """A model that cites numbers at random, real or not, with markers split across deltas."""

    seed: int
    provider: str = "test"
    model: str = "marker-spewer"

    async def stream(self, request: Generation, usage: Usage) -> AsyncIterator[str]:
        rng = random.Random(self.seed)
        text = ""
        for _ in range(rng.randint(1, 8)):
            text += rng.choice(["El dato ", "según el acta ", "y además ", "x"]) + f"[{rng.randint(0, 12)}]"
            text += rng.choice(["", " ", ". ", "[", "]", "[[", "[1000]"])
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 12))))
        for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
            usage.completion_tokens += 1
            yield text[start:end]


async def test_every_cited_number_exists_whatever_the_model_writes(indexed, settings, resources):
    owner, project_id = indexed
    res = resources.with_chat_model(MarkerSpewingModel(0))
    transport = httpx.ASGITransport(app=create_app(settings, resources=res))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for seed in range(25):
            res.ai = answer_tasks(MarkerSpewingModel(seed), res.prompts)
            r = await client.get(
                f"/api/v1/ai/ask/{project_id}", params={"q": QUESTIONS[seed % 7]}, headers=owner.headers
            )
            assert r.status_code == 200, r.text
            assert r.json()["model"] == "marker-spewer"
            _assert_markers_cited(r.json())


async def test_snippets_are_html_safe(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await create_project(client, owner.headers, "Seguridad")
    await add_document(
        client,
        owner.headers,
        project_id,
        "Formulario <b>contacto</b>",
        "El formulario de contacto mostraba <script>alert(1)</script> sin escapar. "
        'También <img src=x onerror="alert(2)"> y un enlace <a href="javascript:alert(3)">aquí</a> & más.',
    )
    await drain(settings, resources)
    for q, mode in (
        ("formulario contacto script alert", "hybrid"),
        ("escapar", "text"),
        ("enlace", "vector"),
    ):
        r = await client.get(
            f"/api/v1/ai/search/{project_id}", params={"q": q, "mode": mode}, headers=owner.headers
        )
        results = r.json()["results"]
        assert results, (q, mode)
        snippet = results[0]["snippet"]
        assert "&lt;script&gt;" in snippet or "&lt;a href=" in snippet, snippet
        assert set(TAG.findall(snippet)) <= {"<mark>", "</mark>"}, snippet
        assert "Documento ›" not in snippet and "Formulario &lt;b&gt;" not in snippet, (
            "the header is not text"
        )
    r = await client.get("/api/v1/search", params={"q": "<script>alert(1)</script>"}, headers=owner.headers)
    assert r.status_code == 200
    for result in r.json()["results"]:
        assert set(TAG.findall(result["snippet"])) <= {"<mark>", "</mark>"}
    r = await client.get(
        f"/api/v1/ai/ask/{project_id}",
        params={"q": "¿Qué mostraba el formulario de contacto?"},
        headers=owner.headers,
    )
    citations = r.json()["citations"]
    assert citations and all(set(TAG.findall(c["snippet"])) <= {"<mark>", "</mark>"} for c in citations)


async def test_transcript_hits_carry_meeting_and_seconds(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await create_project(client, owner.headers, "Migración")
    filler = (
        "revisamos el estado general del proyecto con el equipo y comentamos detalles menores de la agenda"
    )
    segments = [
        {
            "start": 10.0 * i,
            "end": 10.0 * i + 9.5,
            "speaker": "Ana" if i % 2 else "Luis",
            "text": f"{filler} {i}.",
        }
        for i in range(80)
    ]
    segments[55]["text"] = (
        "El certificado del servidor de pagos caduca el martes y hay que renovarlo con Verisign."
    )
    meeting_id, _ = await add_transcript(
        resources, project_id, title="Seguimiento semanal", segments=segments
    )
    await drain(settings, resources)

    r = await client.get(
        f"/api/v1/ai/search/{project_id}",
        params={"q": "certificado servidor pagos Verisign", "source_type": "transcript"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results and {result["source_type"] for result in results} == {"transcript"}
    top = results[0]
    assert top["meeting_id"] == str(meeting_id) and top["title"] == "Seguimiento semanal"
    assert 0 < top["start"] <= 550.0 < 559.5 <= top["end"], top
    assert "<mark>Verisign</mark>" in top["snippet"] and "Transcripción ›" not in top["snippet"]
    assert "Ana" in top["speakers"]

    r = await client.get(
        f"/api/v1/ai/search/{project_id}",
        params={"q": "certificado", "meeting_id": str(meeting_id)},
        headers=owner.headers,
    )
    assert r.json()["results"] and all(res["meeting_id"] == str(meeting_id) for res in r.json()["results"])
    r = await client.get(
        f"/api/v1/ai/search/{project_id}",
        params={"q": "certificado", "meeting_id": str(uuid.uuid4())},
        headers=owner.headers,
    )
    assert r.json()["results"] == []

    r = await client.get(
        f"/api/v1/ai/ask/{project_id}",
        params={"q": "¿Cuándo caduca el certificado del servidor de pagos?"},
        headers=owner.headers,
    )
    body = r.json()
    assert body["grounded"] is True and "martes" in body["answer"], body
    citation = next(c for c in body["citations"] if c["source_type"] == "transcript")
    assert citation["meeting_id"] == str(meeting_id) and citation["start"] <= 550.0 <= citation["end"]

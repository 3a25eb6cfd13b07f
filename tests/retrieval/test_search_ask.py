"""Search and ask through the API over chunks a real worker indexed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from api.services.ai import make_retriever
from core.models import SourceType
from retrieval import search as search_module
from retrieval.answerers import Asked
from retrieval.pipeline import meeting_totals
from retrieval.retriever import KIND_POOL, PER_SOURCE, diversify, kind_first, to_node
from retrieval.search import Hit
from tests.api.test_round_trips import statements
from tests.ingestion.helpers import drain
from tests.meetings.helpers import drain_meetings, make_meeting, upload

DOCS = {
    "Presupuesto": "El presupuesto total del proyecto es de 12.000 euros. Ana enviará la factura el viernes.",
    "Diseño": (
        "La web tendrá tres secciones: inicio, servicios y blog. "
        "Luis revisará el diseño en la próxima reunión."
    ),
    "Hosting": "Los servidores se alojarán en Frankfurt. El cliente prefiere PostgreSQL como base de datos.",
}


async def _project_with_docs(client, actor, title="Web Acme"):
    r = await client.post("/api/v1/projects", json={"title": title}, headers=actor.headers)
    project_id = r.json()["id"]
    await _post_documents(client, actor, project_id, list(DOCS.items()))
    return project_id


async def _post_documents(client, actor, project_id, documents):
    for title, content in documents:
        r = await client.post(
            f"/api/v1/projects/{project_id}/documents",
            json={"title": title, "content": content},
            headers=actor.headers,
        )
        assert r.status_code == 201


async def test_search_highlights_and_scopes(client, factory, settings, resources):
    owner, outsider = await factory.user(), await factory.user()
    project_id = await _project_with_docs(client, owner)
    other_id = await _project_with_docs(client, outsider, title="Otro")
    await drain(settings, resources)

    r = await client.get(
        f"/api/v1/ai/search/{project_id}", params={"q": "presupuesto factura"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["title"] == "Presupuesto"
    assert "<mark>" in results[0]["snippet"]
    assert {res["project_id"] for res in results} == {project_id}

    r = await client.get("/api/v1/search", params={"q": "presupuesto"}, headers=owner.headers)
    assert {res["project_id"] for res in r.json()["results"]} == {project_id}
    r = await client.get(f"/api/v1/ai/search/{other_id}", params={"q": "presupuesto"}, headers=owner.headers)
    assert r.status_code == 404


async def test_ask_cites_and_says_when_it_does_not_know(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await drain(settings, resources)

    r = await client.get(
        f"/api/v1/ai/ask/{project_id}", params={"q": "¿Quién enviará la factura?"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grounded"] is True
    assert "Ana" in body["answer"] and "[1]" in body["answer"]
    assert body["citations"][0]["title"] == "Presupuesto"
    assert "<mark>factura</mark>" in body["citations"][0]["snippet"]  # highlighted for the sources shown
    assert body["provider"] == "extractive" and body["prompt_name"] == "answer"

    r = await client.get(
        f"/api/v1/ai/ask/{project_id}",
        params={"q": "¿Cuál es la receta de la paella valenciana?"},
        headers=owner.headers,
    )
    body = r.json()
    assert body["grounded"] is False and body["citations"] == []


async def test_ask_uses_the_indexed_token_counts_instead_of_encoding_chunks_again(
    client, factory, settings, resources, monkeypatch
):
    """Chunks carry their token count from the indexer: budgeting an answer's context must not re-run
    the tokenizer over every retrieved chunk (it was the biggest single cost of /ask under load)."""
    import retrieval.answer
    from core.tokens import count_tokens

    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await drain(settings, resources)
    answered = await client.get(
        f"/api/v1/ai/ask/{project_id}", params={"q": "¿Cuál es el presupuesto?"}, headers=owner.headers
    )
    assert answered.status_code == 200

    encoded: list[str] = []

    def counting(text: str) -> int:
        encoded.append(text)
        return count_tokens(text)

    monkeypatch.setattr(retrieval.answer, "count_tokens", counting)
    monkeypatch.setattr(retrieval.answer, "truncate_tokens", lambda text, n: encoded.append(text) or text)
    r = await client.get(
        f"/api/v1/ai/ask/{project_id}", params={"q": "¿Cuál es el presupuesto?"}, headers=owner.headers
    )
    assert r.status_code == 200
    assert r.json() == answered.json()  # same answer, same citations
    assert r.json()["citations"]
    assert encoded == []  # every hit came with its count (else _tokens would have encoded it)


async def test_a_results_page_has_the_snippets_of_the_full_search_and_only_for_its_hits(
    client, factory, settings, resources, monkeypatch
):
    """search_diverse reads three pages of hits to fill one; snippets are made for the page it shows, and
    gives each hit the snippet the one-statement search (snippets=True) gives it."""
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    for n in range(6):
        r = await client.post(
            f"/api/v1/projects/{project_id}/documents",
            json={"title": f"Acta {n}", "content": f"Acta {n}: el presupuesto se revisa con la factura {n}."},
            headers=owner.headers,
        )
        assert r.status_code == 201
    await drain(settings, resources)

    shown: list[int] = []
    real = search_module.with_snippets

    def counting(hits, query):
        shown.append(len(hits))
        return real(hits, query)

    monkeypatch.setattr("retrieval.search.with_snippets", counting)
    monkeypatch.setattr("retrieval.retriever.with_snippets", counting)  # "presupuesto" asks an amount
    r = await client.get(
        f"/api/v1/ai/search/{project_id}",
        params={"q": "presupuesto factura", "limit": 3},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    page = r.json()["results"]
    assert shown == [3] and len(page) == 3

    async with resources.sessionmaker() as session:
        retriever = await make_retriever(session, resources, project_ids=[uuid.UUID(project_id)])
        full = {hit.chunk_id: hit for hit in await retriever.search("presupuesto factura", limit=30)}
    assert any("<mark>" in result["snippet"] for result in page)
    for result in page:
        assert result["snippet"] == full[result["chunk_id"]].snippet
        assert result["highlights"] == full[result["chunk_id"]].highlights


async def test_every_fusion_ranks_the_chunk_both_sides_found_first(client, factory, settings, resources):
    """Reciprocal ranks, range-normalised (convex) and spread-normalised (dbsf) scores: each a valid
    statement that keeps the scope, with each side's score (similarity, full-text rank) on the hits."""
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await drain(settings, resources)

    async with resources.sessionmaker() as session:
        retriever = await make_retriever(session, resources, project_ids=[uuid.UUID(project_id)])
        for fusion in ("rrf", "convex", "dbsf"):
            retriever.config = settings.retrieval.model_copy(update={"fusion": fusion})
            hits = await retriever.search("presupuesto factura", limit=10)
            assert "12.000 euros" in hits[0].content, fusion
            assert hits[0].similarity is not None and hits[0].text_rank is not None, fusion
            assert {hit.project_id for hit in hits} == {uuid.UUID(project_id)}, fusion
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True), fusion


async def test_full_text_finds_a_words_equivalent_in_the_other_language(client, factory, settings, resources):
    """ "hosting" finds the proposal's "Alojamiento" line by full text alone (core.text.EQUIVALENT_WORDS)."""
    owner = await factory.user()
    r = await client.post("/api/v1/projects", json={"title": "Tienda"}, headers=owner.headers)
    project_id = r.json()["id"]
    await _post_documents(
        client,
        owner,
        project_id,
        [
            ("Propuesta", "Alojamiento: 28 € al mes, con copias diarias."),
            ("Diseño", "Tres secciones y un blog."),
        ],
    )
    await drain(settings, resources)
    async with resources.sessionmaker() as session:
        retriever = await make_retriever(session, resources, project_ids=[uuid.UUID(project_id)])
        retriever.mode = "text"
        hits = await retriever.search("precio del hosting", limit=5)
    assert [hit.title for hit in hits] == ["Propuesta"]


SPOKEN = [
    ("Ana", "El presupuesto de la web lo cerramos en doce mil euros, con la factura a final de mes."),
    ("Luis", "Vale, y el diseño lo revisamos el jueves con el cliente."),
    ("Ana", "Los servidores, en Frankfurt; el cliente quiere su base de datos en PostgreSQL."),
    ("Luis", "La factura del hosting la manda Ana cuando firmen el presupuesto."),
]

FILLER = [
    ("Luis", "Perfecto, lo apunto en el acta y lo comentamos luego por el canal del equipo con los demás."),
    ("Ana", "De acuerdo, seguimos con el siguiente punto del orden del día, que vamos justos de tiempo hoy."),
    ("Luis", "Sí, sí, adelante, que a las doce tengo otra llamada y no quiero dejar nada a medias esta vez."),
]


@pytest.mark.parametrize("fusion", ["convex", "dbsf"])
async def test_transcript_units_are_weighed_with_their_own_vector_weight(
    client, factory, settings, resources, fusion
):
    """On a results page, each chunk's fused score weighs the two sides with its own weight: a transcript
    unit's with transcript_vector_weight, any other chunk's with vector_weight. At the extremes, transcript
    units rank by their vector side alone and documents by their full text alone, in one statement. An
    answer's retrieval weighs every chunk with vector_weight (what its abstention model was fitted on)."""
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    _, meeting_id = await make_meeting(client, owner, project_id=project_id)
    lines = [line for said in SPOKEN for line in (said, *FILLER)]  # a unit (~160 tokens) per line said
    segments = [
        {"start": i * 10.0, "end": i * 10.0 + 9.0, "speaker": speaker, "text": text}
        for i, (speaker, text) in enumerate(lines)
    ]
    r = await upload(client, owner, meeting_id, "reunion.json", json.dumps(segments).encode())
    assert r.status_code == 202, r.text
    await drain_meetings(settings, resources)

    async with resources.sessionmaker() as session:
        retriever = await make_retriever(session, resources, project_ids=[uuid.UUID(project_id)])
        for spoken, written, page in ((1.0, 0.0, True), (0.0, 1.0, True), (1.0, 0.0, False)):
            retriever.config = settings.retrieval.model_copy(
                update={"fusion": fusion, "vector_weight": written, "transcript_vector_weight": spoken}
            )
            query = "presupuesto factura hosting servidores diseño"
            hits = await retriever.search(query, limit=50, results_page=page)
            spoken_weight = spoken if page else written  # what a transcript unit is weighed with here
            for hit in hits:  # found only by the side its weight leaves out: nothing
                on_vector = (spoken_weight if hit.source_type == SourceType.TRANSCRIPT else written) == 1.0
                if (hit.similarity if on_vector else hit.text_rank) is None:
                    assert hit.score == 0, (fusion, hit)
            transcripts = [h for h in hits if h.source_type == SourceType.TRANSCRIPT]
            documents = [h for h in hits if h.source_type == SourceType.DOCUMENT]
            assert len(transcripts) >= 2 and len(documents) >= 2, hits
            for group in (transcripts, documents):
                on_vector = (spoken_weight if group is transcripts else written) == 1.0
                ranked = [h.similarity if on_vector else h.text_rank for h in group if h.score > 0]
                assert len(ranked) >= 2, (fusion, spoken, page, group)
                assert ranked == sorted(ranked, reverse=True), (fusion, spoken, page, on_vector, ranked)


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/api/v1/ai/search/{project}?q=presupuesto", True),
        ("/api/v1/ai/search/{project}?q=web", True),  # asks no date, amount or person: no kind re-ranking
        ("/api/v1/search?q=presupuesto", True),
        ("/api/v1/ai/ask/{project}?q=presupuesto", False),
    ],
)
async def test_only_results_pages_weigh_transcript_units_apart(
    client, factory, settings, resources, monkeypatch, path, page
):
    """The search routes rank with the transcript units' own weight; an answer's retrieval does not."""
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await drain(settings, resources)
    seen: list[bool] = []
    real = search_module.search_chunks

    async def recording(*args: Any, results_page: bool = False, **kwargs: Any) -> list[Hit]:
        seen.append(results_page)
        return await real(*args, results_page=results_page, **kwargs)

    monkeypatch.setattr("retrieval.retriever.search_chunks", recording)
    r = await client.get(path.format(project=project_id), headers=owner.headers)
    assert r.status_code == 200, r.text
    assert seen and set(seen) == {page}, seen


def test_the_transcript_weight_defaults_per_model(settings):
    """e5's transcript units lean on meaning (DEFAULT_TRANSCRIPT_VECTOR_WEIGHT); a model without its own
    weight uses vector_weight; a configured weight wins."""
    config = settings.retrieval.model_copy(update={"vector_weight": 0.4, "transcript_vector_weight": None})
    assert search_module.transcript_vector_weight("e5/multilingual-e5-small", config) == 0.7
    assert search_module.transcript_vector_weight("static/any", config) == 0.4
    configured = config.model_copy(update={"transcript_vector_weight": 0.9})
    assert search_module.transcript_vector_weight("e5/multilingual-e5-small", configured) == 0.9


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # the caller with their access; the serving model, the scope's size and its pending changes
        # (retrieval.retriever.search_scope); the search (snippets are made in Python)
        ("/api/v1/ai/search/{project}?q=presupuesto", 3),
        # the caller; the projects they see; the scope; the search
        ("/api/v1/search?q=presupuesto", 4),
        # the caller with access; the scope; the search; the titles of the caller's other projects
        ("/api/v1/ai/ask/{project}?q=presupuesto", 4),
    ],
)
async def test_searches_and_answers_take_this_many_statements(
    client, factory, settings, resources, path, expected
):
    """A round trip added here is one added to every search or answer (bench/load.py)."""
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await drain(settings, resources)
    url = path.format(project=project_id)
    assert (await client.get(url, headers=owner.headers)).status_code == 200  # warm: token cache, pool
    with statements() as seen:
        r = await client.get(url, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["index_pending"] == 0
    assert len(seen) == expected, seen


@pytest.mark.parametrize("mode", ["hybrid", "text"])
async def test_the_statement_diversifies_the_page_as_diversify_does(
    client, factory, settings, resources, mode
):
    """search_diverse's page comes out of the statement (only the page leaves the database); it is the
    page retriever.diversify picks from the ranked pool, for every offset."""
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    # One long document (many chunks) that would fill the page, and short ones.
    long_text = " ".join(
        f"Sección {n}: el presupuesto de la fase {n} se revisa con la factura {n}." * 12 for n in range(12)
    )
    await _post_documents(
        client,
        owner,
        project_id,
        [("Pliego", long_text), *[(f"Acta {n}", f"Acta {n}: presupuesto y factura {n}.") for n in range(5)]],
    )
    await drain(settings, resources)
    async with resources.sessionmaker() as session:
        retriever = await make_retriever(session, resources, project_ids=[uuid.UUID(project_id)], mode=mode)
        pool = await retriever.search("presupuesto factura", limit=60, snippets=False)
        assert sum(hit.title == "Pliego" for hit in pool) > PER_SOURCE  # the case being tested
        for offset in (0, 3, 7):
            expected = diversify(pool, limit=5, offset=offset)
            page = await retriever.search(
                "presupuesto factura", limit=5, offset=offset, per_source=PER_SOURCE
            )
            assert [hit.chunk_id for hit in page] == [hit.chunk_id for hit in expected], offset
            assert all(hit.snippet for hit in page)
            # A query that asks for no amount, date or person: search_diverse's page is the statement's.
            plain = await retriever.search_diverse("secciones del pliego", limit=5, offset=offset)
            statement = await retriever.search(
                "secciones del pliego", limit=5, offset=offset, per_source=PER_SOURCE
            )
            assert [hit.chunk_id for hit in plain] == [hit.chunk_id for hit in statement]


async def test_a_query_that_asks_for_an_amount_puts_what_holds_one_first(
    client, factory, settings, resources
):
    """ "presupuesto de la revisión": every page of the first KIND_POOL results is cut from one order, the
    diversified pool re-ranked by kind_first (a result with money in it gains), snippets for the page only."""
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await _post_documents(
        client,
        owner,
        project_id,
        [
            *[
                (f"Acta {n}", f"Acta {n}: el presupuesto de la revisión se mira con la factura {n}.")
                for n in range(6)
            ],
            ("Pago", "Pago de la revisión: 4.000 euros a la firma del presupuesto."),
        ],
    )
    await drain(settings, resources)
    query = "presupuesto de la revisión"
    async with resources.sessionmaker() as session:
        retriever = await make_retriever(session, resources, project_ids=[uuid.UUID(project_id)])
        pool = await retriever.search(query, limit=KIND_POOL, per_source=PER_SOURCE, snippets=False)
        expected = [hit.chunk_id for hit in kind_first(pool, Asked.of(query))]
        pages = [await retriever.search_diverse(query, limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [hit.chunk_id for page in pages for hit in page] == expected[:9]
    assert all(hit.snippet for page in pages for hit in page)
    paid = next(hit.chunk_id for hit in pool if "euros" in hit.content)
    assert expected.index(paid) <= [hit.chunk_id for hit in pool].index(paid)
    r = await client.get(
        f"/api/v1/ai/search/{project_id}", params={"q": query, "limit": 3}, headers=owner.headers
    )
    assert [result["chunk_id"] for result in r.json()["results"]] == expected[:3]


def test_kind_first_lifts_what_holds_the_asked_kind_by_a_share_of_the_spread() -> None:
    def hit(n: int, score: float, text: str) -> Hit:
        return Hit(
            chunk_id=n,
            project_id=uuid.UUID(int=1),
            source_type=SourceType.TRANSCRIPT,
            source_id=uuid.UUID(int=n),
            chunk_index=0,
            content=f"[Transcripción › Revisión]\n[03:17] Ana: {text}",
            meta={},
            score=score,
            similarity=None,
            text_rank=None,
        )

    pool = [
        hit(1, 0.050, "La fecha de lanzamiento del portal la vemos luego."),
        hit(2, 0.046, "Lo del lanzamiento del portal, ya sabéis."),
        hit(3, 0.044, "Sale el 1 de marzo, sin falta."),
        hit(4, 0.030, "Pues el portal lo lanzamos en abril."),
        hit(5, 0.010, "Nada más por hoy."),
    ]
    wants = Asked.of("fecha de lanzamiento del portal")
    assert [h.chunk_id for h in kind_first(pool, wants)] == [3, 1, 2, 4, 5]  # 0.85+0.3, 1, 0.9, 0.5+0.3, 0
    assert [h.chunk_id for h in kind_first(pool, wants, weight=0.0)] == [1, 2, 3, 4, 5]
    assert kind_first(pool, Asked.of("qué dijo Ana del portal")) == pool  # asks for no kind: nothing held
    assert not Asked.of("qué dijo Ana del portal").kind and wants.kind
    # The turn's stamp "[03:17]" is no date, nor the header a name.
    assert not wants.held_in("[Transcripción › Revisión]\n[03:17] ana: lo vemos luego.")


def test_each_meeting_lends_its_best_unit_that_sums_a_budget_up() -> None:
    """meeting_totals: from the deeper pool, the best-ranked transcript unit of each meeting that states a
    total, unless a kept unit of that meeting already does; documents and other units add nothing."""

    def node(n: int, meeting: int, text: str, source: SourceType = SourceType.TRANSCRIPT) -> Any:
        return to_node(
            Hit(
                chunk_id=n,
                project_id=uuid.UUID(int=1),
                source_type=source,
                source_id=uuid.UUID(int=100 + n),
                chunk_index=n,
                content=f"[Transcripción › Reunión {meeting}]\n[03:14] Maite: {text}",
                meta={"meeting_id": str(uuid.UUID(int=meeting))} if source == SourceType.TRANSCRIPT else {},
                score=1.0 / n,
                similarity=None,
                text_rank=None,
            )
        )

    kept = [node(1, 1, "Empezamos por el presupuesto, que es lo que más preocupa.")]
    pool = [
        node(2, 2, "Y el boletín lo quitamos."),
        node(3, 2, "Entonces: catorce mil trescientos, más mil cien del regalo, menos setecientos."),
        node(4, 2, "14.700. Vale."),
        node(5, 3, "Total: 9.000 euros, más IVA.", source=SourceType.DOCUMENT),
        node(6, 1, "Entonces el total queda en catorce mil trescientos euros."),
    ]
    assert [n.node.node_id for n in meeting_totals(pool, kept)] == ["3", "6"]
    assert [n.node.node_id for n in meeting_totals(pool, [*kept, pool[1]])] == ["6"]

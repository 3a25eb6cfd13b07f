"""Chunks of converted documents follow their structure: sections, pages (PDF) or slides, and tables."""

from __future__ import annotations

from core.models import SourceType
from core.tokens import count_tokens
from ingestion.chunkers import chunk_prose
from ingestion.convert import Limits, convert
from tests.documents.samples import PARAGRAPH, make_pdf, make_pptx, make_xlsx


def chunks_of(markdown: str, *, max_tokens: int = 400, overlap: int = 60):
    return chunk_prose(
        markdown,
        source_type=SourceType.DOCUMENT,
        title="Doc",
        context="Documento",
        max_tokens=max_tokens,
        overlap=overlap,
    )


def test_pdf_chunks_carry_their_page_and_section_and_no_markers() -> None:
    markdown = convert(
        make_pdf(6, marker="ref"), filename="p.pdf", declared_type=None, limits=Limits()
    ).markdown
    chunks = chunks_of(markdown)

    for page in range(1, 7):
        holding = [chunk for chunk in chunks if f"ref-p{page}." in chunk.content]
        assert len(holding) == 1
        assert holding[0].meta["page"] == page
        assert holding[0].meta["section"].startswith(f"Sección {page}: ")
    assert not any("<!--" in chunk.content for chunk in chunks)


def test_a_chunk_spanning_pages_has_page_end() -> None:
    long_paragraph = " ".join([PARAGRAPH] * 4)
    markdown = (
        "<!-- page 1 -->\n\n# Contrato\n\nPrimera cláusula.\n\n<!-- page 2 -->\n\nSegunda cláusula.\n\n"
        f"<!-- page 3 -->\n\n{long_paragraph}\n\n{long_paragraph}\n\n"
        "<!-- page 4 -->\n\n## Pagos\n\nA 30 días.\n"
    )
    chunks = chunks_of(markdown, max_tokens=120, overlap=10)

    first = chunks[0]
    assert "Primera cláusula.\n\nSegunda cláusula.\n\nEl equipo" in first.content  # pages 1, 2 and 3
    assert (first.meta["page"], first.meta["page_end"]) == (1, 3)
    rest = [chunk for chunk in chunks[1:] if chunk.meta["section"] == "Contrato"]
    assert len(rest) >= 2  # the long text of page 3 goes on in chunks that are all on page 3
    assert all(chunk.meta["page"] == 3 and "page_end" not in chunk.meta for chunk in rest)
    payments = chunks[-1]
    assert (payments.meta["section"], payments.meta["page"]) == ("Contrato › Pagos", 4)
    assert "page_end" not in payments.meta


def test_slides_are_located_as_slides() -> None:
    markdown = convert(
        make_pptx(slides=4, marker="ref"), filename="d.pptx", declared_type=None, limits=Limits()
    )
    chunks = chunks_of(markdown.markdown)
    third = next(chunk for chunk in chunks if "ref-s3" in chunk.content)
    assert third.meta["slide"] == 3
    assert third.meta["section"] == "Punto 3"


def test_a_long_table_is_split_between_rows_and_every_piece_keeps_the_header() -> None:
    markdown = convert(make_xlsx(rows=120), filename="b.xlsx", declared_type=None, limits=Limits()).markdown
    chunks = [
        chunk for chunk in chunks_of(markdown, max_tokens=200) if chunk.meta["section"] == "Presupuesto"
    ]

    assert len(chunks) > 3
    header = "| Concepto | Horas | Tarifa | Importe |\n| --- | --- | --- | --- |\n"
    rows = []
    for chunk in chunks:
        assert header in chunk.content
        assert chunk.token_count <= 200
        rows += [line for line in chunk.content.splitlines() if line.startswith("| Tarea ")]
    assert rows == [f"| Tarea {n} | {n % 9 + 1} | 60 | {(n % 9 + 1) * 60} |" for n in range(1, 121)]


def test_plain_prose_is_chunked_as_before_without_page_keys() -> None:
    text = "# Acta\n\n" + "\n\n".join([PARAGRAPH] * 12)
    chunks = chunks_of(text, max_tokens=100, overlap=10)
    assert len(chunks) > 1
    assert all(set(chunk.meta) == {"title", "section"} for chunk in chunks)
    assert all(count_tokens(chunk.content) <= 100 for chunk in chunks)

"""Conversion of real files made in the test (fpdf2, python-docx, openpyxl, python-pptx) to Markdown:
the structure each format keeps, and the refusals of files that are hostile, damaged or lie about
themselves."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from core.errors import DomainError, Invalid, PayloadTooLarge, UnsupportedMediaType
from ingestion.convert import Kind, Limits, convert
from ingestion.convert.document import PAGE_MARKER
from tests.documents.samples import (
    encrypt_ooxml,
    make_docx,
    make_pdf,
    make_pptx,
    make_scanned_pdf,
    make_xlsx,
    zip_bomb,
)

LIMITS = Limits()
TABLE = "| Fase | Duración | Importe |\n| --- | --- | --- |\n| Descubrimiento | 2 semanas | 4.800 € |"


def run(data: bytes, filename: str | None, declared: str | None = None, limits: Limits = LIMITS):
    return convert(data, filename=filename, declared_type=declared, limits=limits)


def refused(data: bytes, filename: str | None, declared: str | None = None, limits: Limits = LIMITS):
    with pytest.raises(DomainError) as caught:
        run(data, filename, declared, limits)
    return caught.value


def test_a_pdf_keeps_headings_lists_tables_and_page_numbers() -> None:
    document = run(make_pdf(4, marker="ref"), "propuesta.pdf")

    assert document.kind == Kind.PDF
    assert document.mime_type == "application/pdf"
    assert document.page_count == 4
    markdown = document.markdown
    pages = [int(number) for _, number in PAGE_MARKER.findall(markdown)]
    assert pages == [1, 2, 3, 4]
    for page in range(1, 5):
        # each page's text comes after its own marker and before the next one
        own = markdown.split(f"<!-- page {page} -->")[1].split("<!-- page")[0]
        assert f"ref-p{page}." in own
        assert f"# Sección {page}: " in own
    assert "- Reunión semanal de seguimiento\n- Entrega de prototipos\n- Pruebas con usuarios" in markdown
    assert markdown.count(TABLE) == 2  # pages 2 and 4 have the table
    assert "Propuesta Web Acme · página" not in markdown  # the running footer is dropped
    assert [(s.path, s.page) for s in document.sections][:2] == [
        ("Sección 1: Presupuesto", 1),
        ("Sección 2: Calendario", 2),
    ]


def test_a_pdf_protected_only_against_editing_opens_without_a_password() -> None:
    document = run(make_pdf(2, owner_password="only-for-editing"), "restricted.pdf")
    assert "# Sección 2: Calendario" in document.markdown


def test_a_docx_keeps_headings_lists_and_tables() -> None:
    document = run(make_docx(sections=2, marker="ref"), "briefing.docx")

    assert document.kind == Kind.DOCX
    assert document.page_count is None
    markdown = document.markdown
    assert markdown.startswith("# Briefing Web Acme\n")  # Word's Title style is the first heading
    assert "# Objetivos 1\n" in markdown
    assert "## Entregables 2\n" in markdown
    assert re.search(r"^[*-] Mapa del sitio$", markdown, re.MULTILINE)
    assert "1. Aprobar el alcance\n2. Firmar el contrato" in markdown
    assert TABLE in markdown  # the first row of a Word table is its header
    assert "ref-s2" in markdown
    assert [s.path for s in document.sections] == [
        "Briefing Web Acme",
        "Objetivos 1",
        "Objetivos 1 › Entregables 1",
        "Objetivos 2",
        "Objetivos 2 › Entregables 2",
    ]


def test_an_xlsx_gives_one_section_and_table_per_sheet() -> None:
    document = run(make_xlsx(rows=5, marker="ref"), "presupuesto.xlsx")

    assert document.kind == Kind.XLSX
    assert document.page_count == 3
    assert [s.path for s in document.sections] == ["Presupuesto", "Calendario", "Equipo"]
    markdown = document.markdown
    assert (
        "## Presupuesto\n\n| Concepto | Horas | Tarifa | Importe |\n| --- | --- | --- | --- |\n" in markdown
    )
    assert "| Tarea 1 ref | 2 | 60 | 120 |" in markdown  # whole numbers stay whole (no 2.0)
    assert "| Marta | Desarrollo | 1 |" in markdown
    assert TABLE in markdown


def test_a_pptx_keeps_slides_titles_and_tables() -> None:
    document = run(make_pptx(slides=4, marker="ref"), "pitch.pptx")

    assert document.kind == Kind.PPTX
    assert document.page_count == 4
    assert document.page_unit == "slide"
    markdown = document.markdown
    assert [int(n) for _, n in PAGE_MARKER.findall(markdown)] == [1, 2, 3, 4]
    assert "<!-- slide 2 -->\n# Punto 2\n" in markdown
    assert "ref-s3" in markdown.split("<!-- slide 3 -->")[1].split("<!-- slide 4 -->")[0]
    assert TABLE in markdown.split("<!-- slide 4 -->")[1]


def test_csv_html_markdown_and_text() -> None:
    csv = run("Fase;Importe\nDiseño;7.200 €\n".encode(), "fases.csv")
    assert csv.kind == Kind.CSV
    assert csv.markdown == "| Fase | Importe |\n| --- | --- |\n| Diseño | 7.200 € |\n"

    page = (
        "<!DOCTYPE html><html><head><script>alert('x')</script><title>t</title></head><body>"
        "<h1>Propuesta</h1><ul><li>Diseño</li><li>Desarrollo</li></ul>"
        "<table><tr><th>Fase</th><th>Importe</th></tr><tr><td>Diseño</td><td>7.200 €</td></tr></table>"
        "</body></html>"
    )
    html = run(page.encode(), "propuesta.html")
    assert html.kind == Kind.HTML
    assert "# Propuesta" in html.markdown
    assert re.search(r"^[*-] Diseño$", html.markdown, re.MULTILINE)
    assert "| Fase | Importe |" in html.markdown
    assert "alert" not in html.markdown

    text = "# Acta\r\n\r\nCafé.\r\n"
    assert run(text.encode(), "acta.md").markdown == "# Acta\n\nCafé.\n"
    assert run(text.encode(), "acta.md").kind == Kind.MARKDOWN
    assert run("hola".encode("utf-16"), "nota.txt").markdown == "hola"


def test_the_content_decides_the_kind_when_the_name_says_nothing() -> None:
    assert run(make_docx(sections=1), "upload.bin").kind == Kind.DOCX
    assert run(make_pdf(1), None, "application/octet-stream").kind == Kind.PDF
    assert run(b"<html><body><p>x</p></body></html>", "page").kind == Kind.HTML


@pytest.mark.parametrize(
    ("make", "filename", "declared", "said"),
    [
        (lambda: make_docx(sections=1), "contrato.pdf", None, "named contrato.pdf but it is really a Word"),
        (lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "budget.xlsx", None, "really"),
        (lambda: make_xlsx(rows=2), "deck.pptx", None, "really an Excel workbook"),
        (lambda: make_pdf(1), "notes.txt", None, "really a PDF document"),
        (lambda: make_pdf(1), "upload", "text/plain", "sent as text/plain but it is really a PDF"),
    ],
    ids=["docx-as-pdf", "png-as-xlsx", "xlsx-as-pptx", "pdf-as-txt", "pdf-sent-as-text"],
)
def test_a_file_whose_name_or_type_lies_is_refused_saying_what_it_is(make, filename, declared, said) -> None:
    error = refused(make(), filename, declared)
    assert isinstance(error, UnsupportedMediaType)
    assert said in error.message


@pytest.mark.parametrize(
    ("data", "filename", "said"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "foto.png", "a PNG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le"), "viejo.doc", "Word 97"),
        (b"ID3\x03\x00\x00\x00", "audio.mp3", "MP3"),
        (b"\x00\x01\x02binary", "blob.dat", "binary data"),
    ],
    ids=["png", "legacy-doc", "mp3", "binary"],
)
def test_unsupported_formats_are_a_415_that_says_what_they_are(data, filename, said) -> None:
    error = refused(data, filename)
    assert isinstance(error, UnsupportedMediaType)
    assert said in error.message


def test_an_encrypted_pdf_is_refused_as_encrypted() -> None:
    error = refused(make_pdf(1, user_password="secreto"), "contrato.pdf")
    assert isinstance(error, Invalid)
    assert error.code == "encrypted"


def test_a_password_protected_docx_is_refused_as_encrypted() -> None:
    error = refused(encrypt_ooxml(make_docx(sections=1)), "contrato.docx")
    assert (error.status_code, error.code) == (422, "encrypted")


def test_a_scanned_pdf_says_it_needs_ocr() -> None:
    error = refused(make_scanned_pdf(2), "escaneado.pdf")
    assert (error.status_code, error.code) == (422, "scanned_pdf")
    assert "OCR" in error.message
    assert "no text layer" in error.message


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "roto.pdf"),
        (b"PK\x03\x04" + b"\x00" * 64, "roto.docx"),
        (make_docx(sections=1)[:-200], "cortado.docx"),
    ],
    ids=["pdf", "zip-header-only", "truncated-docx"],
)
def test_damaged_files_are_a_422(data: bytes, filename: str) -> None:
    error = refused(data, filename)
    assert (error.status_code, error.code) == (422, "corrupt_file")


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    bomb = zip_bomb(entry_bytes=64 * 1024 * 1024)  # 64 MB of zeros in ~64 KB
    assert len(bomb) < 200_000
    error = refused(bomb, "bomba.docx")
    assert (error.status_code, error.code) == (422, "zip_bomb")


def test_archives_over_the_unpacked_size_or_member_limits_are_a_413() -> None:
    document = make_docx(sections=1)
    too_big = refused(document, "a.docx", limits=Limits(max_unzipped_bytes=10_000))
    assert isinstance(too_big, PayloadTooLarge)
    assert too_big.code == "archive_too_large"
    crowded = refused(
        zip_bomb(entry_bytes=10, entries=30, base=document), "b.docx", limits=Limits(max_zip_entries=20)
    )
    assert (crowded.status_code, crowded.code) == (413, "archive_too_large")


def test_xml_with_a_dtd_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(make_docx(sections=1))) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(
                    b"?>", b'?><!DOCTYPE w [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>', 1
                )
            target.writestr(info, data)
    error = refused(out.getvalue(), "laughs.docx")
    assert (error.status_code, error.code) == (422, "unsafe_xml")


def test_page_and_text_limits_are_a_413() -> None:
    pages = refused(make_pdf(3), "largo.pdf", limits=Limits(max_pages=2))
    assert (pages.status_code, pages.code) == (413, "too_many_pages")
    slides = refused(make_pptx(slides=4), "largo.pptx", limits=Limits(max_pages=3))
    assert (slides.status_code, slides.code) == (413, "too_many_pages")
    text = refused(("palabra " * 200).encode(), "largo.txt", limits=Limits(max_chars=1000))
    assert (text.status_code, text.code) == (413, "text_too_long")


def test_text_must_be_utf8_and_not_empty() -> None:
    assert refused("año".encode("latin-1"), "a.txt").code == "invalid_encoding"
    assert refused(b"", "a.txt").code == "empty_file"

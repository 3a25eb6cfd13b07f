"""Document conversion speed and kept structure, per format and per converter, in one run.

Documents are made here with the test samples (tests/documents/samples.py): a 50-page PDF proposal
(one heading per page, paragraphs, a bulleted list, a ruled table every other page, a running footer),
a DOCX brief (20 sections: Heading 1/2, bulleted and numbered lists, a table each), an XLSX workbook
(3 sheets, 500 budget rows) and a PPTX pitch (20 slides, one with a table).

Converters, each warmed once and then timed `--rounds` times (median):

- v1tr0: `ingestion.convert.convert` in this process (what the API's converter process runs);
- v1tr0-isolated: the same through `ConverterPool` (a child process, pickling in and out);
- markitdown: `MarkItDown().convert_stream` for every format (its PDF path: pdfminer + pdfplumber);
- pdfium-text: PDFium's plain text per page, no structure (the floor for PDF);
- kreuzberg: `extract_bytes_sync` with Markdown output and page markers, when it is installed
  (`pip install kreuzberg`: it is not a dependency of the project).

Every converter runs with sockets blocked; a connection attempt (a model download) is reported.
Pages per second count PDF pages and PPTX slides; a DOCX or XLSX "page" is 1,800 characters of the
text v1tr0 extracts from it (one standard page), so the rows of a format compare like with like.
Ratios are against the fastest converter of the format, in this run. Structure: whether headings come
out as `#` lines, lists as `-`/`*`/`1.` items, tables as Markdown tables, and PDF pages as markers.

    python bench/convert.py [--rounds 3] [--pdf-pages 50]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingestion.convert import Limits, convert  # noqa: E402
from ingestion.convert.document import MIME_TYPES, Kind  # noqa: E402
from ingestion.convert.isolation import ConverterPool  # noqa: E402
from tests.documents.samples import make_docx, make_pdf, make_pptx, make_xlsx, section_title  # noqa: E402

STANDARD_PAGE = 1800
NETWORK_ATTEMPTS: list[str] = []

# What each document must show for its structure to count as kept.
HEADING = {"pdf": section_title(7), "docx": "Objetivos 7", "xlsx": "Calendario", "pptx": "Punto 7"}
LIST_ITEM = {"pdf": "Entrega de prototipos", "docx": "Mapa del sitio", "pptx": None, "xlsx": None}
TABLE_ROW = re.compile(r"^\|\s*Descubrimiento\s*\|\s*2 semanas\s*\|\s*4\.800 €\s*\|\s*$", re.MULTILINE)


def block_network() -> None:
    """Any connection or name lookup fails and is recorded."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        NETWORK_ATTEMPTS.append(repr(args[:2]))
        raise OSError("network blocked by bench/convert.py")

    class Guarded(socket.socket):
        def connect(self, address: Any) -> None:
            refuse(address)

        def connect_ex(self, address: Any) -> int:
            refuse(address)
            return 1

    socket.socket = Guarded  # type: ignore[misc]
    socket.getaddrinfo = refuse
    socket.create_connection = refuse


def documents(pdf_pages: int) -> dict[str, bytes]:
    return {
        "pdf": make_pdf(pdf_pages, marker="ref"),
        "docx": make_docx(sections=20, marker="ref"),
        "xlsx": make_xlsx(rows=500, marker="ref"),
        "pptx": make_pptx(slides=20, marker="ref"),
    }


def v1tr0(kind: str, data: bytes) -> str:
    return convert(data, filename=f"doc.{kind}", declared_type=None, limits=Limits()).markdown


def markitdown_converter() -> Callable[[str, bytes], str]:
    from markitdown import MarkItDown, StreamInfo

    engine = MarkItDown(enable_plugins=False)

    def run(kind: str, data: bytes) -> str:
        return str(
            engine.convert_stream(io.BytesIO(data), stream_info=StreamInfo(extension=f".{kind}")).markdown
        )

    return run


def pdfium_text(kind: str, data: bytes) -> str:
    if kind != "pdf":
        raise NotImplementedError
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    parts = []
    for index in range(len(document)):
        page = document[index]
        textpage = page.get_textpage()
        parts.append(f"<!-- page {index + 1} -->\n{textpage.get_text_range()}")
        textpage.close()
        page.close()
    document.close()
    return "\n".join(parts)


def kreuzberg_converter() -> Callable[[str, bytes], str] | None:
    try:
        import kreuzberg
    except ImportError:
        return None
    config = kreuzberg.ExtractionConfig(
        use_cache=False,
        output_format="markdown",
        disable_ocr=True,
        pages=kreuzberg.PageConfig(extract_pages=True, insert_page_markers=True),
    )

    def run(kind: str, data: bytes) -> str:
        return str(kreuzberg.extract_bytes_sync(data, MIME_TYPES[Kind(kind)], config).content)

    return run


def isolated_converter() -> tuple[Callable[[str, bytes], str], Callable[[], None]]:
    loop = asyncio.new_event_loop()
    pool = ConverterPool(workers=1, timeout=600, memory_bytes=3 * 1024**3)

    def run(kind: str, data: bytes) -> str:
        converted = loop.run_until_complete(
            pool.convert(data, filename=f"doc.{kind}", declared_type=None, limits=Limits())
        )
        return converted.markdown

    def close() -> None:
        loop.run_until_complete(pool.close())
        loop.close()

    return run, close


def structure(kind: str, markdown: str, pages: int) -> dict[str, str]:
    plain = markdown.replace("\\", "")
    heading = re.search(rf"^#{{1,6}}\s+{re.escape(HEADING[kind])}\s*$", plain, re.MULTILINE)
    item = LIST_ITEM[kind]
    listed = item and re.search(rf"^\s*(?:[-*+]|\d+\.)\s+{re.escape(item)}", plain, re.MULTILINE)
    result = {
        "headings": "yes" if heading else "no",
        "lists": "-" if item is None else ("yes" if listed else "no"),
        "tables": "yes" if TABLE_ROW.search(plain) else "no",
        "pages": "-",
    }
    if kind == "pdf":
        # page 7's reference must follow a "page 7" marker and come before the "page 8" one
        located = re.search(r"page\s*7\b.*?ref-p7\..*?page\s*8\b", plain, re.IGNORECASE | re.DOTALL)
        result["pages"] = "yes" if located and re.search(r"page\s*8\b", plain, re.IGNORECASE) else "no"
    return result


def median_seconds(
    run: Callable[[str, bytes], str], kind: str, data: bytes, rounds: int
) -> tuple[float, str]:
    output = run(kind, data)  # warm: imports, first-use caches
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        output = run(kind, data)
        times.append(time.perf_counter() - started)
    return statistics.median(times), output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pdf-pages", type=int, default=50)
    args = parser.parse_args()

    samples = documents(args.pdf_pages)
    block_network()
    isolated, close_isolated = isolated_converter()
    converters: dict[str, Callable[[str, bytes], str]] = {
        "v1tr0": v1tr0,
        "v1tr0-isolated": isolated,
        "markitdown": markitdown_converter(),
        "pdfium-text": pdfium_text,
    }
    kreuzberg = kreuzberg_converter()
    if kreuzberg is not None:
        converters["kreuzberg"] = kreuzberg
    else:
        print("kreuzberg is not installed: its rows are left out (pip install kreuzberg to compare)\n")

    print(
        f"{'format':6} {'converter':15} {'pages':>6} {'s/doc':>8} {'pages/s':>9} {'vs fastest':>10}  "
        "headings lists tables pages"
    )
    try:
        for kind, data in samples.items():
            reference = v1tr0(kind, data)
            if kind == "pdf":
                pages = args.pdf_pages
            elif kind == "pptx":
                pages = 20
            else:
                pages = max(round(len(reference) / STANDARD_PAGE), 1)
            rows = []
            for name, run in converters.items():
                try:
                    seconds, output = median_seconds(run, kind, data, args.rounds)
                except NotImplementedError:
                    continue
                rows.append((name, seconds, structure(kind, output, pages)))
            fastest = min(seconds for _, seconds, _ in rows)
            for name, seconds, kept in rows:
                print(
                    f"{kind:6} {name:15} {pages:6} {seconds:8.3f} {pages / seconds:9.1f} "
                    f"{seconds / fastest:9.1f}x  {kept['headings']:8} {kept['lists']:5} {kept['tables']:6} "
                    f"{kept['pages']}"
                )
            print()
    finally:
        close_isolated()
    print(f"network attempts while converting: {len(NETWORK_ATTEMPTS)}")
    for attempt in NETWORK_ATTEMPTS[:5]:
        print("  ", attempt)


if __name__ == "__main__":
    main()

"""PDF to Markdown with PDFium: text page by page, headings from font size, bullets as lists, ruled tables
as Markdown tables (pdf_tables.py), running headers and footers dropped, and a `<!-- page N -->` marker
where every page begins."""

from __future__ import annotations

import ctypes
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from core.errors import Invalid, PayloadTooLarge
from ingestion.convert.document import ConvertedDocument, Kind, Limits, outline, page_marker
from ingestion.convert.markdown import join_blocks, tidy
from ingestion.convert.pdf_tables import Box, find_tables

PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD
BULLET = re.compile(
    r"^[\u2022\u25cf\u25aa\u25a0\u25e6\u2023\u2043\u2219\u00b7\uf0b7\uf0a7\uf076\uf0d8\u27a2*\-–]\s+"
)
NUMBERED = re.compile(r"^(\(?\d{1,3}[.)]|[a-z][.)])\s+")
# A line this much larger than the body text is a heading; at most this many heading levels.
HEADING_RATIO = 1.15
HEADING_LEVELS = 3
MAX_HEADING_CHARS = 200
# Where running headers and footers live, as a share of the page height from the top and bottom edges.
MARGIN_BAND = 0.06
MARGIN_LINES = 2  # header or footer lines per page, at most
# A line further below the previous one than this many times the usual line distance starts a paragraph.
PARAGRAPH_GAP = 1.25
# A page drawing at least this many path objects may hold a ruled table.
TABLE_MIN_PATHS = 4
# Fewer non-blank characters than this on every page: the PDF has no text layer.
MIN_TEXT_CHARS = 3


@dataclass
class Line:
    text: str
    size: float  # height of the line's first glyph box, points: the font size as drawn
    top: float  # distance from the top of the page, points
    bottom: float
    left: float


@dataclass
class Page:
    number: int
    height: float
    lines: list[Line] = field(default_factory=list)
    tables: list[tuple[Box, str]] = field(default_factory=list)
    images: int = 0


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == PASSWORD_ERROR:
            raise Invalid(
                "the PDF is encrypted: it needs a password to open; remove the password and upload it again",
                code="encrypted",
            ) from None
        raise Invalid("the PDF is damaged and cannot be read", code="corrupt_file") from None


def _utf16_length(text: str) -> int:
    """PDFium counts characters in UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _lines(textpage: pdfium.PdfTextPage, height: float) -> Iterator[Line]:
    text = textpage.get_text_range()
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    box = pdfium_c.FS_RECTF()
    index = 0
    for raw in re.split(r"\r\n|\n|\r", text):
        start = index
        index += _utf16_length(raw) + 2
        stripped = raw.strip()
        if not stripped:
            continue
        first = start + _utf16_length(raw) - _utf16_length(raw.lstrip())
        if pdfium_c.FPDFText_GetLooseCharBox(textpage.raw, first, box):
            size, line_top, line_bottom, line_left = box.top - box.bottom, box.top, box.bottom, box.left
        elif pdfium_c.FPDFText_GetCharBox(textpage.raw, first, left, right, bottom, top):
            size, line_top, line_bottom = top.value - bottom.value, top.value, bottom.value
            line_left = left.value
        else:
            size, line_top, line_bottom, line_left = 0.0, 0.0, 0.0, 0.0
        yield Line(stripped, round(size, 1), height - line_top, height - line_bottom, line_left)


def _read_page(document: pdfium.PdfDocument, index: int) -> Page:
    """The page's lines, its ruled tables (looked for only where it draws enough paths) and images."""
    page = document[index]
    try:
        height = page.get_height()
        paths = 0
        images = 0
        for obj in page.get_objects(max_depth=2):
            if obj.type == pdfium_c.FPDF_PAGEOBJ_PATH:
                paths += 1
            elif obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                images += 1
        textpage = page.get_textpage()
        try:
            result = Page(index + 1, height, list(_lines(textpage, height)), images=images)
            if paths >= TABLE_MIN_PATHS and result.lines:
                result.tables = find_tables(page, textpage, height)
        finally:
            textpage.close()
        return result
    finally:
        page.close()


def _inside(line: Line, bbox: Box) -> bool:
    x0, top, x1, bottom = bbox
    middle = (line.top + line.bottom) / 2
    return top - 1 <= middle <= bottom + 1 and x0 - 1 <= line.left <= x1 + 1


def _running_lines(pages: list[Page]) -> set[str]:
    """Headers and footers: lines in the top or bottom band that repeat (digits aside) on most pages."""
    if len(pages) < 3:
        return set()
    counts: Counter[str] = Counter()
    for page in pages:
        band = page.height * MARGIN_BAND
        edges = page.lines[:MARGIN_LINES] + page.lines[-MARGIN_LINES:]
        counts.update(
            {_running_key(line.text) for line in edges if line.top < band or line.bottom > page.height - band}
        )
    return {key for key, seen in counts.items() if seen >= max(3, len(pages) // 2)}


def _running_key(text: str) -> str:
    return re.sub(r"\d+", "#", text.lower())


def _heading_levels(pages: list[Page], running: set[str]) -> tuple[float, dict[float, int]]:
    """The body text size (most characters) and the level of each larger size that starts short lines."""
    weights: Counter[float] = Counter()
    for page in pages:
        for line in page.lines:
            weights[line.size] += len(line.text)
    if not weights:
        return 0.0, {}
    body = weights.most_common(1)[0][0]
    larger = sorted(
        {
            line.size
            for page in pages
            for line in page.lines
            if line.size >= body * HEADING_RATIO
            and len(line.text) <= MAX_HEADING_CHARS
            and _running_key(line.text) not in running
        },
        reverse=True,
    )
    # Sizes within 5% of each other are one level (rounding of the glyph boxes).
    levels: dict[float, int] = {}
    level = 0
    previous: float | None = None
    for size in larger:
        if previous is None or size < previous * 0.95:
            level += 1
        levels[size] = min(level, HEADING_LEVELS)
        previous = size
    return body, levels


def _page_markdown(page: Page, body: float, levels: dict[float, int], running: set[str]) -> str:
    blocks: list[str] = []
    paragraph: list[str] = []
    emitted: set[int] = set()
    previous: Line | None = None
    # The usual distance between two lines of a paragraph: the lower quartile of the distances between
    # lines of one size (paragraph breaks, list items and tables only ever add to it).
    gaps = sorted(
        b.bottom - a.bottom
        for a, b in zip(page.lines, page.lines[1:], strict=False)
        if abs(a.size - b.size) < 0.5 and b.bottom - a.bottom > 0
    )
    leading = gaps[len(gaps) // 4] if gaps else body * 1.5

    def flush() -> None:
        if paragraph:
            blocks.append(" ".join(paragraph))
            paragraph.clear()

    for line in page.lines:
        table = next((n for n, (bbox, _) in enumerate(page.tables) if _inside(line, bbox)), None)
        if table is not None:
            if table not in emitted:
                flush()
                blocks.append(page.tables[table][1])
                emitted.add(table)
            previous = None
            continue
        if _running_key(line.text) in running:
            continue
        level = levels.get(line.size)
        if level:
            same_heading = previous is not None and levels.get(previous.size) == level and blocks
            if same_heading and not paragraph and blocks[-1].startswith("#" * level + " "):
                blocks[-1] += " " + line.text  # a heading wrapped over two lines
            else:
                flush()
                blocks.append(f"{'#' * level} {line.text}")
            previous = line
            continue
        bullet = BULLET.match(line.text)
        starts_item = bullet is not None or NUMBERED.match(line.text) is not None
        gap = line.bottom - previous.bottom if previous is not None else 0.0
        new_paragraph = (
            previous is None
            or levels.get(previous.size)
            or starts_item
            or gap > leading * PARAGRAPH_GAP
            or gap < 0
            or abs(line.size - previous.size) >= 0.5
        )
        if new_paragraph:
            flush()
        text = f"- {line.text[bullet.end() :]}" if bullet else line.text
        if paragraph and paragraph[-1].endswith("-") and not paragraph[-1].endswith(" -"):
            paragraph[-1] = paragraph[-1][:-1] + text  # a word hyphenated at the end of the line
        else:
            paragraph.append(text)
        previous = line
    flush()
    for number, (_, table_markdown) in enumerate(page.tables):
        if number not in emitted:  # a table none of whose text PDFium reported as lines
            blocks.append(table_markdown)
    return join_blocks(blocks)


def convert_pdf(data: bytes, limits: Limits) -> ConvertedDocument:
    document = _open(data)
    try:
        count = len(document)
        if count == 0:
            raise Invalid("the PDF has no pages", code="empty_document")
        if count > limits.max_pages:
            raise PayloadTooLarge(
                f"the PDF has {count:,} pages; the limit is {limits.max_pages:,}", code="too_many_pages"
            )
        pages = [_read_page(document, index) for index in range(count)]
    finally:
        document.close()
    textless = [page.number for page in pages if sum(len(line.text) for line in page.lines) < MIN_TEXT_CHARS]
    if len(textless) == count:
        scanned = sum(1 for page in pages if page.images)
        raise Invalid(
            (
                f"the PDF has no text layer: its {count} page(s) are pictures (a scan); it needs OCR, which "
                "this product does not do offline. Run OCR on it (or export the original as PDF) and upload "
                "the result"
            )
            if scanned
            else "the PDF contains no text",
            code="scanned_pdf" if scanned else "empty_document",
            details={"pages": count, "pages_with_images": scanned},
        )
    warnings = []
    if textless:
        shown = ", ".join(str(number) for number in textless[:20]) + ("…" if len(textless) > 20 else "")
        warnings.append(f"{len(textless)} page(s) have no text (scanned pictures?) and were skipped: {shown}")
    running = _running_lines(pages)
    body, levels = _heading_levels(pages, running)
    parts = []
    for page in pages:
        parts.append(page_marker("page", page.number))
        text = _page_markdown(page, body, levels, running)
        if text:
            parts.append(text)
    markdown = tidy("\n\n".join(parts))
    return ConvertedDocument(
        markdown=markdown,
        kind=Kind.PDF,
        page_count=count,
        page_unit="page",
        sections=outline(markdown),
        warnings=warnings,
    )

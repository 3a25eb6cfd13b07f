"""What a conversion produces: the document as Markdown, its kind, pages and sections, and its limits."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field


class Kind(enum.StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    PPTX = "pptx"
    XLSX = "xlsx"
    CSV = "csv"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self]

    @property
    def label(self) -> str:
        return LABELS[self]

    @property
    def is_text(self) -> bool:
        return self in TEXT_KINDS


OOXML = "application/vnd.openxmlformats-officedocument"
MIME_TYPES = {
    Kind.PDF: "application/pdf",
    Kind.DOCX: f"{OOXML}.wordprocessingml.document",
    Kind.PPTX: f"{OOXML}.presentationml.presentation",
    Kind.XLSX: f"{OOXML}.spreadsheetml.sheet",
    Kind.CSV: "text/csv",
    Kind.HTML: "text/html",
    Kind.MARKDOWN: "text/markdown",
    Kind.TEXT: "text/plain",
}
LABELS = {
    Kind.PDF: "a PDF document",
    Kind.DOCX: "a Word document (DOCX)",
    Kind.PPTX: "a PowerPoint presentation (PPTX)",
    Kind.XLSX: "an Excel workbook (XLSX)",
    Kind.CSV: "a CSV table",
    Kind.HTML: "an HTML page",
    Kind.MARKDOWN: "Markdown text",
    Kind.TEXT: "plain text",
}
TEXT_KINDS = frozenset({Kind.CSV, Kind.HTML, Kind.MARKDOWN, Kind.TEXT})

# Where a page (PDF) or slide (PPTX) begins in the Markdown: an HTML comment, invisible when the Markdown
# is rendered, kept in the stored text so that chunks can say which page they come from.
PAGE_MARKER = re.compile(r"<!-- (page|slide) (\d+) -->")


def page_marker(unit: str, number: int) -> str:
    return f"<!-- {unit} {number} -->"


@dataclass(frozen=True)
class Limits:
    max_pages: int = 2000
    max_unzipped_bytes: int = 512 * 1024 * 1024
    max_zip_entries: int = 10_000
    max_compression_ratio: int = 200
    max_chars: int = 10_000_000


@dataclass(frozen=True)
class Section:
    """A heading of the converted document: its path from the top (`Presupuesto › Pagos`) and page."""

    path: str
    level: int
    page: int | None


@dataclass(frozen=True)
class ConvertedDocument:
    markdown: str
    kind: Kind
    page_count: int | None = None  # PDF pages, PPTX slides, XLSX sheets; None for flowing text
    page_unit: str | None = None  # "page" or "slide": what PAGE_MARKER comments in `markdown` count
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def mime_type(self) -> str:
        return self.kind.mime_type


def outline(markdown: str) -> list[Section]:
    """The headings of Markdown text with their paths and the page each falls on."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    page: int | None = None
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        marker = PAGE_MARKER.fullmatch(line.strip())
        if marker:
            page = int(marker.group(2))
            continue
        heading = re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if heading:
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading.group(2)))
            sections.append(Section(" › ".join(title for _, title in stack), level, page))
    return sections

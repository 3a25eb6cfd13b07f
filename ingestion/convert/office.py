"""DOCX, PPTX and HTML to Markdown through markitdown's converters (mammoth, python-pptx, markdownify);
XLSX (openpyxl, read-only and streaming), CSV and plain text here."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

from core.errors import Invalid, PayloadTooLarge
from ingestion.convert.document import ConvertedDocument, Kind, Limits, outline, page_marker
from ingestion.convert.markdown import markdown_table, promote_empty_headers, tidy

# Word's "Title" style is the document's first heading (mammoth drops it to a paragraph otherwise).
DOCX_STYLE_MAP = "p[style-name='Title'] => h1:fresh\np[style-name='Subtitle'] => h2:fresh"
SLIDE_MARKER = re.compile(r"<!-- Slide number: (\d+) -->")


def _converters() -> dict[str, Any]:
    # Imported here: markitdown pulls in pandas and magika, which only the conversion process needs.
    from markitdown.converters import DocxConverter, HtmlConverter, PptxConverter

    return {"docx": DocxConverter(), "pptx": PptxConverter(), "html": HtmlConverter()}  # type: ignore[no-untyped-call]


_CONVERTERS: dict[str, Any] = {}


def _markitdown(kind: str, data: bytes, **options: Any) -> str:
    from markitdown import StreamInfo

    if not _CONVERTERS:
        _CONVERTERS.update(_converters())
    info = StreamInfo(extension=f".{kind}", charset="utf-8" if kind == "html" else None)
    result = _CONVERTERS[kind].convert(io.BytesIO(data), info, **options)
    return str(result.markdown)


def convert_docx(data: bytes) -> ConvertedDocument:
    markdown = tidy(promote_empty_headers(_markitdown("docx", data, style_map=DOCX_STYLE_MAP)))
    return ConvertedDocument(markdown=markdown, kind=Kind.DOCX, sections=outline(markdown))


def convert_pptx(data: bytes, limits: Limits) -> ConvertedDocument:
    raw = _markitdown("pptx", data)
    slides = [int(number) for number in SLIDE_MARKER.findall(raw)]
    if len(slides) > limits.max_pages:
        raise PayloadTooLarge(
            f"the presentation has {len(slides):,} slides; the limit is {limits.max_pages:,}",
            code="too_many_pages",
        )
    markdown = tidy(SLIDE_MARKER.sub(lambda m: page_marker("slide", int(m.group(1))), raw))
    return ConvertedDocument(
        markdown=markdown,
        kind=Kind.PPTX,
        page_count=len(slides),
        page_unit="slide",
        sections=outline(markdown),
    )


def convert_html(text: str) -> ConvertedDocument:
    markdown = tidy(_markitdown("html", text.encode()))
    return ConvertedDocument(markdown=markdown, kind=Kind.HTML, sections=outline(markdown))


def _cell(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def convert_xlsx(data: bytes, limits: Limits) -> ConvertedDocument:
    """One `## Sheet` section per sheet with its used range as a table (cached formula values)."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise Invalid("the workbook is damaged and cannot be read", code="corrupt_file") from None
    try:
        names = workbook.sheetnames
        if len(names) > limits.max_pages:
            raise PayloadTooLarge(
                f"the workbook has {len(names):,} sheets; the limit is {limits.max_pages:,}",
                code="too_many_pages",
            )
        parts: list[str] = []
        warnings: list[str] = []
        chars = 0
        for name in names:
            sheet = workbook[name]
            rows = [
                [_cell(value) for value in row]
                for row in sheet.iter_rows(values_only=True)
                if any(value is not None and str(value).strip() for value in row)
            ]
            table = markdown_table(rows) if rows else ""
            chars += len(table)
            if chars > limits.max_chars:
                raise PayloadTooLarge(
                    f"the workbook's text is over {limits.max_chars:,} characters", code="text_too_long"
                )
            parts.append(f"## {name}\n\n{table}" if table else f"## {name}\n\n(empty sheet)")
            if getattr(sheet, "sheet_state", "visible") != "visible":
                warnings.append(f"sheet {name!r} is hidden in the workbook; its contents are included")
    finally:
        workbook.close()
    markdown = tidy("\n\n".join(parts))
    return ConvertedDocument(
        markdown=markdown,
        kind=Kind.XLSX,
        page_count=len(names),
        sections=outline(markdown),
        warnings=warnings,
    )


def convert_csv(text: str, *, filename: str | None) -> ConvertedDocument:
    sample = text[:20_000]
    delimiter = "\t" if (filename or "").lower().endswith(".tsv") else None
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(row)]
    markdown = tidy(markdown_table(rows)) if rows else ""
    return ConvertedDocument(markdown=markdown, kind=Kind.CSV, sections=[])


def convert_text(text: str, kind: Kind) -> ConvertedDocument:
    """Plain text and Markdown are kept as they are (only newlines and control characters are tidied)."""
    markdown = text.replace("\r\n", "\n").replace("\x00", "")
    return ConvertedDocument(
        markdown=markdown, kind=kind, sections=outline(markdown) if kind == Kind.MARKDOWN else []
    )

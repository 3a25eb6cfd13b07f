"""Uploaded documents (PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown, text) to Markdown that keeps their
structure, offline. The kind is decided by the bytes, never by the name; limits guard against hostile
files; `ConverterPool` runs conversions in a separate process with a time and memory limit.

    convert(data, filename=..., declared_type=..., limits=...) -> ConvertedDocument   # in this process
"""

from __future__ import annotations

from core.errors import Invalid, PayloadTooLarge
from ingestion.convert.document import PAGE_MARKER, ConvertedDocument, Kind, Limits, Section
from ingestion.convert.sniff import decide_kind


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a byte order mark) or UTF-16 with one; anything else is refused rather
    than guessed."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise Invalid("the file is not valid UTF-16 text", code="invalid_encoding") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"the file is not valid UTF-8 (byte {exc.start}); save it as UTF-8 and upload it again",
            code="invalid_encoding",
        ) from None


def convert(
    data: bytes, *, filename: str | None, declared_type: str | None, limits: Limits
) -> ConvertedDocument:
    """Convert in this process (the API uses ConverterPool, which calls this in a child process)."""
    if not data:
        raise Invalid("the file is empty", code="empty_file")
    kind = decide_kind(data, filename=filename, declared_type=declared_type)
    document = _convert(data, kind, filename=filename, limits=limits)
    if len(document.markdown) > limits.max_chars:
        raise PayloadTooLarge(
            f"the document's text has {len(document.markdown):,} characters; "
            f"the limit is {limits.max_chars:,}",
            code="text_too_long",
        )
    return document


def _convert(data: bytes, kind: Kind, *, filename: str | None, limits: Limits) -> ConvertedDocument:
    from ingestion.convert import office

    if kind == Kind.PDF:
        from ingestion.convert.pdf import convert_pdf

        return convert_pdf(data, limits)
    if kind in (Kind.DOCX, Kind.PPTX, Kind.XLSX):
        from ingestion.convert.archive import check_ooxml

        check_ooxml(data, limits)
        try:
            if kind == Kind.DOCX:
                return office.convert_docx(data)
            if kind == Kind.PPTX:
                return office.convert_pptx(data, limits)
            return office.convert_xlsx(data, limits)
        except (Invalid, PayloadTooLarge):
            raise
        except Exception:
            raise Invalid(
                f"the file is damaged: it cannot be read as {kind.label}", code="corrupt_file"
            ) from None
    text = decode_text(data)
    if kind == Kind.HTML:
        return office.convert_html(text)
    if kind == Kind.CSV:
        return office.convert_csv(text, filename=filename)
    return office.convert_text(text, kind)


__all__ = ["PAGE_MARKER", "ConvertedDocument", "Kind", "Limits", "Section", "convert", "decode_text"]

"""Safety checks of DOCX/PPTX/XLSX archives before any parser opens them: zip bombs, too many members,
encrypted members, and XML with a DTD (entity expansion, external entities), which Office never writes."""

from __future__ import annotations

import io
import zipfile

from core.errors import Invalid, PayloadTooLarge
from ingestion.convert.document import Limits

# Members this large are checked for their compression ratio (small ones cannot hurt, whatever the ratio).
BOMB_MIN_BYTES = 8 * 1024 * 1024
XML_HEAD_BYTES = 4096


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.0f} MB"


def check_ooxml(data: bytes, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > limits.max_zip_entries:
                raise PayloadTooLarge(
                    f"the document holds {len(members):,} files inside; "
                    f"the limit is {limits.max_zip_entries:,}",
                    code="archive_too_large",
                )
            total = sum(member.file_size for member in members)
            if total > limits.max_unzipped_bytes:
                raise PayloadTooLarge(
                    f"the document expands to {_megabytes(total)} when unpacked; the limit is "
                    f"{_megabytes(limits.max_unzipped_bytes)}",
                    code="archive_too_large",
                )
            for member in members:
                if member.flag_bits & 0x1:
                    raise Invalid("the document is encrypted", code="encrypted")
                ratio = member.file_size / max(member.compress_size, 1)
                if member.file_size >= BOMB_MIN_BYTES and ratio > limits.max_compression_ratio:
                    raise Invalid(
                        f"the document looks like a zip bomb: {member.filename} expands {ratio:,.0f} times "
                        f"(to {_megabytes(member.file_size)}); real documents compress far less",
                        code="zip_bomb",
                    )
            for member in members:
                if member.filename.endswith((".xml", ".rels")):
                    with archive.open(member) as part:
                        head = part.read(XML_HEAD_BYTES)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise Invalid(
                            f"{member.filename} inside the document declares a DTD or entities, which Office "
                            "never writes (an XML attack); the file was refused",
                            code="unsafe_xml",
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, OSError):
        raise Invalid(
            "the document is damaged: its ZIP archive cannot be read", code="corrupt_file"
        ) from None

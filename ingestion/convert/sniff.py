"""What a file really is, from its bytes (magic numbers, the parts inside a ZIP), and whether its name or
declared type lies about it in a way that matters."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from core.errors import Invalid, UnsupportedMediaType
from ingestion.convert.document import MIME_TYPES, Kind

EXTENSIONS = {
    ".pdf": Kind.PDF,
    ".docx": Kind.DOCX,
    ".docm": Kind.DOCX,
    ".dotx": Kind.DOCX,
    ".pptx": Kind.PPTX,
    ".pptm": Kind.PPTX,
    ".ppsx": Kind.PPTX,
    ".xlsx": Kind.XLSX,
    ".xlsm": Kind.XLSX,
    ".csv": Kind.CSV,
    ".tsv": Kind.CSV,
    ".html": Kind.HTML,
    ".htm": Kind.HTML,
    ".xhtml": Kind.HTML,
    ".md": Kind.MARKDOWN,
    ".markdown": Kind.MARKDOWN,
    ".txt": Kind.TEXT,
    ".text": Kind.TEXT,
}
DECLARED = {mime: kind for kind, mime in MIME_TYPES.items()} | {
    "application/x-pdf": Kind.PDF,
    "application/xhtml+xml": Kind.HTML,
    "text/x-markdown": Kind.MARKDOWN,
    "text/tab-separated-values": Kind.CSV,
}
ACCEPTED = sorted(EXTENSIONS)

# (signature at offset 0, what it is); the ones checked by a function are below.
SIGNATURES = [
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio/video file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
    (b"{\\rtf", "an RTF document (save it as DOCX or PDF)"),
]
CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: legacy Office files, and password-protected OOXML
LEGACY_OFFICE = [
    ("WordDocument", "a Word 97–2003 document (.doc); save it as .docx"),
    ("Workbook", "an Excel 97–2003 workbook (.xls); save it as .xlsx"),
    ("PowerPoint Document", "a PowerPoint 97–2003 presentation (.ppt); save it as .pptx"),
]
ODF = {
    "application/vnd.oasis.opendocument.text": "an OpenDocument text (.odt); save it as .docx or PDF",
    "application/vnd.oasis.opendocument.spreadsheet": "an OpenDocument spreadsheet (.ods); save it as .xlsx",
    "application/vnd.oasis.opendocument.presentation": (
        "an OpenDocument presentation (.odp); save it as .pptx"
    ),
}
OOXML_MAIN_PARTS = [
    ("word/document.xml", Kind.DOCX),
    ("ppt/presentation.xml", Kind.PPTX),
    ("xl/workbook.xml", Kind.XLSX),
]
HTML_START = re.compile(
    rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL
)


@dataclass(frozen=True)
class Detected:
    """The kind of a file, or (kind None) a description of the unsupported thing it is."""

    kind: Kind | None
    label: str


def _media(data: bytes) -> str | None:
    for signature, label in SIGNATURES:
        if data.startswith(signature):
            return label
    if data[:4] == b"RIFF" and data[8:12] in (b"WAVE", b"AVI ", b"WEBP"):
        return {b"WAVE": "a WAV audio file", b"AVI ": "an AVI video", b"WEBP": "a WebP image"}[data[8:12]]
    if data[4:8] == b"ftyp":
        return "an MP4/QuickTime audio or video file (or a HEIC picture)"
    if len(data) > 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and b"\x00" in data[:4096]:
        return "an MP3/AAC audio stream"
    return None


def _zip_kind(data: bytes) -> Detected:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and "[Content_Types].xml" not in names:
                mimetype = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                return Detected(None, ODF.get(mimetype, "an OpenDocument file"))
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError):
        raise Invalid(
            "the file is damaged: it starts like a ZIP archive (DOCX, PPTX and XLSX files are ZIP "
            "archives) but its contents cannot be read",
            code="corrupt_file",
        ) from None
    if "[Content_Types].xml" in names:
        for part, kind in OOXML_MAIN_PARTS:
            if part in names:
                return Detected(kind, kind.label)
        return Detected(None, "an Office Open XML package of an unsupported kind")
    return Detected(None, "a ZIP archive")


def _cfb_kind(data: bytes) -> Detected:
    if "EncryptedPackage".encode("utf-16-le") in data:
        raise Invalid(
            "the document is encrypted (protected with a password); remove the password in Office and "
            "upload it again",
            code="encrypted",
        )
    for stream, label in LEGACY_OFFICE:
        if stream.encode("utf-16-le") in data:
            return Detected(None, label)
    return Detected(None, "an OLE2 compound file (a legacy Office format)")


def detect(data: bytes) -> Detected:
    """The kind by content alone. Raises Invalid for encrypted Office files and damaged ZIPs."""
    head = data[:1024]
    if b"%PDF-" in head:
        return Detected(Kind.PDF, Kind.PDF.label)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    if data.startswith(CFB):
        return _cfb_kind(data)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Detected(Kind.TEXT, Kind.TEXT.label)  # UTF-16 with a byte order mark
    media = _media(data)
    if media:
        return Detected(None, media)
    if b"\x00" in data[:65536]:
        return Detected(None, "binary data of an unknown kind")
    if HTML_START.match(data[:4096]):
        return Detected(Kind.HTML, Kind.HTML.label)
    return Detected(Kind.TEXT, Kind.TEXT.label)


def claimed_kind(filename: str | None, declared_type: str | None) -> tuple[Kind | None, str | None]:
    """What the name (or, without a known extension, the declared media type) says the file is, and
    which of the two said it."""
    suffix = PurePosixPath((filename or "").lower()).suffix
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix], f"named {filename}"
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared in DECLARED:
        return DECLARED[declared], f"sent as {declared}"
    return None, None


def decide_kind(data: bytes, *, filename: str | None, declared_type: str | None) -> Kind:
    """The kind to convert the file as: its content decides. A name or type that says otherwise in a
    way that matters (a binary format for another, text for a binary) is refused with what it really is."""
    detected = detect(data)
    claimed, claimer = claimed_kind(filename, declared_type)
    if detected.kind is None:
        said = f"is {claimer} but it is really" if claimed else "is"
        raise UnsupportedMediaType(
            f"the file {said} {detected.label}, which cannot be added as a document",
            code="type_mismatch" if claimed else UnsupportedMediaType.code,
            details={"detected": detected.label, "accepted": ACCEPTED},
        )
    if claimed is None or claimed == detected.kind:
        return detected.kind
    if claimed.is_text and detected.kind.is_text:
        return claimed  # content says "text"; the name says which kind of text
    raise UnsupportedMediaType(
        f"the file is {claimer} but it is really {detected.label}; rename it or upload the right file",
        code="type_mismatch",
        details={"claimed": claimed.value, "detected": detected.kind.value},
    )

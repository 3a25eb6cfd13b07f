"""Files served with HTTP Range (RFC 9110 §14), streamed from disk in pieces: what a browser's audio
player needs to start anywhere and seek."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import anyio
from starlette.responses import StreamingResponse

from core.errors import RangeNotSatisfiable

PIECE = 64 * 1024
# One range of bytes: "bytes=first-last", "bytes=first-" or "bytes=-suffix length".
SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class StoredFile:
    path: Path
    size: int
    media_type: str
    etag: str  # quoted; the file never changes under it
    modified: float  # Unix time


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes (first, last; inclusive) one Range header asks for; None for the whole file: no header,
    another unit, several ranges or a malformed one (which RFC 9110 lets a server ignore). A range that
    starts past the end raises RangeNotSatisfiable."""
    if header is None:
        return None
    match = SINGLE_RANGE.match(header)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable("the range asks for no bytes", size=size)
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(f"the range starts past the end of the file ({size} bytes)", size=size)
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)


async def _pieces(path: Path, first: int, length: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        await handle.seek(first)
        left = length
        while left > 0:
            piece = await handle.read(min(PIECE, left))
            if not piece:  # the file shrank: end here rather than promise bytes that do not exist
                return
            left -= len(piece)
            yield piece


def file_response(stored: StoredFile, *, range_header: str | None, if_range: str | None) -> StreamingResponse:
    """200 with the whole file, or 206 with the range asked for (`Content-Range`); 416 (raised) when it
    cannot be satisfied. An `If-Range` naming another version gets the whole file, as RFC 9110 says."""
    wanted = byte_range(range_header, stored.size) if if_range in (None, stored.etag) else None
    first, last = wanted if wanted is not None else (0, stored.size - 1)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(last - first + 1),
        "ETag": stored.etag,
        "Last-Modified": formatdate(stored.modified, usegmt=True),
        "Cache-Control": "private, no-cache",
    }
    if wanted is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{stored.size}"
    return StreamingResponse(
        _pieces(stored.path, first, last - first + 1),
        status_code=206 if wanted is not None else 200,
        media_type=stored.media_type,
        headers=headers,
    )

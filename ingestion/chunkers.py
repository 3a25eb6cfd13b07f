"""Chunkers, one per kind of artifact. Token-aware (tiktoken), with overlap and a context header.

- prose (descriptions, documents): split on Markdown headings, then paragraphs and sentences (LlamaIndex's
  MarkdownNodeParser and SentenceSplitter), then tokens;
- transcripts: consecutive timestamped segments grouped up to the token budget, each chunk keeping its
  start/end seconds and speakers;
- summaries, key points, commitments: one small self-contained chunk per item (or per summary);
- chat: one question+answer pair per chunk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from core.i18n import INDEX_LANGUAGE, enum_word, index_text
from core.models import CommitmentStatus, SourceType
from core.text import HEADER_SEPARATOR, TABLE_ROW, TABLE_RULE, format_timestamp, spanish_date
from core.tokens import count_tokens, encoding, truncate_tokens
from ingestion.convert.document import PAGE_MARKER

_WORD = re.compile(r"[a-záéíóúüñ]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SPANISH_HINTS = _words(
    "el la los las de del que y en un una por con para es se no al lo como más pero sus le ya o este sí "
    "porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos durante "
    "todos uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos yo otro otras "
    "otra él tanto esa estos mucho quienes nada muchos cual poco ella estar estas algunas algo nosotros "
    "está son fue han ser hemos"
)
ENGLISH_HINTS = _words(
    "the of and to in is that it for was on are as with be at by this have from or had not but what "
    "all were we when your can said there use an each which she do how their if will up other about out "
    "many then them these so some her would make like him into time has look two more write go see no "
    "way could people my than first been call who its now find long down did get come made may part"
)


def detect_language(text: str) -> str:
    """'es', 'en' or 'simple' (unknown), from function-word counts; picks the full-text configuration."""
    words = _WORD.findall(text[:20_000].lower())
    if not words:
        return "simple"
    spanish = sum(word in SPANISH_HINTS for word in words)
    english = sum(word in ENGLISH_HINTS for word in words)
    if max(spanish, english) < max(2, len(words) // 50):
        return "simple"
    return "es" if spanish >= english else "en"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before embedding. `content` is what is embedded, searched and cited."""

    source_type: SourceType
    chunk_index: int
    content: str
    meta: dict[str, Any] = field(default_factory=dict)
    lang: str | None = None  # detected on the whole artifact; short chunks alone are ambiguous

    @property
    def content_hash(self) -> str:
        return content_hash(self.content)

    @property
    def token_count(self) -> int:
        return count_tokens(self.content)

    @property
    def language(self) -> str:
        return self.lang or detect_language(self.content)


def _header(*parts: str | None, max_tokens: int) -> str:
    """`[context › title › section]`, cut to at most half the chunk budget (a long title must not
    leave no room for the text, nor push a chunk over the budget)."""
    header = "[" + HEADER_SEPARATOR.join(part.strip() for part in parts if part and part.strip()) + "]"
    limit = max_tokens // 2
    if count_tokens(header) <= limit:
        return header
    return truncate_tokens(header, limit - 2) + "…]"


def _body_budget(max_tokens: int, *prefixes: str) -> int:
    """Tokens left for the text once the header lines (and the newlines after them) are in."""
    return max(max_tokens - sum(count_tokens(prefix) + 1 for prefix in prefixes), 8)


def _split_text(text: str, budget: int, overlap: int) -> list[str]:
    """Paragraphs, then sentences, then tokens: pieces of at most `budget` tokens, none of them empty."""
    splitter = _sentence_splitter(budget, min(overlap, budget // 2))
    return [piece.strip() for piece in splitter.split_text(text) if piece.strip()]


@lru_cache(maxsize=8)
def _sentence_splitter(max_tokens: int, overlap: int) -> Any:
    from llama_index.core.node_parser import SentenceSplitter

    enc = encoding()
    return SentenceSplitter(
        chunk_size=max_tokens,
        chunk_overlap=overlap,
        tokenizer=lambda text: enc.encode(text, disallowed_special=()),
        paragraph_separator="\n\n",
    )


def _markdown_sections(text: str) -> list[tuple[str, str]]:
    """(heading path, body) pairs; text without headings is one section with an empty path.

    A heading with no text under it and no subsections (an outline's last level) is kept as its own
    body, so that no words of the document are dropped."""
    if not re.search(r"(?m)^#{1,6}\s", text):
        return [("", text)]
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser

    nodes = MarkdownNodeParser(include_metadata=True).get_nodes_from_documents([Document(text=text)])
    sections: list[tuple[str, str, str]] = []
    for node in nodes:
        parents = [part for part in str(node.metadata.get("header_path", "")).split("/") if part]
        body = node.get_content()
        first, _, rest = body.partition("\n")
        heading = re.match(r"#{1,6}\s+(.*)", first)
        title = ""
        if heading:
            title = heading.group(1).strip()
            parents.append(title)
            body = rest
        sections.append((" › ".join(parents), body, title))
    result = []
    for position, (path, body, title) in enumerate(sections):
        following = sections[position + 1][0] if position + 1 < len(sections) else ""
        if not body.strip() and title and not following.startswith(path + " › "):
            body = title
        result.append((path, body))
    return result


def _blocks(text: str) -> list[tuple[bool, str]]:
    """(is a Markdown table, text) runs of the text, in order."""
    blocks: list[tuple[bool, list[str]]] = []
    for line in text.split("\n"):
        is_row = bool(TABLE_ROW.match(line))
        if blocks and blocks[-1][0] == is_row:
            blocks[-1][1].append(line)
        else:
            blocks.append((is_row, [line]))
    return [
        (is_table and len(lines) >= 2 and bool(TABLE_RULE.match(lines[1])), "\n".join(lines))
        for is_table, lines in blocks
    ]


def _split_table(table: str, budget: int) -> list[str]:
    """Rows grouped up to the budget, each group under the table's header row, so that every chunk of
    a long table still says what its columns are."""
    lines = table.split("\n")
    header = "\n".join(lines[:2])
    room = budget - count_tokens(header) - 1
    pieces: list[str] = []
    group: list[str] = []
    used = 0
    for row in lines[2:]:
        cost = count_tokens(row) + 1
        if cost > room:  # a row longer than a chunk: on its own, split as text
            if group:
                pieces.append("\n".join([header, *group]))
                group, used = [], 0
            pieces.extend(_split_text(row, budget, 0))
            continue
        if group and used + cost > room:
            pieces.append("\n".join([header, *group]))
            group, used = [], 0
        group.append(row)
        used += cost
    if group or not pieces:
        pieces.append("\n".join([header, *group]))
    return pieces


def _split_body(text: str, budget: int, overlap: int) -> list[str]:
    """Like _split_text, but Markdown tables are split between rows (header repeated), never inside
    one; small neighbouring pieces are then joined up to the budget."""
    blocks = _blocks(text)
    if not any(is_table for is_table, _ in blocks):
        return _split_text(text, budget, overlap)
    pieces: list[str] = []
    for is_table, block in blocks:
        if not block.strip():
            continue
        pieces.extend(
            _split_table(block.strip(), budget) if is_table else _split_text(block, budget, overlap)
        )
    merged: list[str] = []
    for piece in pieces:
        if merged and count_tokens(merged[-1] + "\n\n" + piece) <= budget:
            merged[-1] += "\n\n" + piece
        else:
            merged.append(piece)
    return merged


class _Pages:
    """Which pages (or slides) each piece of a converted document lies on, from the `<!-- page N -->`
    markers the converter left in the text; the markers themselves are taken out of the chunk."""

    def __init__(self) -> None:
        self.unit: str | None = None
        self.seen: list[int] = []  # marker numbers met so far, ascending

    def locate(self, piece: str) -> tuple[dict[str, int], str]:
        parts = PAGE_MARKER.split(piece)  # text, unit, number, text, unit, number, text...
        if len(parts) == 1 and self.unit is None:
            return {}, piece
        numbers = [int(number) for number in parts[2::3]]
        texts = parts[3::3]
        first = numbers[0] if numbers else None
        before = [n for n in self.seen if first is None or n < first]
        pages = [before[-1]] if before and parts[0].strip() else []
        pages += [number for number, text in zip(numbers, texts, strict=True) if text.strip()]
        if numbers:
            self.unit = parts[1]
            self.seen = sorted(set(self.seen) | set(numbers))
        clean = re.sub(r"\n{3,}", "\n\n", PAGE_MARKER.sub("", piece)).strip()
        if not pages or self.unit is None:
            return {}, clean
        located = {self.unit: min(pages)}
        if max(pages) > min(pages):
            located[f"{self.unit}_end"] = max(pages)
        return located, clean


def chunk_prose(
    text: str,
    *,
    source_type: SourceType,
    title: str,
    context: str | None = None,
    max_tokens: int,
    overlap: int,
    meta: dict[str, Any] | None = None,
) -> list[ChunkDraft]:
    """Split prose on structure first (headings, tables, paragraphs, sentences), then on tokens. Chunks
    of a converted PDF or presentation say which page or slide they come from (`page`, `page_end`)."""
    if not text.strip():
        return []
    lang = detect_language(text)
    drafts: list[ChunkDraft] = []
    pages = _Pages()
    for path, body in _markdown_sections(text):
        if not body.strip():
            continue
        header = _header(context, title, path or None, max_tokens=max_tokens)
        for piece in _split_body(body, _body_budget(max_tokens, header), overlap):
            located, piece_text = pages.locate(piece)
            if not piece_text:
                continue
            drafts.append(
                ChunkDraft(
                    source_type=source_type,
                    chunk_index=len(drafts),
                    content=f"{header}\n{piece_text}",
                    meta={**(meta or {}), "title": title, "section": path or None, **located},
                    lang=lang,
                )
            )
    return drafts


def warm_up() -> None:
    """Load the tokenizer and import LlamaIndex's parsers now (about 2 s), not inside the first job."""
    chunk_prose("# A\n\nB.", source_type=SourceType.DOCUMENT, title="", max_tokens=64, overlap=8)


def _segment_lines(segment: dict[str, Any], budget: int) -> list[str]:
    """`[mm:ss] Speaker: text`; a segment longer than `budget` tokens becomes several lines, each with
    the segment's stamp and speaker, so that none of its words are dropped."""
    speaker = segment.get("speaker")
    text = str(segment.get("text") or "").strip()
    stamp = format_timestamp(float(segment.get("start") or 0))
    prefix = f"[{stamp}] {speaker}: " if speaker else f"[{stamp}] "
    if count_tokens(prefix + text) <= budget:
        return [prefix + text]
    return [prefix + piece for piece in _split_text(text, _body_budget(budget, prefix), 0)]


@dataclass(frozen=True)
class _Line:
    segment_id: int
    segment: dict[str, Any]
    text: str
    tokens: int


def _lines_tokens(lines: Sequence[_Line]) -> int:
    return sum(line.tokens + 1 for line in lines)


def chunk_transcript(
    segments: Sequence[dict[str, Any]],
    *,
    meeting_id: str,
    meeting_title: str,
    max_tokens: int,
    overlap_segments: int = 1,
    meta: dict[str, Any] | None = None,
) -> list[ChunkDraft]:
    """Group consecutive segments up to `max_tokens`; each chunk keeps start, end, speakers and segment ids,
    and each of its segments' own start, end and speaker (`segments`, in the order of its lines), so that
    an answer can cite the very segment it quotes.

    The last `overlap_segments` segments of a chunk open the next one, so an answer spanning a boundary
    is still found whole (unless they would leave no room for anything new). A single segment longer
    than the budget is cut into several chunks."""
    header = _header(index_text("index.label.transcript"), meeting_title, max_tokens=max_tokens)
    budget = _body_budget(max_tokens, header)
    lines = [
        _Line(index, segment, text, count_tokens(text))
        for index, segment in enumerate(segments)
        if str(segment.get("text") or "").strip()
        for text in _segment_lines(segment, budget)
    ]
    lang = detect_language(" ".join(str(segment.get("text") or "") for segment in segments))
    drafts: list[ChunkDraft] = []
    start = 0
    while start < len(lines):
        end = start + 1
        while end < len(lines) and _lines_tokens(lines[start : end + 1]) <= budget:
            end += 1
        window = lines[start:end]
        first, last = window[0].segment, window[-1].segment
        drafts.append(
            ChunkDraft(
                source_type=SourceType.TRANSCRIPT,
                chunk_index=len(drafts),
                content=header + "\n" + "\n".join(line.text for line in window),
                meta={
                    **(meta or {}),
                    "meeting_id": meeting_id,
                    "title": meeting_title,
                    "start": float(first.get("start") or 0),
                    "end": float(last.get("end") or last.get("start") or 0),
                    "speakers": sorted(
                        {str(line.segment["speaker"]) for line in window if line.segment.get("speaker")}
                    ),
                    "segment_ids": sorted({line.segment_id for line in window}),
                    "segments": _segment_refs(window),
                },
                lang=lang,
            )
        )
        if end >= len(lines):
            break
        overlap_start = max(end - overlap_segments, start + 1)
        fits_more = _lines_tokens(lines[overlap_start : end + 1]) <= budget
        start = overlap_start if fits_more else end
    return drafts


def _segment_refs(window: Sequence[_Line]) -> list[dict[str, Any]]:
    """One entry per segment of the window, in order (a long segment's several lines count once)."""
    refs: list[dict[str, Any]] = []
    for line in window:
        if refs and refs[-1]["id"] == line.segment_id:
            continue
        segment = line.segment
        start = float(segment.get("start") or 0)
        refs.append(
            {
                "id": line.segment_id,
                "start": start,
                "end": float(segment.get("end") or start),
                "speaker": str(segment["speaker"]) if segment.get("speaker") else None,
            }
        )
    return refs


def chunk_items(
    items: Iterable[str | dict[str, Any]],
    *,
    source_type: SourceType,
    label: str,
    meeting_id: str,
    meeting_title: str,
    max_tokens: int,
    meta: dict[str, Any] | None = None,
) -> list[ChunkDraft]:
    """One self-contained chunk per item (key point, commitment, decision...), with its meeting in the header.
    An item too long for one chunk (rare) is split rather than cut short."""
    header = _header(label, meeting_title, max_tokens=max_tokens)
    budget = _body_budget(max_tokens, header)
    drafts: list[ChunkDraft] = []
    for item in items:
        item_meta: dict[str, Any] = {}
        if isinstance(item, dict):
            text = _describe_item(item)
            item_meta = {key: item[key] for key in ITEM_FIELDS if key in item}
        else:
            text = str(item)
        for piece in _split_text(text, budget, 0) if text.strip() else []:
            drafts.append(
                ChunkDraft(
                    source_type=source_type,
                    chunk_index=len(drafts),
                    content=f"{header}\n{piece}",
                    meta={**(meta or {}), **item_meta, "meeting_id": meeting_id, "title": meeting_title},
                )
            )
    return drafts


ITEM_FIELDS = ("segment_ids", "start", "end", "owner", "due", "status")
# How a ledger status reads inside indexed text.
STATUS_WORDS = {status.value: enum_word(status, INDEX_LANGUAGE) for status in CommitmentStatus}


def _describe_item(item: dict[str, Any]) -> str:
    """`Owner: task (fecha: 27 de noviembre de 2026; estado: cumplido, «evidence»)`: one sentence, so an
    answer that quotes it quotes all of it."""
    text = str(item.get("text") or item.get("task") or "")
    owner, due, status = item.get("owner"), item.get("due"), item.get("status")
    if owner:
        text = f"{owner}: {text}"
    details = [index_text("index.item_due", date=_readable_date(due))] if due else []
    if status in STATUS_WORDS:
        evidence = f", «{item['evidence']}»" if item.get("evidence") else ""
        details.append(index_text("index.item_status", status=STATUS_WORDS[status]) + evidence)
    return f"{text} ({'; '.join(details)})" if details else text


def _readable_date(value: Any) -> str:
    if isinstance(value, date):
        return spanish_date(value)
    try:
        return spanish_date(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def chunk_chat_turn(
    question: str, answer: str, *, max_tokens: int, overlap: int, meta: dict[str, Any] | None = None
) -> list[ChunkDraft]:
    """A finished chat turn as question+answer pairs (a long answer is split, each part keeping the
    question, cut to a quarter of the budget)."""
    if not answer.strip():
        return []
    header = _header("Chat", max_tokens=max_tokens)
    question_line = "P: " + truncate_tokens(question.strip(), max_tokens // 4)
    budget = _body_budget(max_tokens, header, question_line, "R:")
    return [
        ChunkDraft(
            source_type=SourceType.CHAT,
            chunk_index=index,
            content=f"{header}\n{question_line}\nR: {piece}",
            meta=dict(meta or {}),
        )
        for index, piece in enumerate(_split_text(answer, budget, overlap))
    ]

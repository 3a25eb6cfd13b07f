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
from functools import lru_cache
from typing import Any

from core.models import SourceType
from core.tokens import count_tokens, encoding, truncate_tokens

_WORD = re.compile(r"[a-záéíóúüñ]+")
SPANISH_HINTS = frozenset(
    "el la los las de del que y en un una por con para es se no al lo como más pero sus le ya o este sí "
    "porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos durante "
    "todos uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos yo otro otras "
    "otra él tanto esa estos mucho quienes nada muchos cual poco ella estar estas algunas algo nosotros "
    "está son fue han ser hemos".split()
)
ENGLISH_HINTS = frozenset(
    "the of and to in is that it for was on are as with be at by this have from or had not but what "
    "all were we when your can said there use an each which she do how their if will up other about out "
    "many then them these so some her would make like him into time has look two more write go see no "
    "way could people my than first been call who its now find long down did get come made may part".split()
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


def _header(*parts: str | None) -> str:
    return "[" + " › ".join(part.strip() for part in parts if part and part.strip()) + "]"


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
    """(heading path, body) pairs; text without headings is one section with an empty path."""
    if not re.search(r"(?m)^#{1,6}\s", text):
        return [("", text)]
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser

    nodes = MarkdownNodeParser(include_metadata=True).get_nodes_from_documents([Document(text=text)])
    sections = []
    for node in nodes:
        parents = [part for part in str(node.metadata.get("header_path", "")).split("/") if part]
        body = node.get_content()
        first, _, rest = body.partition("\n")
        heading = re.match(r"#{1,6}\s+(.*)", first)
        if heading:
            parents.append(heading.group(1).strip())
            body = rest
        sections.append((" › ".join(parents), body))
    return sections


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
    """Split prose on structure first (headings, paragraphs, sentences), then on tokens."""
    if not text.strip():
        return []
    lang = detect_language(text)
    drafts: list[ChunkDraft] = []
    for path, body in _markdown_sections(text):
        if not body.strip():
            continue
        header = _header(context, title, path or None)
        budget = max(max_tokens - count_tokens(header) - 1, 32)
        splitter = _sentence_splitter(budget, min(overlap, budget // 2))
        for piece in splitter.split_text(body):
            if piece.strip():
                drafts.append(
                    ChunkDraft(
                        source_type=source_type,
                        chunk_index=len(drafts),
                        content=f"{header}\n{piece.strip()}",
                        meta={**(meta or {}), "title": title, "section": path or None},
                        lang=lang,
                    )
                )
    return drafts


def format_timestamp(seconds: float) -> str:
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _segment_line(segment: dict[str, Any]) -> str:
    speaker = segment.get("speaker")
    text = str(segment.get("text", "")).strip()
    stamp = format_timestamp(float(segment.get("start", 0)))
    return f"[{stamp}] {speaker}: {text}" if speaker else f"[{stamp}] {text}"


def chunk_transcript(
    segments: Sequence[dict[str, Any]],
    *,
    meeting_id: str,
    meeting_title: str,
    max_tokens: int,
    overlap_segments: int = 1,
    meta: dict[str, Any] | None = None,
) -> list[ChunkDraft]:
    """Group consecutive segments up to `max_tokens`; each chunk keeps start, end, speakers and segment ids.

    The last `overlap_segments` segments of a chunk open the next one, so an answer spanning a boundary
    is still found whole. A single segment longer than the budget is cut on tokens."""
    header = _header("Transcripción", meeting_title)
    budget = max(max_tokens - count_tokens(header) - 1, 32)
    lines: list[tuple[int, dict[str, Any], str, int]] = []
    for index, segment in enumerate(segments):
        if not str(segment.get("text", "")).strip():
            continue
        line = _segment_line(segment)
        tokens = count_tokens(line)
        if tokens > budget:
            line = truncate_tokens(line, budget)
            tokens = budget
        lines.append((index, segment, line, tokens))

    lang = detect_language(" ".join(str(segment.get("text", "")) for segment in segments))
    drafts: list[ChunkDraft] = []
    start = 0
    while start < len(lines):
        end, used = start, 0
        while end < len(lines) and (used + lines[end][3] <= budget or end == start):
            used += lines[end][3] + 1
            end += 1
        window = lines[start:end]
        speakers = sorted({str(seg.get("speaker")) for _, seg, _, _ in window if seg.get("speaker")})
        drafts.append(
            ChunkDraft(
                source_type=SourceType.TRANSCRIPT,
                chunk_index=len(drafts),
                content=header + "\n" + "\n".join(line for _, _, line, _ in window),
                meta={
                    **(meta or {}),
                    "meeting_id": meeting_id,
                    "title": meeting_title,
                    "start": float(window[0][1].get("start", 0)),
                    "end": float(window[-1][1].get("end", window[-1][1].get("start", 0))),
                    "speakers": speakers,
                    "segment_ids": [index for index, _, _, _ in window],
                },
                lang=lang,
            )
        )
        if end >= len(lines):
            break
        start = max(end - overlap_segments, start + 1)
    return drafts


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
    """One self-contained chunk per item (key point, commitment, decision...), with its meeting in the header."""
    header = _header(label, meeting_title)
    drafts: list[ChunkDraft] = []
    for item in items:
        item_meta: dict[str, Any] = {}
        if isinstance(item, dict):
            text = _describe_item(item)
            item_meta = {key: item[key] for key in ("segment_ids", "start", "end", "owner", "due") if key in item}
        else:
            text = str(item)
        if not text.strip():
            continue
        content = truncate_tokens(f"{header}\n{text.strip()}", max_tokens)
        drafts.append(
            ChunkDraft(
                source_type=source_type,
                chunk_index=len(drafts),
                content=content,
                meta={**(meta or {}), **item_meta, "meeting_id": meeting_id, "title": meeting_title},
            )
        )
    return drafts


def _describe_item(item: dict[str, Any]) -> str:
    text = str(item.get("text") or item.get("task") or "")
    owner, due = item.get("owner"), item.get("due")
    if owner:
        text = f"{owner}: {text}"
    if due:
        text = f"{text} (fecha: {due})"
    return text


def chunk_chat_turn(
    question: str, answer: str, *, max_tokens: int, overlap: int, meta: dict[str, Any] | None = None
) -> list[ChunkDraft]:
    """A finished chat turn as question+answer pairs (a long answer is split, each part keeping the question)."""
    if not answer.strip():
        return []
    header = _header("Chat")
    question_line = "P: " + truncate_tokens(question.strip(), max_tokens // 4)
    budget = max(max_tokens - count_tokens(header) - count_tokens(question_line) - 2, 32)
    splitter = _sentence_splitter(budget, min(overlap, budget // 2))
    return [
        ChunkDraft(
            source_type=SourceType.CHAT,
            chunk_index=index,
            content=f"{header}\n{question_line}\nR: {piece.strip()}",
            meta=dict(meta or {}),
        )
        for index, piece in enumerate(part for part in splitter.split_text(answer) if part.strip())
    ]

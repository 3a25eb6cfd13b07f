"""Transcripts are ranked in small units (a few segments) and answered from a window around them (the
sentence-window pattern of LlamaIndex): `TranscriptWindow` is a node postprocessor that gives each
transcript hit its neighbouring units as context. Citations then narrow to the segment that holds the
sentence an answer quotes (`narrow_to_segments`): its own start, end and speaker."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from pydantic import PrivateAttr
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Chunk, SourceType
from core.text import CHUNK_HEADER, content_terms, format_timestamp

# `[mm:ss] Speaker: text` or `[h:mm:ss] text`: one line of a transcript unit (chunkers.chunk_transcript).
_LINE = re.compile(r"^\[(?P<stamp>\d+(?::\d\d){1,2})\]\s(?P<body>.*)$")
WINDOW_SEGMENTS = "window_segments"  # node metadata: the window's segments, with their text
# Share of a quoted sentence's content words a segment must hold to be cited.
MIN_SEGMENT_OVERLAP = 0.3
Unit = tuple[str, int]  # (transcription id, chunk index)


def unit_segments(content: str, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The segments of one transcript unit with their text: its lines matched, in order, to the
    segment references the chunker stored (a segment split over several lines gets all of them)."""
    refs: list[dict[str, Any]] = list(meta.get("segments") or [])
    lines = [line for line in content.splitlines()[1:] if line.strip()]
    texts: list[list[str]] = [[] for _ in refs]
    index = 0
    for line in lines:
        # A line of the next segment starts a new entry; a continuation stays with the current one.
        while index + 1 < len(refs) and texts[index] and _starts(line, refs[index + 1]):
            index += 1
        if index >= len(refs):
            break
        match = _LINE.match(line)
        body = match.group("body") if match else line
        speaker = refs[index]["speaker"]
        if speaker and body.startswith(f"{speaker}: "):
            body = body[len(speaker) + 2 :]
        texts[index].append(body)
    return [{**ref, "text": " ".join(parts)} for ref, parts in zip(refs, texts, strict=True) if parts]


def _starts(line: str, ref: dict[str, Any]) -> bool:
    return line.startswith(f"[{format_timestamp(float(ref.get('start') or 0))}]")


class TranscriptWindow(BaseNodePostprocessor):
    """Give every transcript node the `window` units on each side of it (same meeting, same embedding
    model) as its text; its own segments stay in its metadata for the citation."""

    window: int = 1
    _session: AsyncSession = PrivateAttr()
    _model: str = PrivateAttr()

    def __init__(self, *, session: AsyncSession, model: str, window: int = 1) -> None:
        super().__init__(window=window)
        self._session = session
        self._model = model

    @classmethod
    def class_name(cls) -> str:
        return "TranscriptWindow"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        raise NotImplementedError("TranscriptWindow reads the database: use apostprocess_nodes")

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        wanted = [
            (node.node.metadata["source_id"], int(node.node.metadata["chunk_index"]))
            for node in nodes
            if node.node.metadata.get("source_type") == SourceType.TRANSCRIPT.value
        ]
        if not wanted or self.window <= 0:
            return nodes
        neighbours = await self._units(wanted)
        for node in nodes:
            meta = node.node.metadata
            if meta.get("source_type") != SourceType.TRANSCRIPT.value:
                continue
            source, index = meta["source_id"], int(meta["chunk_index"])
            units = [
                neighbours[(source, i)]
                for i in range(index - self.window, index + self.window + 1)
                if (source, i) in neighbours
            ]
            if not units:
                continue
            header = node.node.get_content().splitlines()[0]
            segments = [
                segment for content, unit_meta in units for segment in unit_segments(content, unit_meta)
            ]
            lines = [line for content, _ in units for line in content.splitlines()[1:] if line.strip()]
            node.node.set_content("\n".join([header, *lines]))
            meta[WINDOW_SEGMENTS] = segments
        return nodes

    async def _units(
        self, wanted: list[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[str, dict[str, Any]]]:
        sources = sorted({source for source, _ in wanted})
        indexes = sorted(
            {i for _, index in wanted for i in range(index - self.window, index + self.window + 1)}
        )
        rows = await self._session.execute(
            sa.select(Chunk.source_id, Chunk.chunk_index, Chunk.content, Chunk.meta).where(
                Chunk.embedding_model == self._model,
                Chunk.source_type == SourceType.TRANSCRIPT,
                Chunk.source_id.in_(sources),
                Chunk.chunk_index.in_(indexes),
            )
        )
        return {(str(source), index): (content, meta or {}) for source, index, content, meta in rows}


def narrow_to_segments(sentence: str, segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The segments a quoted sentence comes from: those holding most of its content words (the best one,
    plus any other nearly as good, e.g. a sentence split over two turns). Empty when none holds enough."""
    wanted = set(content_terms(CHUNK_HEADER.sub("", sentence)))
    if not wanted:
        return []
    scored = [(len(wanted & set(content_terms(str(s.get("text", ""))))) / len(wanted), s) for s in segments]
    best = max((score for score, _ in scored), default=0.0)
    if best < MIN_SEGMENT_OVERLAP:
        return []
    return [segment for score, segment in scored if score >= best * 0.8]

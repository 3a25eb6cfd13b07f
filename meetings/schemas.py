"""What the meeting tasks read and write: a transcript's segments, and the validated summary and
commitments (the JSON shape an LLM must produce, and the offline implementations produce too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from core.text import format_timestamp, spoken_sentences

Segment = dict[str, Any]


class Item(BaseModel):
    text: str = Field(min_length=1)
    segment_ids: list[int] = Field(default_factory=list)


class CommitmentItem(BaseModel):
    owner: str | None = None
    task: str = Field(min_length=1)
    due: date | None = None
    segment_ids: list[int] = Field(default_factory=list)


class MeetingSummary(BaseModel):
    summary: str
    key_points: list[Item] = Field(default_factory=list)
    decisions: list[Item] = Field(default_factory=list)
    commitments: list[CommitmentItem] = Field(default_factory=list)
    next_steps: list[Item] = Field(default_factory=list)
    # What went wrong on the way, though a summary came out (the model's commitments failed and the
    # patterns answered): stored with the transcription, never part of the model's JSON.
    _problems: list[str] = PrivateAttr(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return self._problems


class MeetingNotes(BaseModel):
    """The summary without its commitments, when a dedicated prompt extracts those."""

    summary: str
    key_points: list[Item] = Field(default_factory=list)
    decisions: list[Item] = Field(default_factory=list)
    next_steps: list[Item] = Field(default_factory=list)


class CommitmentList(BaseModel):
    commitments: list[CommitmentItem] = Field(default_factory=list)


class SummaryFailed(Exception):
    pass


@dataclass(frozen=True)
class MeetingTranscript:
    """A meeting's transcript as the tasks see it: numbered segments, its title and its date (the
    reference for relative due dates such as "el viernes")."""

    segments: list[Segment]
    title: str
    date: date

    def numbered(self, *, limit_chars: int = 60_000) -> str:
        """`[i] (mm:ss) Speaker: text` per segment: what a model reads and cites by segment id."""
        return format_transcript(self.segments, limit_chars=limit_chars)

    def prompt_values(self) -> dict[str, str]:
        """The variables of the meeting prompts (summarize_meeting, extract_commitments)."""
        return {
            "meeting_title": self.title,
            "meeting_date": self.date.isoformat(),
            "transcript": self.numbered(),
        }

    def keep_known_segments(self, items: list[Item] | list[CommitmentItem]) -> None:
        """Drop segment ids a model made up."""
        valid = range(len(self.segments))
        for item in items:
            item.segment_ids = [i for i in item.segment_ids if i in valid]


def sentences_of(segments: list[Segment]) -> list[tuple[int, str | None, str]]:
    """(segment id, speaker, sentence) for every sentence of the transcript."""
    return [
        (index, segment.get("speaker"), sentence)
        for index, segment in enumerate(segments)
        for sentence in spoken_sentences(str(segment.get("text", "")))
    ]


def format_transcript(segments: list[Segment], *, limit_chars: int = 60_000) -> str:
    lines = []
    for index, segment in enumerate(segments):
        speaker = f" {segment['speaker']}:" if segment.get("speaker") else ""
        start = format_timestamp(float(segment.get("start", 0)))
        lines.append(f"[{index}] ({start}){speaker} {segment.get('text', '')}")
    return "\n".join(lines)[:limit_chars]

"""Meeting summaries: summary, key points, decisions, commitments and next steps, each linked to the
transcript segments that support it.

`Summarizer` is the task. `LLMSummarizer` asks a chat model for JSON validated against `MeetingSummary`
(one retry, then a visible failure), the commitments from their own prompt (falling back to the patterns,
recorded, when the model gives none). `ExtractiveSummarizer` is the offline implementation: summary and key
points by sentence centrality, decisions and next steps by Spanish/English patterns, and commitments from
a `CommitmentExtractor` (meetings/commitments.py)."""

from __future__ import annotations

import logging
import re
from typing import Protocol

from core.providers.llm import ChatModel, StructuredOutputFailed, complete_structured
from core.text import content_terms
from meetings.commitments import CommitmentExtractor, PatternCommitmentExtractor, commitment_in
from meetings.schemas import (
    CommitmentItem,
    Item,
    MeetingNotes,
    MeetingSummary,
    MeetingTranscript,
    sentences_of,
)
from prompts.loader import Prompt

log = logging.getLogger("v1tr0.summaries")


class Summarizer(Protocol):
    provider: str
    model: str

    async def summarize(self, transcript: MeetingTranscript) -> MeetingSummary:
        """The validated summary; raises SummaryFailed when no valid one can be produced."""
        ...


DECISION = re.compile(
    r"\b(?:decidimos|acordamos|hemos decidido|queda decidido|se decide|se aprueba|aprobamos|vamos con|"
    r"we decided|we agreed|agreed to|let's go with|the decision is)\b",
    re.IGNORECASE,
)
NEXT_STEP = re.compile(
    r"\b(?:siguiente paso|próximo paso|próximos pasos|el paso siguiente|a continuación|next steps?|"
    r"going forward|vamos a|we will|we'll)\b",
    re.IGNORECASE,
)


def rank_by_centrality(sentences: list[tuple[int, str | None, str]]) -> list[int]:
    """Indexes of sentences, most central first (sum of term overlap with every other sentence)."""
    terms = [set(content_terms(text)) for _, _, text in sentences]
    scores = []
    for i, mine in enumerate(terms):
        if len(mine) < 3:
            scores.append(0.0)
            continue
        total = sum(len(mine & other) / (len(mine | other) or 1) for j, other in enumerate(terms) if j != i)
        scores.append(total)
    return sorted(range(len(sentences)), key=lambda i: scores[i], reverse=True)


class ExtractiveSummarizer:
    """Offline: the transcript's most central sentences, and what the patterns find."""

    provider = "extractive"
    model = "extractive-v1"

    def __init__(self, commitments: PatternCommitmentExtractor | None = None) -> None:
        self.commitments = commitments or PatternCommitmentExtractor()

    async def summarize(self, transcript: MeetingTranscript) -> MeetingSummary:
        sentences = sentences_of(transcript.segments)
        if not sentences:
            return MeetingSummary(summary="")
        # Greetings and one-word replies are never summary material.
        ranked = [i for i in rank_by_centrality(sentences) if len(sentences[i][2].split()) >= 4] or [0]
        summary_size = max(1, min(4, len(sentences) // 8 + 1))
        summary_ids = sorted(ranked[:summary_size])
        summary = " ".join(sentences[i][2] for i in summary_ids)
        key_ids = sorted(ranked[summary_size : summary_size + 5])
        key_points = [Item(text=sentences[i][2], segment_ids=[sentences[i][0]]) for i in key_ids]
        decisions, next_steps = [], []
        for segment_id, speaker, sentence in sentences:
            if DECISION.search(sentence):
                decisions.append(Item(text=sentence, segment_ids=[segment_id]))
            elif NEXT_STEP.search(sentence) and not commitment_in(
                segment_id, speaker, sentence, transcript.date
            ):
                next_steps.append(Item(text=sentence, segment_ids=[segment_id]))
        return MeetingSummary(
            summary=summary,
            key_points=key_points,
            decisions=decisions,
            commitments=await self.commitments.extract(transcript),
            next_steps=next_steps,
        )


class LLMSummarizer:
    """A `summarize_meeting` call; with a `commitments` extractor (a dedicated prompt suits small models
    better), the summary call leaves the commitments out and the extractor provides them. When that
    extractor fails, the offline patterns provide them and the summary records why."""

    def __init__(
        self,
        model: ChatModel,
        prompt: Prompt,
        *,
        commitments: CommitmentExtractor | None = None,
        fallback: CommitmentExtractor | None = None,
    ) -> None:
        self.chat = model
        self.prompt = prompt
        self.commitments = commitments
        self.fallback = fallback or PatternCommitmentExtractor()
        self.provider = model.provider
        self.model = model.model

    async def summarize(self, transcript: MeetingTranscript) -> MeetingSummary:
        rendered = self.prompt.render(**transcript.prompt_values())
        if self.commitments is None:
            result = await complete_structured(
                self.chat, rendered, MeetingSummary, question=transcript.title, max_tokens=1500
            )
        else:
            notes = await complete_structured(
                self.chat, rendered, MeetingNotes, question=transcript.title, max_tokens=1200
            )
            result = MeetingSummary(**notes.model_dump())
            result.commitments = await self._commitments(transcript, self.commitments, result)
        for group in (result.key_points, result.decisions, result.next_steps, result.commitments):
            transcript.keep_known_segments(group)
        return result

    async def _commitments(
        self, transcript: MeetingTranscript, extractor: CommitmentExtractor, result: MeetingSummary
    ) -> list[CommitmentItem]:
        try:
            return await extractor.extract(transcript)
        except StructuredOutputFailed as exc:
            problem = f"commitments by {self.fallback.model}: the model gave none ({exc.args[0]})"
            log.warning("%s", problem)
            result.problems.append(problem)
            return await self.fallback.extract(transcript)

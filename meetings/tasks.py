"""The meeting side's model tasks, chosen once per worker (as the embedder is): with a chat model, the
LLM summariser and the commitments from their own prompt; without one, the extractive summariser with
the pattern commitment extractor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.providers.llm import LOCAL_PROVIDER, ChatModel
from core.settings import Settings
from meetings.commitments import LLMCommitmentExtractor, PatternCommitmentExtractor
from meetings.summaries import ExtractiveSummarizer, LLMSummarizer, Summarizer
from prompts.loader import Prompt, PromptLibrary


@dataclass(frozen=True)
class MeetingTasks:
    summarizer: Summarizer
    prompt: Prompt  # the summary prompt whose version is recorded with every summary


CommitmentSource = Literal["patterns", "model"]


def meeting_tasks(
    model: ChatModel | None, prompts: PromptLibrary, *, commitments: CommitmentSource = "model"
) -> MeetingTasks:
    prompt = prompts.get("summarize_meeting")
    if model is None:
        return MeetingTasks(ExtractiveSummarizer(PatternCommitmentExtractor()), prompt)
    extractor = (
        LLMCommitmentExtractor(model, prompts.get("extract_commitments"))
        if commitments == "model"
        else PatternCommitmentExtractor()
    )
    return MeetingTasks(LLMSummarizer(model, prompt, commitments=extractor), prompt)


def commitment_source(settings: Settings, model: ChatModel | None) -> CommitmentSource:
    """`V1TR0_TRANSCRIPTION__COMMITMENTS`; auto keeps the patterns beside the local model: on the meetings
    dev set they found 44 of 44 commitments (precision 0.98), the 1.5B model none of 4 on the one meeting it
    finished (docs/evals.md, "Commitments")."""
    setting = settings.transcription.commitments
    if setting != "auto":
        return setting
    return "patterns" if model is not None and model.provider == LOCAL_PROVIDER else "model"

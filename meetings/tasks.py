"""The meeting side's model tasks, chosen once per worker (as the embedder is): with a chat model, the
LLM summariser and the commitments from their own prompt; without one, the extractive summariser with
the pattern commitment extractor."""

from __future__ import annotations

from dataclasses import dataclass

from core.providers.llm import ChatModel
from meetings.commitments import LLMCommitmentExtractor, PatternCommitmentExtractor
from meetings.summaries import ExtractiveSummarizer, LLMSummarizer, Summarizer
from prompts.loader import Prompt, PromptLibrary


@dataclass(frozen=True)
class MeetingTasks:
    summarizer: Summarizer
    prompt: Prompt  # the summary prompt whose version is recorded with every summary


def meeting_tasks(model: ChatModel | None, prompts: PromptLibrary) -> MeetingTasks:
    prompt = prompts.get("summarize_meeting")
    if model is None:
        return MeetingTasks(ExtractiveSummarizer(PatternCommitmentExtractor()), prompt)
    commitments = LLMCommitmentExtractor(model, prompts.get("extract_commitments"))
    return MeetingTasks(LLMSummarizer(model, prompt, commitments=commitments), prompt)

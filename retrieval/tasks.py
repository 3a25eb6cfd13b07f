"""The retrieval side's model tasks, chosen once at start-up (as the embedder is): with a chat model,
the LLM implementations; without one, the offline ones. No caller asks which it got."""

from __future__ import annotations

from dataclasses import dataclass

from core.providers.llm import ChatModel
from prompts.loader import PromptLibrary
from retrieval.answerers import Answerer, ExtractiveAnswerer, LLMAnswerer
from retrieval.chat import FollowUpCondenser, LLMCondenser, QuestionCondenser
from retrieval.insights import ExtractiveInsightWriter, InsightWriter, LLMInsightWriter


@dataclass(frozen=True)
class AnswerTasks:
    answerer: Answerer
    condenser: QuestionCondenser
    insight_writer: InsightWriter


def answer_tasks(model: ChatModel | None, prompts: PromptLibrary) -> AnswerTasks:
    if model is None:
        return AnswerTasks(ExtractiveAnswerer(), FollowUpCondenser(), ExtractiveInsightWriter())
    return AnswerTasks(
        LLMAnswerer(model),
        LLMCondenser(model, prompts.get("condense_question")),
        LLMInsightWriter(model, prompts.get("insights")),
    )

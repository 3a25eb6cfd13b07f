"""The retrieval side's model tasks, chosen once at start-up (as the embedder is): with a chat model,
the LLM implementations; without one, the offline ones. No caller asks which it got."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from llama_index.core.postprocessor.types import BaseNodePostprocessor

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
    # A user's LlamaIndex node postprocessors (rerankers, filters), run on every answer's retrieval.
    postprocessors: tuple[BaseNodePostprocessor, ...] = ()


def answer_tasks(
    model: ChatModel | None, prompts: PromptLibrary, *, postprocessors: Sequence[str] = ()
) -> AnswerTasks:
    extra = tuple(load_postprocessor(path) for path in postprocessors)
    if model is None:
        return AnswerTasks(ExtractiveAnswerer(), FollowUpCondenser(), ExtractiveInsightWriter(), extra)
    return AnswerTasks(
        LLMAnswerer(model),
        LLMCondenser(model, prompts.get("condense_question")),
        LLMInsightWriter(model, prompts.get("insights")),
        extra,
    )


class PostprocessorError(ValueError):
    pass


def load_postprocessor(path: str) -> BaseNodePostprocessor:
    """`module:factory` -> the postprocessor the factory returns (a class is a factory too), e.g.
    `llama_index.core.postprocessor:LongContextReorder`. Checked at start-up: a typo stops it."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise PostprocessorError(f"{path!r}: expected 'module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise PostprocessorError(f"{path!r}: {exc}") from None
    try:
        made = factory()
    except TypeError as exc:  # a factory that needs arguments
        raise PostprocessorError(f"{path!r}: {exc}") from None
    if not isinstance(made, BaseNodePostprocessor):
        raise PostprocessorError(f"{path!r} made a {type(made).__name__}, not a node postprocessor")
    return made

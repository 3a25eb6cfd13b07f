"""Answer-quality scores with ragas.

Always (no LLM, no network): ragas' non-LLM context precision and recall against the reference contexts,
ragas' non-LLM string similarity to the reference answer, and semantic similarity (cosine of the local
embedder's vectors of answer and reference). With an LLM provider configured (settings.openai_configured):
also faithfulness, answer relevancy and LLM context precision, judged by that OpenAI-compatible endpoint
through ragas' instructor-based metrics.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from core.providers.embeddings import Embedder
from core.providers.openai_client import openai_client
from core.settings import Settings
from evals.metrics import cosine, key_term_recall
from retrieval.answer import CITATION

# ragas' evaluate() sends usage telemetry unless told not to; this must be set before ragas is imported.
os.environ["RAGAS_DO_NOT_TRACK"] = "true"

log = logging.getLogger("v1tr0.evals")

NON_LLM_METRICS = ("context_precision", "context_recall", "string_similarity", "semantic_similarity")
LLM_METRICS = ("faithfulness", "answer_relevancy", "llm_context_precision")


def plain_answer(answer: str) -> str:
    """The answer without its [n] citation markers (they are not words of the answer)."""
    return " ".join(CITATION.sub("", answer).split())


def _value(result: Any) -> float | None:
    value = getattr(result, "value", result)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


_HEADER = re.compile(r"^\[[^\]\n]*\]\n")
_STAMP = re.compile(r"\[\d{1,2}:\d{2}(?::\d{2})?\] ")
# A retrieved chunk "holds" a reference context when their best partial alignment is this close.
PASSAGE_MATCH_THRESHOLD = 0.8


def passage_text(text: str) -> str:
    """A chunk or reference passage as plain words: no chunk header, no timestamps, one line."""
    return " ".join(_STAMP.sub("", _HEADER.sub("", text, count=1)).lower().split())


def passage_match(reference: str, response: str) -> float:
    """Similarity of the shorter passage to its best-matching stretch of the longer one (0..1).

    ragas' default (Levenshtein over whole strings) scores a one-sentence reference context against a
    400-token chunk that contains it near zero; an alignment of the shorter inside the longer does not."""
    from rapidfuzz import fuzz

    left, right = passage_text(reference), passage_text(response)
    if not left or not right:
        return 0.0
    return float(fuzz.partial_ratio(left, right)) / 100


def _passage_similarity() -> Any:
    from ragas.metrics._string import NonLLMStringSimilarity

    class PassageSimilarity(NonLLMStringSimilarity):
        name: str = "passage_match"

        async def _single_turn_ascore(self, sample: Any, callbacks: Any) -> float:
            return passage_match(str(sample.reference), str(sample.response))

    return PassageSimilarity()


class LocalRagasEmbeddings:
    """The product's embedder behind ragas' embedding interface (built lazily: ragas imports slowly)."""

    @staticmethod
    def create(embedder: Embedder) -> Any:
        from ragas.embeddings.base import BaseRagasEmbedding

        class _Embeddings(BaseRagasEmbedding):
            def embed_text(self, text: str, **kwargs: Any) -> list[float]:
                raise NotImplementedError("ragas' metrics here embed asynchronously (aembed_text)")

            async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
                return (await embedder.embed_passages([text]))[0]

            async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
                return await embedder.embed_passages(list(texts))

        return _Embeddings()


@dataclass
class Judge:
    """ragas' LLM-judged metrics, wired to the configured OpenAI-compatible endpoint."""

    provider: str
    model: str
    faithfulness: Any
    answer_relevancy: Any
    context_precision_with_reference: Any
    context_utilization: Any
    errors: int = 0

    async def _run(self, name: str, metric: Any, **kwargs: Any) -> float | None:
        try:
            return _value(await metric.ascore(**kwargs))
        except Exception as exc:  # a judge that fails on one item must not end the run
            self.errors += 1
            log.warning("LLM-judged metric %s failed: %s", name, type(exc).__name__)
            return None

    async def score(
        self, *, question: str, answer: str, contexts: Sequence[str], reference_answer: str | None
    ) -> dict[str, float | None]:
        scores: dict[str, float | None] = {name: None for name in LLM_METRICS}
        if not answer:
            return scores
        scores["answer_relevancy"] = await self._run(
            "answer_relevancy", self.answer_relevancy, user_input=question, response=answer
        )
        if contexts:
            scores["faithfulness"] = await self._run(
                "faithfulness", self.faithfulness, user_input=question, response=answer,
                retrieved_contexts=list(contexts),
            )  # fmt: skip
            if reference_answer:
                scores["llm_context_precision"] = await self._run(
                    "llm_context_precision", self.context_precision_with_reference, user_input=question,
                    reference=reference_answer, retrieved_contexts=list(contexts),
                )  # fmt: skip
            else:
                scores["llm_context_precision"] = await self._run(
                    "llm_context_precision", self.context_utilization, user_input=question, response=answer,
                    retrieved_contexts=list(contexts),
                )  # fmt: skip
        return scores


def create_judge(
    settings: Settings, embedder: Embedder, *, http: httpx.AsyncClient | None = None
) -> Judge | None:
    """The LLM judge, when an LLM provider is configured; None otherwise."""
    if not settings.openai_configured:
        return None
    from ragas.llms import llm_factory
    from ragas.metrics.collections import (
        AnswerRelevancy,
        ContextPrecisionWithReference,
        ContextUtilization,
        Faithfulness,
    )

    llm = llm_factory(settings.openai.chat_model, client=openai_client(settings, http=http))
    return Judge(
        provider="openai-compatible",
        model=settings.openai.chat_model,
        faithfulness=Faithfulness(llm=llm),
        answer_relevancy=AnswerRelevancy(llm=llm, embeddings=LocalRagasEmbeddings.create(embedder)),
        context_precision_with_reference=ContextPrecisionWithReference(llm=llm),
        context_utilization=ContextUtilization(llm=llm),
    )


class AnswerScorer:
    def __init__(self, embedder: Embedder, judge: Judge | None = None) -> None:
        from ragas.metrics._context_precision import NonLLMContextPrecisionWithReference
        from ragas.metrics._context_recall import NonLLMContextRecall
        from ragas.metrics.collections import NonLLMStringSimilarity

        self.embedder = embedder
        self.judge = judge
        match = _passage_similarity()
        self._precision = NonLLMContextPrecisionWithReference(
            distance_measure=match, threshold=PASSAGE_MATCH_THRESHOLD
        )
        self._recall = NonLLMContextRecall(threshold=PASSAGE_MATCH_THRESHOLD)
        self._recall._distance_measure = match
        self._similarity = NonLLMStringSimilarity()

    async def context_scores(
        self, contexts: Sequence[str], reference_contexts: Sequence[str]
    ) -> dict[str, float | None]:
        if not reference_contexts:
            return {"context_precision": None, "context_recall": None}
        if not contexts:
            return {"context_precision": 0.0, "context_recall": 0.0}
        from ragas.dataset_schema import SingleTurnSample

        sample = SingleTurnSample(
            retrieved_contexts=list(contexts), reference_contexts=list(reference_contexts)
        )
        return {
            "context_precision": _value(await self._precision.single_turn_ascore(sample)),
            "context_recall": _value(await self._recall.single_turn_ascore(sample)),
        }

    async def answer_scores(self, answer: str, reference_answer: str | None) -> dict[str, float | None]:
        if not reference_answer:
            return {"string_similarity": None, "semantic_similarity": None, "answer_term_recall": None}
        text = plain_answer(answer)
        similarity = _value(await self._similarity.ascore(reference=reference_answer, response=text))
        answer_vector, reference_vector = await self.embedder.embed_passages([text or " ", reference_answer])
        return {
            "string_similarity": similarity,
            "semantic_similarity": cosine(answer_vector, reference_vector),
            "answer_term_recall": key_term_recall(reference_answer, [text]),
        }

    async def score(
        self,
        *,
        question: str,
        answer: str,
        contexts: Sequence[str],
        reference_answer: str | None,
        reference_contexts: Sequence[str],
    ) -> dict[str, float | None]:
        scores = {
            **await self.context_scores(contexts, reference_contexts),
            **await self.answer_scores(answer, reference_answer),
        }
        if self.judge is not None:
            scores.update(
                await self.judge.score(
                    question=question,
                    answer=plain_answer(answer),
                    contexts=contexts,
                    reference_answer=reference_answer,
                )
            )
        return scores

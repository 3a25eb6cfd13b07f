"""The answering task: numbered sources in, an answer that cites them as [n] out, streamed.

`LLMAnswerer` streams a chat model's answer to the rendered prompt. `ExtractiveAnswerer` is the offline
implementation, not a language model: it quotes the retrieved sentences that best match the question,
each with its citation."""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from core.providers.llm import ChatModel, ContextPassage, Generation, Usage
from core.text import content_terms, split_sentences


class Answerer(Protocol):
    provider: str
    model: str

    def answer(self, generation: Generation, usage: Usage) -> AsyncIterator[str]:
        """The answer's text as it is produced; counts tokens into `usage`."""
        ...


class LLMAnswerer:
    def __init__(self, model: ChatModel) -> None:
        self.chat = model
        self.provider = model.provider
        self.model = model.model

    def answer(self, generation: Generation, usage: Usage) -> AsyncIterator[str]:
        return self.chat.stream(generation, usage)


@dataclass(frozen=True)
class Extract:
    n: int
    sentence: str
    score: float


def rank_sentences(question: str, passages: list[ContextPassage]) -> list[Extract]:
    """Score every sentence of the passages by overlap with the question (IDF-weighted over the passages),
    with a prior for passages retrieval ranked higher."""
    query = set(content_terms(question))
    sentences = [(p.n, rank, s) for rank, p in enumerate(passages) for s in split_sentences(p.text)]
    if not query or not sentences:
        return []
    document_frequency = Counter(term for _, _, s in sentences for term in set(content_terms(s)))
    total = len(sentences)
    extracts = []
    for n, rank, sentence in sentences:
        terms = set(content_terms(sentence))
        overlap = query & terms
        if not overlap:
            continue
        weight = sum(math.log(1 + total / document_frequency[t]) for t in overlap)
        norm = math.sqrt(len(terms) + 1)
        extracts.append(Extract(n, sentence, weight / norm + 0.3 / (1 + rank)))
    return sorted(extracts, key=lambda e: e.score, reverse=True)


def extractive_answer(question: str, passages: list[ContextPassage], *, max_sentences: int = 3) -> str:
    chosen: list[Extract] = []
    seen: set[str] = set()
    for extract in rank_sentences(question, passages):
        key = " ".join(content_terms(_SPEAKER.sub("", extract.sentence)))
        if key in seen:
            continue
        seen.add(key)
        chosen.append(extract)
        if len(chosen) == max_sentences:
            break
    if not chosen:
        return ""
    best = chosen[0].score
    chosen = [e for e in chosen if e.score >= best * 0.35]
    order = {p.n: i for i, p in enumerate(passages)}
    chosen.sort(key=lambda e: order[e.n])
    parts = []
    for extract in chosen:
        sentence = extract.sentence.rstrip()
        if sentence[-1:] not in ".!?…":
            sentence += "."
        parts.append(f"{sentence[:-1]} [{extract.n}]{sentence[-1]}")
    return " ".join(parts)


_SPEAKER = re.compile(r"^[^:\n]{1,40}:\s+")  # "Ana García: " before a quoted transcript line


class ExtractiveAnswerer:
    """The offline default. Not a language model: it quotes the best-matching retrieved sentences."""

    provider = "extractive"
    model = "extractive-v1"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay

    async def answer(self, generation: Generation, usage: Usage) -> AsyncIterator[str]:
        text = extractive_answer(generation.question, generation.passages)
        usage.prompt_tokens = sum(p.token_count for p in generation.passages)
        if not text:
            return
        pieces = re.findall(r"\S+\s*", text)
        usage.completion_tokens = len(pieces)
        for piece in pieces:
            if self.delay:
                await asyncio.sleep(self.delay)
            yield piece

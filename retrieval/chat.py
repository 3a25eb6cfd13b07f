"""One chat turn: condense the message with token-budgeted history into a standalone question, retrieve
for it, and build the generation from the chat prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.providers.llm import ChatModel, ExtractiveModel, Generation, complete
from core.tokens import count_tokens, truncate_tokens
from prompts.loader import PromptLibrary, fence_safe
from retrieval.answer import Source, build_generation

_CONTENT_WORD = re.compile(r"\w{3,}", re.UNICODE)
FOLLOW_UP_WORDS = 6


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


def budget_history(turns: list[Turn], *, token_budget: int) -> list[Turn]:
    """The most recent turns that fit the budget, oldest first."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        cost = count_tokens(turn.question) + count_tokens(turn.answer) + 8
        if used + cost > token_budget:
            break
        kept.append(turn)
        used += cost
    return list(reversed(kept))


def format_history(turns: list[Turn]) -> str:
    if not turns:
        return "(sin mensajes previos)"
    lines = []
    for turn in turns:
        lines.append(f"Usuario: {turn.question}")
        lines.append(f"Asistente: {truncate_tokens(turn.answer, 300)}")
    return fence_safe("\n".join(lines))


async def condense_question(
    model: ChatModel, prompts: PromptLibrary, *, message: str, history: list[Turn]
) -> str:
    """A question that stands on its own. With an LLM, the condense prompt; offline, a short follow-up
    ("¿y el plazo?") borrows the previous question's words."""
    if not history:
        return message
    if isinstance(model, ExtractiveModel):
        if len(_CONTENT_WORD.findall(message)) < FOLLOW_UP_WORDS:
            return f"{history[-1].question} {message}"
        return message
    prompt = prompts.get("condense_question")
    system, user = prompt.render(history=format_history(history), question=message)
    text, _ = await complete(
        model,
        Generation(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            question=message,
            max_tokens=120,
            temperature=0.0,
        ),
    )
    return text.strip() or message


def chat_generation(
    prompts: PromptLibrary,
    *,
    message: str,
    standalone: str,
    history: list[Turn],
    sources: list[Source],
    project_title: str,
    context_tokens: int,
) -> Generation:
    generation = build_generation(
        prompts.get("chat"),
        question=message,
        sources=sources,
        token_budget=context_tokens,
        extra={"project_title": project_title, "history": format_history(history)},
    )
    generation.question = standalone
    return generation

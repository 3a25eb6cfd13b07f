"""Chat turns: the token-budgeted history, and condensing a follow-up into a standalone question (the
`QuestionCondenser` task) before the answer pipeline retrieves for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from core.providers.llm import ChatModel, Generation, complete
from core.tokens import count_tokens, truncate_tokens
from prompts.loader import Prompt, fence_safe

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


class QuestionCondenser(Protocol):
    """Makes a chat message a question that stands on its own (for retrieval), given the history."""

    async def condense(self, message: str, history: list[Turn]) -> str: ...


class FollowUpCondenser:
    """Offline: a short follow-up ("¿y el plazo?") borrows the previous question's words."""

    async def condense(self, message: str, history: list[Turn]) -> str:
        if history and len(_CONTENT_WORD.findall(message)) < FOLLOW_UP_WORDS:
            return f"{history[-1].question} {message}"
        return message


class LLMCondenser:
    """The `condense_question` prompt."""

    def __init__(self, model: ChatModel, prompt: Prompt) -> None:
        self.chat = model
        self.prompt = prompt

    async def condense(self, message: str, history: list[Turn]) -> str:
        if not history:
            return message
        system, user = self.prompt.render(history=format_history(history), question=message)
        text, _ = await complete(
            self.chat,
            Generation(
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                question=message,
                max_tokens=120,
                temperature=0.0,
            ),
        )
        return text.strip() or message

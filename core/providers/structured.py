"""Structured output from any chat model: the answer is constrained to a JSON schema where the server can
(llama.cpp turns the schema into a grammar; OpenAI's strict mode), then parsed and validated here, and
asked again with the validation error when it does not fit."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ProviderUnavailable
from core.providers.llm import ChatModel, Generation, complete

T = TypeVar("T", bound=BaseModel)


def strict_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, with `additionalProperties: false` on every object: what OpenAI's strict
    mode requires, and it keeps a grammar-constrained model from inventing keys."""
    document = schema.model_json_schema()

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(document)
    return document


async def complete_json(
    model: ChatModel,
    messages: list[dict[str, str]],
    schema: type[T],
    *,
    attempts: int = 3,
    max_tokens: int = 1024,
) -> T:
    """The model's answer to `messages` as an instance of `schema` (a pydantic model). An answer that is
    not valid JSON for the schema is asked for again, with the error, up to `attempts` times in all;
    then ProviderUnavailable, so the caller can fall back to its offline path."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    conversation = list(messages)
    problem = "no attempt made"
    for _ in range(attempts):
        request = Generation(
            messages=conversation,
            question="",
            max_tokens=max_tokens,
            temperature=0.0,
            json_schema=strict_schema(schema),
            schema_name=schema.__name__,
        )
        text, _usage = await complete(model, request)
        try:
            return schema.model_validate_json(text)
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'answer'}: {error['msg']}"
                for error in exc.errors()[:5]
            )
        conversation = [
            *messages,
            {"role": "assistant", "content": text},
            {
                "role": "user",
                "content": f"That answer does not fit the schema ({problem}). "
                "Answer again with the JSON object only.",
            },
        ]
    raise ProviderUnavailable(f"the model gave no valid answer in {attempts} attempts ({problem})")

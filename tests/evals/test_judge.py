"""The LLM-judged metrics (faithfulness, answer relevancy, LLM context precision) wired to an
OpenAI-compatible endpoint, here an httpx.MockTransport: nothing leaves the process."""

from __future__ import annotations

import json
from typing import Any

import httpx

from core.providers.embeddings import StaticEmbedder
from core.settings import Settings
from evals.scoring import AnswerScorer, create_judge

# What the fake judge answers for each structured output ragas asks for (found by its JSON schema title).
ANSWERS: dict[str, dict[str, Any]] = {
    "StatementGeneratorOutput": {"statements": ["The price is 18,500 euros.", "The price includes VAT."]},
    "NLIStatementOutput": {
        "statements": [
            {"statement": "The price is 18,500 euros.", "reason": "stated", "verdict": 1},
            {"statement": "The price includes VAT.", "reason": "the context says plus VAT", "verdict": 0},
        ]
    },
    "AnswerRelevanceOutput": {"question": "What is the price?", "noncommittal": 0},
    "ContextPrecisionOutput": {"reason": "it states the price", "verdict": 1},
}


class FakeJudge:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = json.loads(request.content)
        prompt = " ".join(str(message["content"]) for message in body["messages"])
        title = next(name for name in ANSWERS if f'"title": "{name}"' in prompt or f'"{name}"' in prompt)
        content = json.dumps(ANSWERS[title])
        return httpx.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


def judge_settings(settings: Settings) -> Settings:
    openai = settings.openai.model_copy(
        update={"base_url": "http://judge.test/v1", "chat_model": "judge-model"}
    )
    return settings.model_copy(update={"openai": openai})


def test_no_llm_configured_means_no_judge(settings: Settings) -> None:
    assert not settings.openai_configured
    assert create_judge(settings, StaticEmbedder()) is None


async def test_llm_judged_metrics_go_through_the_configured_endpoint(settings: Settings) -> None:
    fake = FakeJudge()
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    embedder = StaticEmbedder()
    judge = create_judge(judge_settings(settings), embedder, http=http)
    assert judge is not None and judge.model == "judge-model"
    scorer = AnswerScorer(embedder, judge)

    scores = await scorer.score(
        question="What is the price?",
        answer="The price is 18,500 euros [1], VAT included [1].",
        contexts=["[Pricing]\nThe fixed price is 18,500 euros plus VAT."],
        reference_answer="18,500 euros plus VAT.",
        reference_contexts=["The fixed price is 18,500 euros plus VAT."],
    )

    assert scores["faithfulness"] == 0.5  # one of the two statements is supported
    assert scores["llm_context_precision"] is not None and scores["llm_context_precision"] > 0.99
    assert scores["answer_relevancy"] is not None and -1 <= scores["answer_relevancy"] <= 1
    assert scores["context_recall"] == 1.0  # the non-LLM scores are there too
    assert judge.errors == 0
    assert fake.requests and {r.url.host for r in fake.requests} == {"judge.test"}
    assert all(json.loads(r.content)["model"] == "judge-model" for r in fake.requests)
    await http.aclose()


async def test_a_failing_judge_leaves_the_metric_empty_and_counts_the_error(settings: Settings) -> None:
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(400, json={"error": "no"}))
    )
    judge = create_judge(judge_settings(settings).model_copy(update={}), StaticEmbedder(), http=http)
    assert judge is not None

    scores = await judge.score(question="Q?", answer="A.", contexts=["ctx"], reference_answer=None)

    assert scores == {"faithfulness": None, "answer_relevancy": None, "llm_context_precision": None}
    assert judge.errors == 3
    await http.aclose()

"""Small datasets written into tmp_path, and the services a run needs on the test database."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from api.resources import Resources
from core.providers.embeddings import StaticEmbedder
from core.providers.llm import ChatModel
from core.settings import Settings
from evals.runner import EvalServices
from prompts.loader import default_library
from retrieval.answerers import ExtractiveAnswerer, LLMAnswerer

CORPUS = [
    {
        "_id": "d1",
        "title": "Solar panels",
        "text": "Solar panels convert sunlight into electricity with photovoltaic cells.",
    },
    {
        "_id": "d2",
        "title": "Wind turbines",
        "text": "Wind turbines turn the kinetic energy of wind into electric power.",
    },
    {
        "_id": "d3",
        "title": "Coffee",
        "text": "Coffee beans are roasted seeds of the coffee plant, brewed into a drink.",
    },
    {
        "_id": "d4",
        "title": "Bread",
        "text": "Bread is baked from flour, water and yeast; sourdough uses wild yeast.",
    },
    {
        "_id": "d5",
        "title": "Tides",
        "text": "Tides are caused by the gravitational pull of the moon on the oceans.",
    },
]
QUERIES = [
    {"_id": "q1", "text": "how do solar panels make electricity"},
    {"_id": "q2", "text": "what causes ocean tides"},
    {"_id": "q3", "text": "how is sourdough bread made"},
    {"_id": "q4", "text": "a query nobody judged"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td5\t1\nq3\td4\t1\n"


def write_jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_beir(folder: Path, *, split: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f"_{split}" if split else ""
    write_jsonl(folder / "corpus.jsonl", CORPUS)
    write_jsonl(folder / f"queries{suffix}.jsonl", QUERIES)
    (folder / f"qrels{suffix}.tsv").write_text(QRELS, encoding="utf-8")
    return folder


PROJECT_YAML = """\
name: tiny-project
documents:
  - id: pricing
    title: Pricing
    text: The fixed price of the website redesign is 18,500 euros plus VAT, paid in three instalments.
  - id: schedule
    title: Schedule
    text: The design is delivered on March 22 and the shop goes live on April 30.
questions:
  - id: price
    question: What is the price of the website redesign?
    reference_answer: 18,500 euros plus VAT.
    reference_contexts:
      - The fixed price of the website redesign is 18,500 euros plus VAT
    reference_documents: [pricing]
  - id: live
    question: When does the shop go live?
    reference_answer: On April 30.
    reference_contexts:
      - the shop goes live on April 30
"""


def write_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "questions.yaml"
    path.write_text(PROJECT_YAML, encoding="utf-8")
    return path


def write_meeting(folder: Path, name: str = "M001") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    meeting = {
        "meeting_transcripts": [
            {
                "speaker": "Project Manager",
                "content": "Welcome everyone, today we pick the remote control design.",
            },
            {
                "speaker": "Designer",
                "content": "I propose a rubber case in bright yellow with large buttons.",
            },
            {"speaker": "Marketing", "content": "Our survey says young users want a fancy look and feel."},
            {
                "speaker": "Project Manager",
                "content": "Then we agree on the yellow rubber case. Meeting closed.",
            },
        ],
        "topic_list": [],
        "specific_query_list": [
            {
                "query": "What did the designer propose for the case?",
                "answer": "A bright yellow rubber case with large buttons.",
                "relevant_text_span": [["1", "1"]],
            }
        ],
        "general_query_list": [
            {"query": "Summarize the meeting.", "answer": "The team chose a yellow rubber case."}
        ],
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(meeting), encoding="utf-8")
    return path


def eval_services(
    settings: Settings, resources: Resources, *, chat_model: ChatModel | None = None
) -> EvalServices:
    return EvalServices(
        settings=settings,
        sessionmaker=resources.sessionmaker,
        embedder=StaticEmbedder(),
        answerer=LLMAnswerer(chat_model) if chat_model else ExtractiveAnswerer(),
        prompts=default_library(),
    )

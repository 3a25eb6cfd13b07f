"""A first look at what the local chat model can do on a short Spanish meeting: the commitments as
schema-constrained JSON (owner, task, due date resolved against the meeting date, segment ids) through
`complete_structured`, and cited answers to questions about it (five answerable, one not) through the app's
answer prompt. Scored against the hand labels below; the extractive answerer is the baseline.

Not the team's dev set (being written elsewhere): twelve segments, four commitments, six questions.

    python bench/local_llm_quality.py [--model qwen2.5-coder-1.5b] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
import unicodedata
from datetime import date
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_llm import Server

from core.providers.llm import (
    ContextPassage,
    Generation,
    StructuredOutputFailed,
    complete,
    complete_structured,
)
from core.providers.llm import create_local_chat_model as local_model
from prompts.loader import default_library
from retrieval.answerers import extractive_answer

MEETING_DATE = date(2026, 3, 2)  # a Monday
SEGMENTS = [
    "Marta: Buenos días a todos. Revisamos el estado del proyecto de la tienda online de Calzados Ruiz.",
    "Luis: El catálogo ya está migrado; faltan las fotos de la colección de verano.",
    "Marta: El cliente pidió cambios en la propuesta de diseño de la página de inicio.",
    "Ana: Yo me encargo de enviar la propuesta revisada al cliente el viernes.",
    "Carlos: El presupuesto aprobado es de 18.500 euros más IVA, sin cambios.",
    "Luis: Yo configuraré el entorno de staging antes del miércoles 11.",
    "Marta: Decidimos usar Stripe como pasarela de pago en lugar de Redsys.",
    "Marta: Yo prepararé el informe de costes del primer trimestre para fin de mes.",
    "Ana: La semana pasada ya envié el contrato firmado, eso está cerrado.",
    "Carlos: Mañana llamo al proveedor de hosting para ampliar el plan.",
    "Luis: Quizá convendría revisar el rendimiento del buscador, pero no es urgente.",
    "Marta: La próxima reunión será el lunes 9 de marzo a las diez.",
]
COMMITMENTS = [  # owner, key words of the task, due, segment
    ("Ana", ["propuesta"], "2026-03-06", 3),
    ("Luis", ["staging"], "2026-03-11", 5),
    ("Marta", ["informe", "costes"], "2026-03-31", 7),
    ("Carlos", ["hosting"], "2026-03-03", 9),
]
QUESTIONS = [  # question, key facts (all must appear), segments that support them; None: not answerable
    ("¿Cuál es el presupuesto aprobado?", ["18.500"], {4}),
    ("¿Qué pasarela de pago se va a usar?", ["stripe"], {6}),
    ("¿Quién enviará la propuesta revisada y cuándo?", ["ana", "viernes"], {3}),
    ("¿Cuándo es la próxima reunión?", ["9 de marzo"], {11}),
    ("¿Qué falta del catálogo?", ["fotos"], {1}),
    ("¿Cuántas visitas tuvo la web en febrero?", None, set()),
]
UNKNOWN = re.compile(r"no (lo )?(se|sabe)|no (se )?(menciona|indica|aparece|dispon|contiene|hay informaci)")


class Commitment(BaseModel):
    owner: str
    task: str
    due: str | None
    segments: list[int]


class Commitments(BaseModel):
    commitments: list[Commitment]


class Sentence(BaseModel):
    text: str
    passage: int | None


class CitedAnswer(BaseModel):
    """An answer whose every sentence names its passage: the grammar makes the model cite."""

    sentences: list[Sentence]

    def render(self) -> str:
        return " ".join(
            f"{s.text.rstrip('. ')} [{s.passage}]." if s.passage else s.text for s in self.sentences
        )


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def commitment_messages() -> tuple[str, str]:
    numbered = "\n".join(f"[{n}] {text}" for n, text in enumerate(SEGMENTS))
    system = (
        "Extraes los compromisos de una reunión: tareas futuras que una persona concreta se compromete a "
        "hacer. No son compromisos las decisiones, lo ya hecho, ni las sugerencias sin responsable.\n"
        f"La reunión fue el {MEETING_DATE.isoformat()} (lunes). Escribe `due` como AAAA-MM-DD resolviendo "
        "las fechas relativas respecto a esa fecha (mañana, el viernes, fin de mes); null si no hay fecha.\n"
        "`segments` son los números de los segmentos donde se asume el compromiso."
    )
    return system, numbered


def score_commitments(found: list[Commitment]) -> dict[str, float]:
    matched, due_right, segments_right, used = 0, 0, 0, set()
    for owner, words, due, segment in COMMITMENTS:
        for index, item in enumerate(found):
            if index in used or fold(item.owner) != fold(owner):
                continue
            if all(fold(w) in fold(item.task) for w in words):
                used.add(index)
                matched += 1
                due_right += item.due == due
                segments_right += segment in item.segments
                break
    return {
        "recall": matched / len(COMMITMENTS),
        "precision": matched / len(found) if found else 0.0,
        "due_right": due_right / matched if matched else 0.0,
        "segment_right": segments_right / matched if matched else 0.0,
    }


def score_answer(answer: str, facts: list[str] | None, support: set[int]) -> tuple[bool, bool]:
    """(facts right, citations support them); an unanswerable question must be declined, uncited."""
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    if facts is None:
        return bool(UNKNOWN.search(fold(answer))), not cited
    has_facts = all(fold(f) in fold(answer) for f in facts)
    return has_facts, bool(cited) and cited <= {n + 1 for n in support}


async def run(args: argparse.Namespace) -> None:
    with Server(args.model, args.threads, 4096) as server:
        settings = server.settings.model_copy(
            update={"llm": server.settings.llm.model_copy(update={"base_url": server.base_url})}
        )
        model = local_model(settings)
        assert model is not None
        started = time.perf_counter()
        try:
            result = await complete_structured(
                model, commitment_messages(), Commitments, question="", max_tokens=600
            )
            found = result.commitments
        except StructuredOutputFailed as exc:
            print(f"commitments: {exc}")
            found = []
        print(f"\ncommitments ({time.perf_counter() - started:.0f}s):")
        for item in found:
            print(f"  {item.owner}: {item.task} | due {item.due} | segments {item.segments}")
        print("  scores:", score_commitments(found))

        passages = [ContextPassage(n + 1, text) for n, text in enumerate(SEGMENTS)]
        context = "\n\n".join(f"[{p.n}] {p.text}" for p in passages)
        prompt = default_library().get("answer")
        totals = {"local": [0, 0], "local, cited JSON": [0, 0], "extractive": [0, 0]}
        print("\nanswers:")
        for question, facts, support in QUESTIONS:
            system, user = prompt.render(project_title="Tienda online", context=context, question=question)
            request = Generation(
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                question=question,
                passages=passages,
                max_tokens=120,
                temperature=0.0,
            )
            started = time.perf_counter()
            answer, _ = await complete(model, request)
            seconds = time.perf_counter() - started
            cited_prompt = (
                system,
                user + "\nResponde en JSON: cada frase con el número del extracto que la respalda "
                "(passage: null solo si no lo sabes).",
            )
            try:
                cited = (
                    await complete_structured(
                        model, cited_prompt, CitedAnswer, question=question, max_tokens=200
                    )
                ).render()
            except StructuredOutputFailed as exc:
                cited = f"({exc})"
            variants = (
                ("local", answer),
                ("local, cited JSON", cited),
                ("extractive", extractive_answer(question, passages)),
            )
            for name, text in variants:
                right, supported = score_answer(text, facts, support)
                totals[name][0] += right
                totals[name][1] += right and supported
            print(f"  {question} ({seconds:.1f}s)\n    local: {answer.strip()}\n    cited JSON: {cited}")
            print(f"    extractive: {extractive_answer(question, passages) or '(nothing)'}")
        for name, (right, supported) in totals.items():
            print(
                f"  {name}: key facts {right}/{len(QUESTIONS)}, with supporting citations {supported}/"
                f"{len(QUESTIONS)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--threads", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

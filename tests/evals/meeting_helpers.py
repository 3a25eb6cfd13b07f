"""A tiny meetings dataset written into tmp_path (one client, two projects, two meetings), and a way to
break one line of it."""

from __future__ import annotations

import json
from pathlib import Path

SEGMENTS_WEB = [
    {"start": 0.0, "end": 4.0, "speaker": "Laura", "text": "Buenos días, repasamos la tienda."},
    {"start": 4.5, "end": 9.0, "speaker": "Javier", "text": "Vamos con WooCommerce para la tienda."},
    {"start": 9.5, "end": 15.0, "speaker": "Pilar", "text": "El presupuesto son 18.500 euros más IVA."},
    {
        "start": 15.5,
        "end": 20.0,
        "speaker": "Carmen",
        "text": "Me encargo de mandar el moodboard el viernes.",
    },
]
SEGMENTS_APP = [
    {"start": 0.0, "end": 5.0, "speaker": "Diego", "text": "La app da un punto por cada euro de compra."},
    {"start": 5.5, "end": 9.0, "speaker": "Elena", "text": "Y cien puntos son cinco euros de descuento."},
]

DATASET = """\
name: tiny
clients:
  - {id: acme, name: Acme}
projects:
  - id: web
    client: acme
    title: Web de Acme
    description: La web nueva de Acme con tienda.
    start_date: 2026-09-01
    documents:
      - {id: web-doc, title: Propuesta, path: documents/web.md}
  - id: app
    client: acme
    title: App de Acme
    documents: []
meetings:
  - id: web-1
    project: web
    title: Arranque
    start: 2026-09-15T10:00:00+02:00
    transcript: transcripts/web-1.json
  - {id: app-1, project: app, title: App, start: 2026-09-16T10:00:00+02:00,
     transcript: transcripts/app-1.json}
"""

QUESTIONS = """\
questions:
  - id: q1
    project: web
    type: factual
    split: dev
    question: ¿Qué plataforma usa la tienda?
    key_facts: [[WooCommerce]]
    supporting: [{meeting: web-1, segments: [1]}]
    reference_answer: WooCommerce.
  - id: q2
    project: web
    type: numeric
    split: test
    question: ¿Cuál es el presupuesto?
    key_facts: [["18.500", dieciocho mil quinientos], [IVA]]
    supporting: [{meeting: web-1, segments: [2]}, {document: web-doc}]
  - id: q3
    project: web
    type: other_project
    split: dev
    question: ¿Cuántos puntos da la app por euro?
    other_project: app
    leak_facts: [[un punto por cada euro]]
    supporting: [{meeting: app-1, segments: [0]}]
  - id: q4
    project: app
    type: unanswerable
    split: dev
    question: ¿Quién es el enólogo?
"""

SEARCH = """\
queries:
  - id: s1
    project: web
    split: dev
    query: plataforma de la tienda
    relevant:
      - {meeting: web-1, segments: [1], grade: 2}
      - {document: web-doc, grade: 1}
  - id: s2
    split: test
    query: puntos por euro
    relevant:
      - {meeting: app-1, segments: [0, 1], grade: 2}
"""

COMMITMENTS = """\
meetings:
  - meeting: web-1
    commitments:
      - {owner: Carmen, task: mandar el moodboard, due: 2026-09-18, segments: [3], status: open}
  - meeting: app-1
    commitments: []
"""


def write_tiny_dataset(folder: Path) -> Path:
    (folder / "transcripts").mkdir(parents=True)
    (folder / "documents").mkdir()
    (folder / "dataset.yaml").write_text(DATASET, encoding="utf-8")
    (folder / "questions.yaml").write_text(QUESTIONS, encoding="utf-8")
    (folder / "search.yaml").write_text(SEARCH, encoding="utf-8")
    (folder / "commitments.yaml").write_text(COMMITMENTS, encoding="utf-8")
    (folder / "documents" / "web.md").write_text("# Propuesta\n\n18.500 euros más IVA.\n", encoding="utf-8")
    for name, segments in (("web-1", SEGMENTS_WEB), ("app-1", SEGMENTS_APP)):
        body = "[\n" + ",\n".join("  " + json.dumps(s, ensure_ascii=False) for s in segments) + "\n]\n"
        (folder / "transcripts" / f"{name}.json").write_text(body, encoding="utf-8")
    return folder


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    """The 1-based line where `needle` first occurs."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in {path.name}")

"""Whether the retrieved chunks answer the question at all: the abstention decision.

One hand-set cosine threshold per model could not tell "the project does not say" from "the project talks
about something close" (a budget question about the app asked in the web project finds the web's budget).
The decision reads several signals of the retrieved chunks — how close the best ones are in meaning, how
much of the question's wording they hold, which of the question's words none of them holds, whether both
halves of the hybrid search agree, and how well the best sentence matches — and combines them with a
logistic model fitted on data (`v1tr0 eval calibrate`; the fitted weights per embedding model are in
`relevance.json`, with what they were fitted on). A model without fitted weights uses the old rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.text import CHUNK_HEADER, content_terms, header_parts, split_sentences
from retrieval.answerers import Asked
from retrieval.search import Hit

CALIBRATION_FILE = Path(__file__).with_name("relevance.json")
TOP = 5  # hits the question-level signals read
FEATURES = (
    "similarity",  # best cosine similarity (vector side)
    "similarity_gap",  # best similarity minus the fifth's: a clear winner, or a flat field
    "best_coverage",  # share of the question's content words the best-covering hit holds
    "any_coverage",  # share of them that some top hit holds
    "missing_words",  # how many of them no top hit holds (names, products, figures asked about)
    "lexical_match",  # the top hit also matched in full text
    "sentence_support",  # share of the question's words in the single best sentence
    "rare_support",  # the same, each word weighted by how rare it is in what was retrieved
    "names_another_project",  # the question names another of the caller's projects more than this one
    "kind_support",  # sentence_support over the sentences that hold what is asked (money, a date, a name)
)


@dataclass(frozen=True)
class ProjectNames:
    """The asked project's title and description, and the titles of the caller's other projects (never
    their content)."""

    own: str = ""
    others: tuple[str, ...] = ()
    description: str = ""  # the asked project's: what it is about, in its own words

    def names_another(self, question: str) -> float:
        """How many more of the question's words another project's title has than this one's. A word
        this project's title or description uses too names neither: "alumnos" in "Portal del alumno"
        is no sign of the portal in a campaign to win new pupils, nor is the client's name that both
        titles may carry."""
        asked = set(content_terms(question))
        own = len(asked & set(content_terms(self.own)))
        shared = asked & set(content_terms(f"{self.own} {self.description}"))
        other = max((len(asked & set(content_terms(title)) - shared) for title in self.others), default=0)
        return float(max(other - own, 0))


def _text(hit: Hit) -> str:
    return CHUNK_HEADER.sub("", hit.context or hit.content, count=1)


def _titles(hit: Hit) -> set[str]:
    """The words of the titles in the chunk's header, "[Transcripción › Technical kick-off with Brightside
    Apps]", "[Documento › Propuesta de la app › ... › Mantenimiento]": what all of the chunk is about, whether
    or not its text says it again (the meeting with Brightside rarely names Brightside). Its first part
    names the kind of source, which no question is about."""
    return set(content_terms(" ".join(header_parts(hit.content)[1:])))


def relevance_features(question: str, hits: list[Hit], scope: ProjectNames | None = None) -> dict[str, float]:
    wanted = set(content_terms(question))
    top = hits[:TOP]
    terms = [set(content_terms(_text(hit))) | _titles(hit) for hit in top]
    similarities = sorted((hit.similarity for hit in top if hit.similarity is not None), reverse=True)
    best = similarities[0] if similarities else 0.0
    held = set().union(*terms) if terms else set()
    texts = [s for hit in top for s in split_sentences(_text(hit))]
    sentences = [set(content_terms(s)) for s in texts]
    asked = Asked.of(question)

    def share(found: set[str]) -> float:
        return len(wanted & found) / len(wanted) if wanted else 0.0

    frequency = {term: sum(term in found for found in sentences) for term in wanted}
    weight = {term: math.log(1 + len(sentences) / (1 + count)) for term, count in frequency.items()}
    total_weight = sum(weight.values()) or 1.0
    rare = max((sum(weight[t] for t in wanted & found) / total_weight for found in sentences), default=0.0)
    return {
        "names_another_project": (scope or ProjectNames()).names_another(question),
        "rare_support": rare,
        "similarity": best,
        "similarity_gap": best - similarities[-1] if len(similarities) > 1 else 0.0,
        "best_coverage": max((share(found) for found in terms), default=0.0),
        "any_coverage": share(held),
        "missing_words": float(len(wanted - held)),
        "lexical_match": 1.0 if top and top[0].text_rank is not None else 0.0,
        "sentence_support": max((share(found) for found in sentences), default=0.0),
        "kind_support": max(
            (share(found) for text, found in zip(texts, sentences, strict=True) if asked.held_by(text)),
            default=0.0,
        ),
    }


@dataclass(frozen=True)
class RelevanceModel:
    """p(answerable) = sigmoid(bias + Σ weight·standardised feature); abstain below `threshold`."""

    weights: Mapping[str, float]
    means: Mapping[str, float]
    scales: Mapping[str, float]
    bias: float
    threshold: float = 0.5

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(
            weight * (features[name] - self.means[name]) / (self.scales[name] or 1.0)
            for name, weight in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def as_json(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "means": dict(self.means),
            "scales": dict(self.scales),
            "bias": self.bias,
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RelevanceModel:
        return cls(
            weights=dict(data["weights"]),
            means=dict(data["means"]),
            scales=dict(data["scales"]),
            bias=float(data["bias"]),
            threshold=float(data.get("threshold", 0.5)),
        )


def fit(
    rows: list[dict[str, float]], labels: list[int], *, l2: float = 1.0, iterations: int = 200
) -> RelevanceModel:
    """Logistic regression on standardised features (Newton's method with an L2 penalty: a few dozen
    questions are enough for seven weights, and the penalty keeps a rare feature from dominating)."""
    import numpy as np

    names = list(FEATURES)
    x = np.array([[row[name] for name in names] for row in rows], dtype=float)
    y = np.array(labels, dtype=float)
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    z = np.hstack([np.ones((len(rows), 1)), (x - means) / scales])
    beta = np.zeros(z.shape[1])
    penalty = np.diag([0.0] + [l2] * len(names))
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        gradient = z.T @ (p - y) + penalty @ beta
        hessian = (z.T * (p * (1 - p))) @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return RelevanceModel(
        weights={name: float(w) for name, w in zip(names, beta[1:], strict=True)},
        means={name: float(m) for name, m in zip(names, means, strict=True)},
        scales={name: float(s) for name, s in zip(names, scales, strict=True)},
        bias=float(beta[0]),
    )


def load_calibration(path: Path = CALIBRATION_FILE) -> dict[str, RelevanceModel]:
    """The fitted model per embedding model name (empty when none is fitted)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: RelevanceModel.from_json(entry["model"]) for name, entry in data.get("models", {}).items()}


_CALIBRATION = load_calibration()


def calibrated_model(embedding_model: str) -> RelevanceModel | None:
    return _CALIBRATION.get(embedding_model)

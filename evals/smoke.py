"""The regression gate (`make eval-smoke`): small fixed subsets of SciFact and QMSum with the static test
embedder, failing when nDCG@10 or the QMSum key-term recall falls below evals/thresholds.toml; and the
dev split of the meetings dataset measured through the API (answers, citations, search, commitments)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from evals.catalog import DATA_ROOTS
from evals.loaders import Dataset, DatasetError, load_dataset
from evals.meeting_dataset import DEFAULT_DATASET, MeetingsDataset, load_meetings_dataset

THRESHOLDS = Path(__file__).resolve().parent / "thresholds.toml"
SCIFACT_QUERIES = 50  # the first train queries, in file order
SCIFACT_DISTRACTORS = 950  # documents beside the relevant ones: the first of the corpus
QMSUM_MEETINGS = ("Bed002", "ES2006a", "IS1006a", "TS3010a", "education_0")  # one or two of each domain
MEETINGS_SPLIT = "dev"  # reuniones: 85 questions, 30 queries, the whole ledger, about 10 s (static embedder)


@dataclass(frozen=True)
class Gate:
    name: str  # the section of thresholds.toml
    dataset: Dataset
    metric: str


def smoke_gates(data_root: Path = DATA_ROOTS[1]) -> list[Gate]:
    scifact = load_dataset(data_root / "scifact", "train")
    scifact = scifact.subset_of(
        question_keys=[q.key for q in scifact.questions[:SCIFACT_QUERIES]],
        extra_documents=SCIFACT_DISTRACTORS,
        label="smoke",
    )
    qmsum = load_dataset(data_root / "qmsum", "val")
    qmsum = qmsum.subset_of(
        question_keys=[q.key for q in qmsum.questions if q.scope in QMSUM_MEETINGS],
        extra_documents=0,
        label="smoke",
    )
    return [Gate("scifact", scifact, "ndcg@10"), Gate("qmsum", qmsum, "key_term_recall")]


# The meetings sets of the gate, by their section of thresholds.toml: reuniones, and reuniones-b (written
# apart from it, so that what is tuned on the first is checked on a world it was not tuned on).
MEETINGS_GATES = {
    "meetings": DEFAULT_DATASET,
    "meetings_b": DEFAULT_DATASET.parent / "reuniones-b",
}


def meetings_gate(path: Path = DEFAULT_DATASET) -> MeetingsDataset:
    """The meetings slice of the gate (section [meetings] of thresholds.toml)."""
    return load_meetings_dataset(path).with_split(MEETINGS_SPLIT)


def meetings_gates(sections: Iterable[str]) -> dict[str, MeetingsDataset]:
    """The meetings slices the thresholds name, by section."""
    return {name: meetings_gate(path) for name, path in MEETINGS_GATES.items() if name in set(sections)}


def load_thresholds(path: Path = THRESHOLDS) -> dict[str, dict[str, float]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DatasetError(f"{path}: {exc}") from None
    return {section: {k: float(v) for k, v in values.items()} for section, values in data.items()}


@dataclass(frozen=True)
class GateResult:
    gate: str
    metric: str
    measured: float | None
    minimum: float

    @property
    def ok(self) -> bool:
        return self.measured is not None and self.measured >= self.minimum


def check_thresholds(
    measured: Mapping[str, Mapping[str, object]], thresholds: Mapping[str, Mapping[str, float]]
) -> list[GateResult]:
    """Each threshold against the measured metrics of its gate; a metric that is missing fails."""
    results = []
    for gate, minimums in thresholds.items():
        metrics = measured.get(gate, {})
        for metric, minimum in minimums.items():
            value = metrics.get(metric)
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
            results.append(GateResult(gate, metric, number, minimum))
    return results

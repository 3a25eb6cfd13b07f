"""Scoring of the meetings eval: key facts in answers, abstention, leaks, citation precision, search
ranking (key passages in the top 10, nDCG@10) and the commitment ledger (recall, precision, due dates).

Everything here is a pure function of what the API returned and the dataset's gold, so the scoring is
tested on small hand-made cases; evals/meeting_eval.py makes the requests.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.text import content_terms
from evals.meeting_dataset import GoldCommitment, GradedRef, MeetingsDataset, MeetingSpec, Ref, Unit

TOP_K = 10
# Two tasks are the same commitment when their content words (stopwords out, 5-letter stems, as the
# product's own matching does) share at least two stems (one if a task has only one) and overlap with a
# Dice coefficient of at least this. Measured on the offline extractor's ledger for the whole dataset
# (2026-12-07): the 22 true pairs score 0.44-1.0 (lowest: "llamar a la empresa anterior y pasar las
# claves del hosting" vs "pasar las claves"), while every same-meeting, same-owner pair of different
# tasks scores 0 ("mandar el acta" vs "mandar el anexo al contrato" share only the verb).
TASK_MATCH = 0.4

# --------------------------------------------------------------------------------------------- text


_THOUSANDS = re.compile(r"(?<=\d)[.,\u00a0\u202f](?=\d{3}(?!\d))")
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")
_PERCENT = re.compile(r"(?<=\d)\s*%")
_EURO = re.compile(r"\s*€")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower case, no accents, one number format: "18.500 €" and "18500 euros" fold alike, "6,90" is
    "6.90", "10%" is "10 %"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = _THOUSANDS.sub("", text)
    text = _DECIMAL_COMMA.sub(".", text)
    text = _PERCENT.sub(" %", text)
    text = _EURO.sub(" euros", text)
    return _SPACES.sub(" ", text).strip()


def contains_form(folded_text: str, folded_form: str) -> bool:
    """Whether the (folded) form occurs as whole words: "12" is not in "120", "cien" not in "ciento"."""
    if not folded_form:
        return False
    pattern = rf"(?<![0-9a-z]){re.escape(folded_form)}(?![0-9a-z])"
    return re.search(pattern, folded_text) is not None


def facts_present(text: str, facts: Sequence[Sequence[str]]) -> list[bool]:
    """For each fact, whether any of its surface forms is in the text."""
    folded = fold(text)
    return [any(contains_form(folded, fold(form)) for form in fact) for fact in facts]


# --------------------------------------------------------------------------------------------- answers


def abstained(body: Mapping[str, Any]) -> bool:
    """/ask said it has no answer: `grounded: false` today, or an explicit `abstained: true`."""
    return body.get("abstained") is True or body.get("grounded") is False


def leaks(body: Mapping[str, Any], *, project_id: str, leak_facts: Sequence[Sequence[str]] = ()) -> list[str]:
    """Why the answer leaks, if it does: a citation from another project, or a fact that only another
    project holds."""
    reasons = [
        f"cites project {citation.get('project_id')}"
        for citation in body.get("citations") or []
        if str(citation.get("project_id")) != project_id
    ]
    present = facts_present(str(body.get("answer") or ""), leak_facts)
    reasons += [f"says {fact[0]!r}" for fact, found in zip(leak_facts, present, strict=True) if found]
    return reasons


@dataclass(frozen=True)
class WorldIds:
    """The API ids of what the eval created, mapped back to the dataset's ids."""

    projects: Mapping[str, str]  # api id -> dataset project id
    documents: Mapping[str, str]  # api document id -> dataset document id
    meetings: Mapping[str, MeetingSpec]  # api meeting id -> the meeting


def source_units(source: Mapping[str, Any], world: WorldIds) -> list[Unit]:
    """The dataset units a citation or search result covers. Transcript passages map to segments through
    whatever the source carries, preferring the most precise: segment ids, then start/end seconds; a
    meeting-level passage without either (a summary) is the meeting as one unit, and a document or a
    project description is one unit."""
    source_type = str(source.get("source_type") or "")
    source_id = str(source.get("source_id") or "")
    if source_type == "document":
        return [("document", world.documents.get(source_id, f"?{source_id}"), -1)]
    if source_type == "project":
        return [("project", world.projects.get(source_id, f"?{source_id}"), -1)]
    meeting = world.meetings.get(str(source.get("meeting_id") or ""))
    if meeting is None:
        return [("unknown", f"{source_type}:{source_id}", -1)]
    ids = _segment_ids(source)
    if ids is not None:
        valid = [i for i in ids if 0 <= i < len(meeting.segments)]
        if valid:
            return [("segment", meeting.id, i) for i in sorted(set(valid))]
    start, end = source.get("start"), source.get("end")
    if isinstance(start, int | float) and isinstance(end, int | float):
        covered = meeting.segments_between(float(start), float(end))
        if covered:
            return [("segment", meeting.id, i) for i in covered]
    return [("meeting", meeting.id, -1)]


def _segment_ids(source: Mapping[str, Any]) -> list[int] | None:
    """Segment indices named by the source: `segment_ids`, or `segments` as indices or objects."""
    raw = source.get("segment_ids")
    if raw is None and isinstance(source.get("segments"), list):
        raw = [s.get("id", s.get("index")) if isinstance(s, dict) else s for s in source["segments"]]
    if not isinstance(raw, list):
        return None
    return [int(i) for i in raw if isinstance(i, int) and not isinstance(i, bool)]


def supports(unit: Unit, refs: Iterable[Ref]) -> bool:
    """Whether a cited unit is one of the passages that hold the answer. A whole meeting (unit or
    reference) matches any passage of that meeting."""
    kind, target, index = unit
    for ref in refs:
        if kind == "segment" and ref.kind == "meeting" and ref.target == target:
            if not ref.segments or index in ref.segments:
                return True
        elif kind in ("meeting", "document", "project") and ref.kind == kind and ref.target == target:
            return True
    return False


def citation_precision(cited: Sequence[Sequence[Unit]], supporting: Sequence[Ref]) -> float | None:
    """Share of the cited units (over all citations of one answer) that support it; None without
    citations."""
    units = [unit for citation in cited for unit in citation]
    if not units:
        return None
    return sum(supports(unit, supporting) for unit in units) / len(units)


# --------------------------------------------------------------------------------------------- search


def _gold_units(relevant: Sequence[GradedRef], *, key_only: bool = False) -> dict[Unit, int]:
    """Every judged unit with its grade (the best grade of the passages that list it)."""
    grades: dict[Unit, int] = {}
    for graded in relevant:
        if key_only and graded.grade != 2:
            continue
        for unit in graded.ref.units():
            grades[unit] = max(grades.get(unit, 0), graded.grade)
    return grades


def _shows(result: Iterable[Unit], unit: Unit) -> bool:
    """Whether a result shows a judged unit: that very segment or document (a meeting summary does not
    show a segment), or anything of a meeting judged as a whole."""
    if unit[0] == "meeting":
        return any(kind in ("segment", "meeting") and target == unit[1] for kind, target, _ in result)
    return unit in set(result)


def key_coverage(results: Sequence[Sequence[Unit]], relevant: Sequence[GradedRef], k: int = TOP_K) -> float:
    """Share of the key units (grade 2) that the first k results show."""
    key_units = _gold_units(relevant, key_only=True)
    if not key_units:
        return 0.0
    shown = [unit for result in results[:k] for unit in result]
    return sum(_shows(shown, unit) for unit in key_units) / len(key_units)


def ndcg(results: Sequence[Sequence[Unit]], relevant: Sequence[GradedRef], k: int = TOP_K) -> float:
    """nDCG@k over judged units (segments, documents), linear gains. A result's gain is the best grade
    among the judged units it shows that no higher result showed (a unit counts once, so overlapping
    chunks of one passage are not several hits); the ideal ranking shows one judged unit per result, best
    grades first. A chunk spanning several key segments thus earns one gain where segment-level results
    would earn several: the metric rewards precise results, as citations need."""
    grades = _gold_units(relevant)
    seen: set[Unit] = set()
    dcg = 0.0
    for rank, result in enumerate(results[:k], start=1):
        fresh = [unit for unit in grades if unit not in seen and _shows(result, unit)]
        if fresh:
            seen.update(fresh)
            dcg += max(grades[unit] for unit in fresh) / math.log2(rank + 1)
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


# --------------------------------------------------------------------------------------------- commitments


@dataclass(frozen=True)
class LedgerRow:
    """A commitment as GET /projects/{id}/commitments returns it, with its meeting as a dataset id."""

    meeting: str | None
    owner: str | None
    task: str
    due: date | None
    status: str


def same_owner(gold: str, extracted: str | None) -> bool:
    """Names match when one's words are all in the other ("Elena" and "Elena Ribalta")."""
    if not extracted:
        return False
    a, b = set(fold(gold).split()), set(fold(extracted).split())
    return bool(a and b) and (a <= b or b <= a)


def task_similarity(gold: str, extracted: str) -> float:
    """Dice coefficient of the content stems; 0 when fewer than two are shared (unless a task has one)."""
    a, b = set(content_terms(gold)), set(content_terms(extracted))
    if not a or not b:
        return 0.0
    shared = len(a & b)
    if shared < min(2, len(a), len(b)):
        return 0.0
    return 2 * shared / (len(a) + len(b))


@dataclass(frozen=True)
class CommitmentMatch:
    gold: int  # index into the gold list
    row: int  # index into the ledger rows
    similarity: float


def match_commitments(
    gold: Sequence[GoldCommitment], rows: Sequence[LedgerRow], *, threshold: float = TASK_MATCH
) -> list[CommitmentMatch]:
    """One-to-one matches of gold commitments and ledger rows of the same meeting with the same owner and
    a similar task, best pairs first."""
    candidates = [
        CommitmentMatch(g, r, task_similarity(commitment.task, row.task))
        for g, commitment in enumerate(gold)
        for r, row in enumerate(rows)
        if row.meeting == commitment.meeting and same_owner(commitment.owner, row.owner)
    ]
    matches: list[CommitmentMatch] = []
    used_gold: set[int] = set()
    used_rows: set[int] = set()
    for candidate in sorted(candidates, key=lambda c: (-c.similarity, c.gold, c.row)):
        if candidate.similarity < threshold or candidate.gold in used_gold or candidate.row in used_rows:
            continue
        matches.append(candidate)
        used_gold.add(candidate.gold)
        used_rows.add(candidate.row)
    return sorted(matches, key=lambda m: m.gold)


def status_right(gold: GoldCommitment, row: LedgerRow) -> bool:
    """The ledger shows where the commitment stands after the last meeting: done, open, or open with
    the new date when a later meeting moved it."""
    if gold.status == "moved":
        return row.status == "open" and row.due == gold.moved_to
    return row.status == gold.status


def commitment_metrics(gold: Sequence[GoldCommitment], rows: Sequence[LedgerRow]) -> dict[str, Any]:
    matches = match_commitments(gold, rows)
    matched = [(gold[m.gold], rows[m.row]) for m in matches]
    return {
        "commitments/gold": len(gold),
        "commitments/extracted": len(rows),
        "commitments/matched": len(matches),
        "commitments/recall": len(matches) / len(gold) if gold else 0.0,
        "commitments/precision": len(matches) / len(rows) if rows else 0.0,
        "commitments/due_accuracy": (
            sum(g.due == r.due for g, r in matched) / len(matched) if matched else 0.0
        ),
        "commitments/status_accuracy": (
            sum(status_right(g, r) for g, r in matched) / len(matched) if matched else 0.0
        ),
    }


# --------------------------------------------------------------------------------------------- dataset


def check_consistency(dataset: MeetingsDataset) -> list[str]:
    """What a careful reader would flag in the dataset: key facts that are not in their supporting
    passages, and leak facts that the asked project holds too (saying them would be no leak)."""
    problems = []
    for question in dataset.questions:
        supporting_text = "\n".join(dataset.text_of(ref) for ref in question.supporting)
        if question.answerable:
            for fact, found in zip(
                question.key_facts, facts_present(supporting_text, question.key_facts), strict=True
            ):
                if not found:
                    problems.append(f"{question.id}: key fact {list(fact)} is not in its supporting passages")
        if question.type == "other_project":
            own = dataset.project_text(question.project)
            for fact, inside, theirs in zip(
                question.leak_facts,
                facts_present(own, question.leak_facts),
                facts_present(supporting_text, question.leak_facts),
                strict=True,
            ):
                if inside:
                    problems.append(f"{question.id}: leak fact {list(fact)} is also in {question.project}")
                if not theirs:
                    problems.append(
                        f"{question.id}: leak fact {list(fact)} is not in its supporting passages"
                    )
    return problems

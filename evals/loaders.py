"""Dataset loaders: BEIR folders, QMSum meeting JSON and the project's own hand-written question files.

Every loader returns a `Dataset`: documents to index into an eval project, and questions with whatever
references they carry (relevant document ids, a reference answer, reference contexts, relevant transcript
turns). Bad input raises DatasetError naming the file and, where there is one, the line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

BEIR, QMSUM, PROJECT = "beir", "qmsum", "project"
PROJECT_SUFFIXES = (".yaml", ".yml", ".jsonl")
PROJECT_FILES = ("questions.yaml", "questions.yml", "questions.jsonl")
DOCUMENT_SUFFIXES = (".md", ".txt")
MEETINGS_MARKER = "dataset.yaml"  # a meetings dataset (evals/meeting_dataset.py), measured through the API


class DatasetError(ValueError):
    """A dataset that cannot be used, with the file (and line) at fault in the message."""


@dataclass(frozen=True)
class CorpusDoc:
    """A document to index. A transcript has speaker turns instead of text."""

    id: str
    title: str
    text: str = ""
    turns: tuple[tuple[str, str], ...] = ()

    @property
    def is_transcript(self) -> bool:
        return bool(self.turns)


@dataclass(frozen=True)
class EvalQuestion:
    key: str
    question: str
    relevant: Mapping[str, int] = field(default_factory=dict)  # document id -> graded relevance
    reference_answer: str | None = None
    reference_contexts: tuple[str, ...] = ()
    scope: str | None = None  # the document (meeting) the question is asked about, searched alone
    relevant_turns: frozenset[int] = frozenset()  # turns of `scope` that hold the answer


@dataclass(frozen=True)
class Dataset:
    name: str
    format: str
    path: Path
    split: str | None
    files: tuple[Path, ...]  # every file read
    corpus_files: tuple[Path, ...]  # the files the documents come from
    docs: tuple[CorpusDoc, ...]
    questions: tuple[EvalQuestion, ...]
    subset: str = ""  # how the documents were narrowed down, if they were

    @cached_property
    def content_hash(self) -> str:
        """sha256 of every file read (and of the subset), recorded with each run."""
        return _hash_files(self.files, self.path, extra=self.subset)

    @cached_property
    def corpus_hash(self) -> str:
        """sha256 of the document files (and the subset): the eval project's key, shared by splits."""
        return _hash_files(self.corpus_files, self.path, extra=self.subset)

    def limited(self, limit: int | None) -> Dataset:
        """The first `limit` questions; the documents stay as they are."""
        if not limit or limit >= len(self.questions):
            return self
        return replace(self, questions=self.questions[:limit])

    def subset_of(self, *, question_keys: Sequence[str], extra_documents: int, label: str) -> Dataset:
        """Only these questions, and only the documents they are about plus the first `extra_documents`
        others (distractors), in corpus order. A different corpus, hence a different corpus hash."""
        wanted = set(question_keys)
        questions = tuple(q for q in self.questions if q.key in wanted)
        if len(questions) != len(wanted):
            missing = sorted(wanted - {q.key for q in questions})
            raise DatasetError(f"{self.path}: no questions {', '.join(missing[:5])}")
        needed = {doc for q in questions for doc in q.relevant} | {q.scope for q in questions if q.scope}
        others = [d.id for d in self.docs if d.id not in needed][:extra_documents]
        keep = needed | set(others)
        docs = tuple(d for d in self.docs if d.id in keep)
        subset = f"{label}:" + ",".join(sorted(keep))
        return replace(self, name=f"{self.name}-{label}", docs=docs, questions=questions, subset=subset)


def _hash_files(files: Sequence[Path], root: Path, *, extra: str) -> str:
    digest = hashlib.sha256()
    base = root if root.is_dir() else root.parent
    for path in sorted(files):
        digest.update(str(path.relative_to(base) if path.is_relative_to(base) else path.name).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(extra.encode())
    return digest.hexdigest()


def load_dataset(path: Path, split: str | None = None) -> Dataset:
    """Whichever format `path` holds: a BEIR folder, QMSum meetings, or a project question file."""
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / MEETINGS_MARKER).is_file():
            raise DatasetError(
                f"{path}: a meetings dataset; run it with `v1tr0 eval meetings --dataset {path}`"
            )
        if (path / "corpus.jsonl").exists() or any(path.glob("queries*.jsonl")):
            return load_beir(path, split)
        if any(path.glob("*.json")):
            return load_qmsum(path)
        splits = sorted(
            child.name for child in path.iterdir() if child.is_dir() and any(child.glob("*.json"))
        )
        if split in splits:
            return load_qmsum(path / str(split))
        if len(splits) == 1 and not split:
            return load_qmsum(path / splits[0])
        if splits:
            raise DatasetError(f"{path}: pass --split ({', '.join(splits)})")
        for name in PROJECT_FILES:
            if (path / name).exists():
                return load_project(path / name)
        raise DatasetError(
            f"{path}: not a dataset (expected corpus.jsonl + queries/qrels (BEIR), QMSum meeting .json "
            f"files, or one of {', '.join(PROJECT_FILES)})"
        )
    if path.suffix in PROJECT_SUFFIXES:
        return load_project(path)
    raise DatasetError(f"{path}: not a dataset file (expected {', '.join(PROJECT_SUFFIXES)})")


# --------------------------------------------------------------------------------------------- BEIR


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a line that is not a JSON object is an error."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: malformed JSON ({exc.msg})") from None
            if not isinstance(value, dict):
                raise DatasetError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
            yield number, value


def _text_field(path: Path, number: int, row: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, int | float) and key == "_id":
        return str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        raise DatasetError(f"{path}:{number}: missing or empty {key!r}")
    return value


def load_beir(folder: Path, split: str | None = None) -> Dataset:
    """corpus.jsonl plus queries[_SPLIT].jsonl and qrels[_SPLIT].tsv. Only judged queries are kept."""
    suffix = f"_{split}" if split else ""
    corpus_path = folder / "corpus.jsonl"
    queries_path, qrels_path = folder / f"queries{suffix}.jsonl", folder / f"qrels{suffix}.tsv"
    missing = [p.name for p in (corpus_path, queries_path, qrels_path) if not p.exists()]
    if missing:
        splits = sorted(p.stem.removeprefix("queries_") for p in folder.glob("queries_*.jsonl"))
        hint = f" (splits here: {', '.join(splits)}; pass --split)" if splits and not split else ""
        raise DatasetError(f"{folder}: missing {', '.join(missing)}{hint}")
    docs: dict[str, CorpusDoc] = {}
    for number, row in read_jsonl(corpus_path):
        doc_id = _text_field(corpus_path, number, row, "_id")
        if doc_id in docs:
            raise DatasetError(f"{corpus_path}:{number}: duplicate document id {doc_id!r}")
        title = _text_field(corpus_path, number, row, "title", required=False).strip()
        docs[doc_id] = CorpusDoc(doc_id, title, _text_field(corpus_path, number, row, "text"))
    if not docs:
        raise DatasetError(f"{corpus_path}: no documents")
    queries: dict[str, str] = {}
    for number, row in read_jsonl(queries_path):
        query_id = _text_field(queries_path, number, row, "_id")
        if query_id in queries:
            raise DatasetError(f"{queries_path}:{number}: duplicate query id {query_id!r}")
        queries[query_id] = _text_field(queries_path, number, row, "text")
    qrels = read_qrels(qrels_path, queries=queries, docs=docs, queries_name=queries_path.name)
    questions = tuple(
        EvalQuestion(key=qid, question=text.strip(), relevant=qrels[qid])
        for qid, text in queries.items()
        if qrels.get(qid)
    )
    if not questions:
        raise DatasetError(f"{qrels_path}: no query has a positive relevance judgement")
    return Dataset(
        name=folder.resolve().name,
        format=BEIR,
        path=folder,
        split=split,
        files=(corpus_path, queries_path, qrels_path),
        corpus_files=(corpus_path,),
        docs=tuple(docs.values()),
        questions=questions,
    )


def read_qrels(
    path: Path, *, queries: Mapping[str, str], docs: Mapping[str, CorpusDoc], queries_name: str
) -> dict[str, dict[str, int]]:
    """query-id -> {corpus-id: score > 0}; a row naming an unknown query or document is an error."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\r\n").split("\t")
            if not line.strip() or (number == 1 and parts[0] == "query-id"):
                continue
            if len(parts) != 3:
                raise DatasetError(
                    f"{path}:{number}: expected 3 tab-separated columns (query-id, corpus-id, score), "
                    f"got {len(parts)}"
                )
            query_id, doc_id, raw_score = (part.strip() for part in parts)
            try:
                score = int(raw_score)
            except ValueError:
                raise DatasetError(f"{path}:{number}: score {raw_score!r} is not an integer") from None
            if query_id not in queries:
                raise DatasetError(f"{path}:{number}: query id {query_id!r} is not in {queries_name}")
            if doc_id not in docs:
                raise DatasetError(f"{path}:{number}: corpus id {doc_id!r} is not in corpus.jsonl")
            if score > 0:
                qrels.setdefault(query_id, {})[doc_id] = score
    return qrels


# --------------------------------------------------------------------------------------------- QMSum


def _qmsum_span(path: Path, query: str, span: Any, turns: int) -> range:
    try:
        start, end = (int(value) for value in span)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: query {query!r}: malformed relevant_text_span {span!r}") from None
    if not 0 <= start <= end < turns:
        raise DatasetError(f"{path}: query {query!r}: span {span!r} is outside the {turns} turns")
    return range(start, end + 1)


def turn_line(speaker: str, content: str) -> str:
    return f"{speaker}: {content}" if speaker else content


def load_qmsum(folder: Path) -> Dataset:
    """One transcript document per meeting file; its specific queries (with the turns that answer them)
    and general queries, each with the reference summary as reference answer."""
    files = tuple(sorted(folder.glob("*.json")))
    if not files:
        raise DatasetError(f"{folder}: no meeting .json files")
    docs: list[CorpusDoc] = []
    questions: list[EvalQuestion] = []
    for path in files:
        try:
            meeting = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
        if not isinstance(meeting, dict):
            raise DatasetError(f"{path}: expected a JSON object")
        for key in ("meeting_transcripts", "specific_query_list", "general_query_list"):
            if not isinstance(meeting.get(key), list):
                raise DatasetError(f"{path}: missing list {key!r}")
        turns = tuple(
            (str(turn.get("speaker") or ""), str(turn.get("content") or "").strip())
            for turn in meeting["meeting_transcripts"]
            if isinstance(turn, dict)
        )
        if not any(text for _, text in turns):
            raise DatasetError(f"{path}: the transcript has no text")
        doc = CorpusDoc(path.stem, path.stem, turns=turns)
        docs.append(doc)
        for kind, entries in (("s", meeting["specific_query_list"]), ("g", meeting["general_query_list"])):
            for index, entry in enumerate(entries):
                if not isinstance(entry, dict) or not str(entry.get("query") or "").strip():
                    raise DatasetError(f"{path}: {kind}{index}: a query entry without 'query'")
                query = str(entry["query"]).strip()
                spans = [
                    _qmsum_span(path, query, span, len(turns))
                    for span in entry.get("relevant_text_span") or []
                ]
                questions.append(
                    EvalQuestion(
                        key=f"{path.stem}/{kind}{index}",
                        question=query,
                        reference_answer=str(entry.get("answer") or "").strip() or None,
                        reference_contexts=tuple(
                            "\n".join(turn_line(*turns[i]) for i in span if turns[i][1]) for span in spans
                        ),
                        scope=doc.id,
                        relevant_turns=frozenset(i for span in spans for i in span),
                    )
                )
    if not questions:
        raise DatasetError(f"{folder}: the meetings have no queries")
    name = folder.resolve().parent.name if folder.name in {"val", "test", "train"} else folder.resolve().name
    split = folder.name if folder.name in {"val", "test", "train"} else None
    return Dataset(
        name=name,
        format=QMSUM,
        path=folder,
        split=split,
        files=files,
        corpus_files=files,
        docs=tuple(docs),
        questions=tuple(questions),
    )


# --------------------------------------------------------------------------------------------- project


def _yaml_item_lines(text: str, key: str) -> list[int]:
    """Line numbers of the items of the top-level list `key` (or of the top-level list itself)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    node = root
    if isinstance(root, yaml.MappingNode):
        node = next((value for name, value in root.value if name.value == key), None)
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in node.value]


def _read_project_file(path: Path) -> tuple[str | None, list[tuple[int, Any]], list[tuple[int, Any]]]:
    """(name, [(line, question)], [(line, document)]) from a YAML or JSONL question file."""
    if path.suffix == ".jsonl":
        return None, list(read_jsonl(path)), []
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DatasetError(f"{path}{where}: malformed YAML ({problem})") from None
    if isinstance(data, list):
        return None, list(zip(_yaml_item_lines(text, ""), data, strict=False)), []
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a list of questions or a mapping with 'questions'")
    questions, documents = data.get("questions") or [], data.get("documents") or []
    if not isinstance(questions, list) or not isinstance(documents, list):
        raise DatasetError(f"{path}: 'questions' and 'documents' must be lists")
    name = str(data["name"]) if data.get("name") else None
    return (
        name,
        list(zip(_yaml_item_lines(text, "questions"), questions, strict=False)),
        list(zip(_yaml_item_lines(text, "documents"), documents, strict=False)),
    )


def _string_list(path: Path, line: int, entry: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DatasetError(f"{path}:{line}: {key!r} must be a list of strings")
    return tuple(item.strip() for item in value if item.strip())


def load_project(path: Path) -> Dataset:
    """A hand-written question file: `{question, reference_answer?, reference_contexts?,
    reference_documents?}` per question, as a YAML list, a YAML mapping with `questions` (and optionally
    `documents` and `name`), or JSONL. Documents come from the YAML `documents` list (`{id?, title?, text}`
    or `{path}`) and from a `documents/` folder beside the file (.md, .txt)."""
    name, raw_questions, raw_documents = _read_project_file(path)
    files = [path]
    docs: dict[str, CorpusDoc] = {}
    for line, entry in raw_documents:
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}:{line}: a document must be a mapping")
        text = entry.get("text")
        if entry.get("path"):
            source = (path.parent / str(entry["path"])).resolve()
            if not source.is_file():
                raise DatasetError(f"{path}:{line}: document file {entry['path']} does not exist")
            files.append(source)
            text = source.read_text(encoding="utf-8")
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(f"{path}:{line}: a document needs a non-empty 'text' (or 'path')")
        doc_id = str(entry.get("id") or entry.get("path") or f"doc{len(docs) + 1}")
        if doc_id in docs:
            raise DatasetError(f"{path}:{line}: duplicate document id {doc_id!r}")
        docs[doc_id] = CorpusDoc(doc_id, str(entry.get("title") or doc_id), text.strip())
    folder = path.parent / "documents"
    for source in sorted(folder.glob("*")) if folder.is_dir() else []:
        if source.suffix in DOCUMENT_SUFFIXES and source.name not in docs:
            files.append(source)
            docs[source.name] = CorpusDoc(
                source.name, source.stem, source.read_text(encoding="utf-8").strip()
            )
    questions: list[EvalQuestion] = []
    for line, entry in raw_questions:
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}:{line}: a question must be a mapping with 'question'")
        question = entry.get("question")
        if not isinstance(question, str) or not question.strip():
            raise DatasetError(f"{path}:{line}: missing or empty 'question'")
        answer = entry.get("reference_answer")
        if answer is not None and not isinstance(answer, str):
            raise DatasetError(f"{path}:{line}: 'reference_answer' must be a string")
        relevant = _string_list(path, line, entry, "reference_documents")
        unknown = [doc for doc in relevant if doc not in docs]
        if unknown:
            raise DatasetError(f"{path}:{line}: reference_documents {', '.join(unknown)} are not documents")
        key = str(entry.get("id") or f"q{len(questions) + 1}")
        if any(q.key == key for q in questions):
            raise DatasetError(f"{path}:{line}: duplicate question id {key!r}")
        questions.append(
            EvalQuestion(
                key=key,
                question=question.strip(),
                relevant={doc: 1 for doc in relevant},
                reference_answer=(answer or "").strip() or None,
                reference_contexts=_string_list(path, line, entry, "reference_contexts"),
            )
        )
    if not questions:
        raise DatasetError(f"{path}: no questions")
    if not docs:
        raise DatasetError(f"{path}: no documents to search (a 'documents' list or a documents/ folder)")
    default_name = path.parent.name if path.name in PROJECT_FILES else path.stem
    return Dataset(
        name=name or default_name,
        format=PROJECT,
        path=path,
        split=None,
        files=tuple(files),
        corpus_files=tuple(files),
        docs=tuple(docs.values()),
        questions=tuple(questions),
    )

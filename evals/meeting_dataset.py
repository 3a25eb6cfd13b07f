"""The meetings dataset (evals/datasets/reuniones): clients, projects, documents and meeting transcripts to
create through the public API, with questions, graded search queries and gold commitments to score the
product against. Bad input raises DatasetError naming the file and line.

Layout of a dataset folder (README.md in the folder says more):
    dataset.yaml        clients, projects (with their documents), meetings (with a transcript file each)
    transcripts/*.json  JSON segments in the format `POST /transcriptions/upload/{meeting_id}` accepts
    documents/*.md      project documents
    questions.yaml      questions for /ai/ask with key facts and supporting passages
    search.yaml         graded queries for /ai/search and /search
    commitments.yaml    the commitments each meeting makes, and where they stand after the last meeting
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import yaml

from core.models import ClientStatus, Priority, ProjectStatus
from evals.loaders import MEETINGS_MARKER, DatasetError
from meetings.transcripts import Segment, TranscriptFormatError, parse_json_segments

DEFAULT_DATASET = Path(__file__).resolve().parent / "datasets" / "reuniones"
FILES = (MEETINGS_MARKER, "questions.yaml", "search.yaml", "commitments.yaml")
ANSWERABLE = ("factual", "numeric", "document", "cross_meeting", "commitment_status")
ABSTAIN = ("unanswerable", "other_project")
QUESTION_TYPES = ANSWERABLE + ABSTAIN
SPLITS = ("dev", "test")
COMMITMENT_STATUSES = ("open", "done", "moved")
GRADES = (1, 2)


def is_meetings_dataset(path: Path) -> bool:
    return path.is_dir() and (path / MEETINGS_MARKER).is_file()


# --------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Ref:
    """A passage of the dataset: segments of a meeting, a whole meeting, a document, or a project's
    description. `segments` is empty for everything but meeting passages."""

    kind: str  # meeting | document | project
    target: str
    segments: tuple[int, ...] = ()

    def units(self) -> list[Unit]:
        if self.kind == "meeting" and self.segments:
            return [("segment", self.target, index) for index in self.segments]
        return [(self.kind, self.target, -1)]


# A scoring unit: ("segment", meeting id, index), ("document", id, -1), ("project", id, -1) or
# ("meeting", id, -1) for a meeting as a whole.
Unit = tuple[str, str, int]


@dataclass(frozen=True)
class GradedRef:
    ref: Ref
    grade: int


@dataclass(frozen=True)
class ClientSpec:
    id: str
    fields: Mapping[str, Any]  # the body of POST /clients


@dataclass(frozen=True)
class DocumentSpec:
    id: str
    project: str
    title: str
    path: Path
    content: str


@dataclass(frozen=True)
class ProjectSpec:
    id: str
    client: str | None
    fields: Mapping[str, Any]  # the body of POST /projects (without client_id)
    documents: tuple[DocumentSpec, ...]


@dataclass(frozen=True)
class MeetingSpec:
    id: str
    project: str
    title: str
    start: datetime
    end: datetime | None
    language: str | None
    transcript: Path
    segments: tuple[Segment, ...]

    def segments_between(self, start: float, end: float) -> list[int]:
        """Indices of the segments a span of [start, end] seconds covers (those it overlaps for most of
        their length, or that lie inside it), so a citation's times map back onto segments."""
        covered = []
        for index, segment in enumerate(self.segments):
            s, e = float(segment["start"]), float(segment["end"])
            overlap = min(e, end) - max(s, start)
            if overlap > 0.5 * max(e - s, 1e-6) or (s >= start and e <= end):
                covered.append(index)
        return covered


@dataclass(frozen=True)
class Question:
    id: str
    project: str
    type: str
    split: str
    question: str
    key_facts: tuple[tuple[str, ...], ...]
    supporting: tuple[Ref, ...]
    reference_answer: str | None
    other_project: str | None = None
    leak_facts: tuple[tuple[str, ...], ...] = ()

    @property
    def answerable(self) -> bool:
        return self.type in ANSWERABLE


@dataclass(frozen=True)
class SearchQuery:
    id: str
    query: str
    project: str | None  # None: the global search over every project the caller sees
    split: str
    relevant: tuple[GradedRef, ...]


@dataclass(frozen=True)
class GoldCommitment:
    meeting: str
    owner: str
    task: str
    due: date | None
    segments: tuple[int, ...]
    status: str
    moved_to: date | None = None
    evidence: Ref | None = None


@dataclass(frozen=True)
class MeetingsDataset:
    name: str
    path: Path
    files: tuple[Path, ...]
    clients: tuple[ClientSpec, ...]
    projects: tuple[ProjectSpec, ...]
    meetings: tuple[MeetingSpec, ...]
    questions: tuple[Question, ...]
    queries: tuple[SearchQuery, ...]
    commitments: tuple[GoldCommitment, ...]
    split: str = "all"
    slice_label: str = ""

    @cached_property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(str(path.relative_to(self.path)).encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(f"{self.split}:{self.slice_label}".encode())
        return digest.hexdigest()

    @property
    def segment_count(self) -> int:
        return sum(len(meeting.segments) for meeting in self.meetings)

    def meeting(self, meeting_id: str) -> MeetingSpec:
        return next(m for m in self.meetings if m.id == meeting_id)

    def with_split(self, split: str) -> MeetingsDataset:
        """Only the questions and queries of `split` (dev, test or all); the world stays whole."""
        if split == "all":
            return self
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r} (dev, test or all)")
        return replace(
            self,
            questions=tuple(q for q in self.questions if q.split == split),
            queries=tuple(q for q in self.queries if q.split == split),
            split=split,
        )

    def sliced(self, *, meetings: Iterable[str], label: str) -> MeetingsDataset:
        """Only these meetings, their projects (and documents), and the questions, queries and
        commitments that need nothing else."""
        keep = set(meetings)
        unknown = keep - {m.id for m in self.meetings}
        if unknown:
            raise DatasetError(f"{self.path}: no meetings {', '.join(sorted(unknown))}")
        kept_meetings = tuple(m for m in self.meetings if m.id in keep)
        projects = {m.project for m in kept_meetings}

        def inside(refs: Iterable[Ref]) -> bool:
            return all(
                (ref.kind == "meeting" and ref.target in keep)
                or (ref.kind == "project" and ref.target in projects)
                or (ref.kind == "document" and self._document_project(ref.target) in projects)
                for ref in refs
            )

        questions = tuple(
            q
            for q in self.questions
            if q.project in projects
            and inside(q.supporting)
            and (q.other_project is None or q.other_project in projects)
        )
        queries = tuple(
            q
            for q in self.queries
            if (q.project is None or q.project in projects) and inside(g.ref for g in q.relevant)
        )
        return replace(
            self,
            name=f"{self.name}-{label}",
            projects=tuple(p for p in self.projects if p.id in projects),
            clients=tuple(
                c for c in self.clients if any(p.client == c.id for p in self.projects if p.id in projects)
            ),
            meetings=kept_meetings,
            questions=questions,
            queries=queries,
            commitments=tuple(c for c in self.commitments if c.meeting in keep),
            slice_label=label,
        )

    def _document_project(self, document_id: str) -> str | None:
        return next(
            (p.id for p in self.projects for d in p.documents if d.id == document_id),
            None,
        )

    def text_of(self, ref: Ref) -> str:
        """The words of a passage (to check that key facts are where the dataset says they are)."""
        if ref.kind == "meeting":
            meeting = self.meeting(ref.target)
            indices = ref.segments or range(len(meeting.segments))
            return "\n".join(str(meeting.segments[i]["text"]) for i in indices)
        if ref.kind == "document":
            return next(d.content for p in self.projects for d in p.documents if d.id == ref.target)
        project = next(p for p in self.projects if p.id == ref.target)
        return str(project.fields.get("description") or "")

    def project_text(self, project_id: str) -> str:
        """Everything the project holds: description, documents and transcripts."""
        parts = [self.text_of(Ref("project", project_id))]
        parts += [d.content for p in self.projects if p.id == project_id for d in p.documents]
        parts += [self.text_of(Ref("meeting", m.id)) for m in self.meetings if m.project == project_id]
        return "\n".join(parts)


# --------------------------------------------------------------------------------------------- YAML


class _Mapping(dict[str, Any]):
    """A YAML mapping that remembers the line it starts on."""

    line = 0


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Mapping:
    mapping = _Mapping(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise DatasetError(
            f"{path}{where}: malformed YAML ({getattr(exc, 'problem', None) or exc})"
        ) from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text") from None


class _Reader:
    """Field access on one YAML mapping, with errors that name the file and the mapping's line."""

    def __init__(self, path: Path, entry: Any, what: str, *, line: int = 0) -> None:
        self.path = path
        self.line = entry.line if isinstance(entry, _Mapping) else line
        if not isinstance(entry, dict):
            self.fail(f"{what} must be a mapping")
        self.entry: dict[str, Any] = entry

    def fail(self, message: str) -> NoReturn:
        where = f":{self.line}" if self.line else ""
        raise DatasetError(f"{self.path}{where}: {message}")

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.entry.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"missing or empty {key!r}")
        return value.strip()

    def required(self, key: str) -> str:
        value = self.entry.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"missing or empty {key!r}")
        return value.strip()

    def choice(self, key: str, choices: Sequence[str]) -> str:
        value = self.required(key)
        if value not in choices:
            self.fail(f"{key} {value!r} is not one of {', '.join(choices)}")
        return value

    def date(self, key: str) -> date | None:
        value = self.entry.get(key)
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return date.fromisoformat(value)
        self.fail(f"{key} must be an ISO date (YYYY-MM-DD) or null, got {value!r}")

    def moment(self, key: str, *, required: bool = True) -> datetime | None:
        value = self.entry.get(key)
        if value is None and not required:
            return None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value)
        if not isinstance(value, datetime) or value.tzinfo is None:
            self.fail(f"{key} must be an ISO date-time with a UTC offset, e.g. 2026-09-15T10:00:00+02:00")
        return value

    def facts(self, key: str) -> tuple[tuple[str, ...], ...]:
        """A list of facts, each a non-empty list of surface forms (strings)."""
        value = self.entry.get(key) or []
        if not isinstance(value, list):
            self.fail(f"{key!r} must be a list of facts (each a list of acceptable forms)")
        facts = []
        for fact in value:
            forms = [fact] if isinstance(fact, str) else fact
            if (
                not isinstance(forms, list)
                or not forms
                or not all(isinstance(f, str) and f.strip() for f in forms)
            ):
                self.fail(
                    f'{key!r}: every fact must be a non-empty list of strings (quote numbers: "18.500"); '
                    f"got {fact!r}"
                )
            facts.append(tuple(form.strip() for form in forms))
        return tuple(facts)


# --------------------------------------------------------------------------------------------- loading


def load_meetings_dataset(folder: Path) -> MeetingsDataset:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    world_path = folder / MEETINGS_MARKER
    world = _read_yaml(world_path)
    if not isinstance(world, dict):
        raise DatasetError(f"{world_path}: expected a mapping with clients, projects and meetings")
    files = [world_path]
    clients = _clients(world_path, world.get("clients") or [])
    projects, documents = _projects(world_path, world.get("projects"), clients, files)
    meetings = _meetings(world_path, world.get("meetings"), projects, files)
    checker = _RefChecker(meetings, documents, projects)
    questions = _questions(folder / "questions.yaml", checker, projects)
    queries = _queries(folder / "search.yaml", checker)
    commitments = _commitments(folder / "commitments.yaml", checker)
    files += [folder / name for name in FILES[1:]]
    return MeetingsDataset(
        name=str(world.get("name") or folder.resolve().name),
        path=folder,
        files=tuple(files),
        clients=tuple(clients.values()),
        projects=tuple(projects.values()),
        meetings=tuple(meetings.values()),
        questions=questions,
        queries=queries,
        commitments=commitments,
    )


def _list(path: Path, value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise DatasetError(f"{path}: {what!r} must be a non-empty list")
    return value


def _unique(reader: _Reader, seen: Mapping[str, Any], what: str) -> str:
    identifier = reader.required("id")
    if identifier in seen:
        reader.fail(f"duplicate {what} id {identifier!r}")
    return identifier


CLIENT_FIELDS = ("company", "email", "phone", "address", "city", "country", "status", "priority")
PROJECT_FIELDS = (
    "description",
    "status",
    "progress",
    "priority",
    "start_date",
    "end_date",
    "deadline",
    "budget",
    "hourly_rate",
    "estimated_hours",
    "actual_hours",
)


# The API fields whose values are the product's enums: a value the API would refuse (422) is reported
# here, with its file and line, before anything starts.
CLIENT_CHOICES: dict[str, tuple[str, ...]] = {"status": tuple(ClientStatus), "priority": tuple(Priority)}
PROJECT_CHOICES: dict[str, tuple[str, ...]] = {"status": tuple(ProjectStatus), "priority": tuple(Priority)}


def _api_fields(
    reader: _Reader, names: Sequence[str], choices: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The entry's API fields as JSON values (dates as ISO strings), enum values checked."""
    fields = {}
    for name in names:
        value = reader.entry.get(name)
        if value is not None:
            if name in choices:
                reader.choice(name, choices[name])
            fields[name] = value.isoformat() if isinstance(value, date) else value
    return fields


def _clients(path: Path, raw: Any) -> dict[str, ClientSpec]:
    if not isinstance(raw, list):
        raise DatasetError(f"{path}: 'clients' must be a list")
    clients: dict[str, ClientSpec] = {}
    for entry in raw:
        reader = _Reader(path, entry, "a client")
        client_id = _unique(reader, clients, "client")
        clients[client_id] = ClientSpec(
            client_id, {"name": reader.required("name"), **_api_fields(reader, CLIENT_FIELDS, CLIENT_CHOICES)}
        )
    return clients


def _projects(
    path: Path, raw: Any, clients: Mapping[str, ClientSpec], files: list[Path]
) -> tuple[dict[str, ProjectSpec], dict[str, DocumentSpec]]:
    projects: dict[str, ProjectSpec] = {}
    documents: dict[str, DocumentSpec] = {}
    for entry in _list(path, raw, "projects"):
        reader = _Reader(path, entry, "a project")
        project_id = _unique(reader, projects, "project")
        client = reader.text("client", required=False)
        if client is not None and client not in clients:
            reader.fail(f"client {client!r} is not in 'clients'")
        docs = []
        for raw_doc in entry.get("documents") or []:
            doc_reader = _Reader(path, raw_doc, "a document", line=reader.line)
            doc_id = _unique(doc_reader, documents, "document")
            source = path.parent / doc_reader.required("path")
            if not source.is_file():
                doc_reader.fail(f"document file {doc_reader.required('path')} does not exist")
            content = source.read_text(encoding="utf-8").strip()
            if not content:
                doc_reader.fail(f"document file {doc_reader.required('path')} is empty")
            files.append(source)
            documents[doc_id] = DocumentSpec(
                doc_id, project_id, doc_reader.required("title"), source, content
            )
            docs.append(documents[doc_id])
        projects[project_id] = ProjectSpec(
            project_id,
            client,
            {"title": reader.required("title"), **_api_fields(reader, PROJECT_FIELDS, PROJECT_CHOICES)},
            tuple(docs),
        )
    return projects, documents


def _meetings(
    path: Path, raw: Any, projects: Mapping[str, ProjectSpec], files: list[Path]
) -> dict[str, MeetingSpec]:
    meetings: dict[str, MeetingSpec] = {}
    for entry in _list(path, raw, "meetings"):
        reader = _Reader(path, entry, "a meeting")
        meeting_id = _unique(reader, meetings, "meeting")
        project = reader.required("project")
        if project not in projects:
            reader.fail(f"project {project!r} is not in 'projects'")
        start = reader.moment("start")
        end = reader.moment("end", required=False)
        assert start is not None
        if end is not None and end < start:
            reader.fail("end is before start")
        transcript = path.parent / reader.required("transcript")
        if not transcript.is_file():
            reader.fail(f"transcript file {reader.required('transcript')} does not exist")
        files.append(transcript)
        meetings[meeting_id] = MeetingSpec(
            id=meeting_id,
            project=project,
            title=reader.required("title"),
            start=start,
            end=end,
            language=reader.text("language", required=False),
            transcript=transcript,
            segments=tuple(read_transcript(transcript)),
        )
    return meetings


def read_transcript(path: Path) -> list[Segment]:
    """The transcript exactly as the upload endpoint parses it. Every segment must have text, so that
    segment indices here are the indices the product stores."""
    raw = path.read_bytes()
    try:
        segments = parse_json_segments(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text") from None
    except TranscriptFormatError as exc:
        where = f":{exc.line}" if exc.line else ""
        raise DatasetError(f"{path}{where}: {exc.reason}") from None
    listed = json.loads(raw)
    count = len(listed["segments"] if isinstance(listed, dict) else listed)
    if count != len(segments):
        raise DatasetError(f"{path}: {count - len(segments)} segment(s) without text would shift indices")
    return segments


class _RefChecker:
    """Turns `{meeting, segments}`, `{document}` or `{project}` entries into Refs, checking targets."""

    def __init__(
        self,
        meetings: Mapping[str, MeetingSpec],
        documents: Mapping[str, DocumentSpec],
        projects: Mapping[str, ProjectSpec],
    ) -> None:
        self.meetings, self.documents, self.projects = meetings, documents, projects

    def ref(self, reader: _Reader, entry: Any, key: str) -> Ref:
        if not isinstance(entry, dict):
            reader.fail(
                f"{key!r}: expected {{meeting, segments}}, {{document}} or {{project}}, got {entry!r}"
            )
        kinds = [kind for kind in ("meeting", "document", "project") if kind in entry]
        if len(kinds) != 1:
            reader.fail(f"{key!r}: each entry names one meeting, document or project, got {dict(entry)!r}")
        kind = kinds[0]
        target = str(entry[kind])
        known: Mapping[str, Any] = {
            "meeting": self.meetings,
            "document": self.documents,
            "project": self.projects,
        }[kind]
        if target not in known:
            reader.fail(f"{key!r}: unknown {kind} {target!r}")
        segments: tuple[int, ...] = ()
        if kind == "meeting" and entry.get("segments") is not None:
            raw = entry["segments"]
            total = len(self.meetings[target].segments)
            if (
                not isinstance(raw, list)
                or not raw
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw)
            ):
                reader.fail(f"{key!r}: segments of {target} must be a non-empty list of indices")
            bad = [i for i in raw if not 0 <= i < total]
            if bad:
                reader.fail(f"{key!r}: {target} has segments 0-{total - 1}; {bad} are outside")
            segments = tuple(sorted(set(raw)))
        return Ref(kind, target, segments)

    def refs(self, reader: _Reader, key: str, *, required: bool) -> tuple[Ref, ...]:
        raw = reader.entry.get(key) or []
        if not isinstance(raw, list) or (required and not raw):
            reader.fail(f"{key!r} must be a non-empty list")
        return tuple(self.ref(reader, entry, key) for entry in raw)

    def project_of(self, ref: Ref) -> str:
        if ref.kind == "meeting":
            return self.meetings[ref.target].project
        if ref.kind == "document":
            return self.documents[ref.target].project
        return ref.target


def _entries(path: Path, key: str) -> list[Any]:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a mapping with {key!r}")
    return _list(path, data.get(key), key)


def _questions(path: Path, checker: _RefChecker, projects: Mapping[str, ProjectSpec]) -> tuple[Question, ...]:
    questions: dict[str, Question] = {}
    for entry in _entries(path, "questions"):
        reader = _Reader(path, entry, "a question")
        question_id = _unique(reader, questions, "question")
        project = reader.required("project")
        if project not in projects:
            reader.fail(f"project {project!r} is not in dataset.yaml")
        kind = reader.choice("type", QUESTION_TYPES)
        key_facts = reader.facts("key_facts")
        if kind in ANSWERABLE and not key_facts:
            reader.fail(f"a {kind} question needs key_facts")
        if kind in ABSTAIN and key_facts:
            reader.fail(f"a {kind} question must abstain: key_facts must be empty")
        supporting = checker.refs(reader, "supporting", required=kind != "unanswerable")
        other = reader.text("other_project", required=False)
        leak_facts = reader.facts("leak_facts")
        if kind == "other_project":
            if other not in projects or other == project:
                reader.fail(
                    "an other_project question names another project of the dataset in 'other_project'"
                )
            assert other is not None
            if projects[other].client is None or projects[other].client != projects[project].client:
                reader.fail(f"projects {project!r} and {other!r} do not share a client")
            if not leak_facts:
                reader.fail("an other_project question needs leak_facts (what the other project holds)")
            wrong = [ref.target for ref in supporting if checker.project_of(ref) != other]
            if wrong:
                reader.fail(f"supporting passages {wrong} are not in project {other!r}")
        elif other is not None or leak_facts:
            reader.fail("only other_project questions have other_project and leak_facts")
        else:
            wrong = [ref.target for ref in supporting if checker.project_of(ref) != project]
            if wrong:
                reader.fail(f"supporting passages {wrong} are not in project {project!r}")
        questions[question_id] = Question(
            id=question_id,
            project=project,
            type=kind,
            split=reader.choice("split", SPLITS),
            question=reader.required("question"),
            key_facts=key_facts,
            supporting=supporting,
            reference_answer=reader.text("reference_answer", required=False),
            other_project=other,
            leak_facts=leak_facts,
        )
    return tuple(questions.values())


def _queries(path: Path, checker: _RefChecker) -> tuple[SearchQuery, ...]:
    queries: dict[str, SearchQuery] = {}
    for entry in _entries(path, "queries"):
        reader = _Reader(path, entry, "a query")
        query_id = _unique(reader, queries, "query")
        project = reader.text("project", required=False)
        if project is not None and project not in checker.projects:
            reader.fail(f"project {project!r} is not in dataset.yaml")
        raw = entry.get("relevant")
        if not isinstance(raw, list) or not raw:
            reader.fail("'relevant' must be a non-empty list")
        relevant = []
        for item in raw:
            ref = checker.ref(reader, {k: v for k, v in item.items() if k != "grade"}, "relevant")
            grade = item.get("grade")
            if grade not in GRADES or isinstance(grade, bool):
                reader.fail(f"'relevant': grade must be 1 (related) or 2 (key), got {grade!r}")
            if project is not None and checker.project_of(ref) != project:
                reader.fail(f"'relevant': {ref.target} is not in project {project!r}")
            relevant.append(GradedRef(ref, int(grade)))
        if not any(g.grade == 2 for g in relevant):
            reader.fail("a query needs at least one key passage (grade 2)")
        queries[query_id] = SearchQuery(
            id=query_id,
            query=reader.required("query"),
            project=project,
            split=reader.choice("split", SPLITS),
            relevant=tuple(relevant),
        )
    return tuple(queries.values())


def _commitments(path: Path, checker: _RefChecker) -> tuple[GoldCommitment, ...]:
    commitments: list[GoldCommitment] = []
    seen_meetings: set[str] = set()
    for entry in _entries(path, "meetings"):
        reader = _Reader(path, entry, "a meeting's commitments")
        meeting = reader.required("meeting")
        if meeting not in checker.meetings:
            reader.fail(f"meeting {meeting!r} is not in dataset.yaml")
        if meeting in seen_meetings:
            reader.fail(f"meeting {meeting!r} is listed twice")
        seen_meetings.add(meeting)
        raw = entry.get("commitments")
        if not isinstance(raw, list):
            reader.fail("'commitments' must be a list (empty when the meeting made none)")
        for item in raw:
            item_reader = _Reader(path, item, "a commitment", line=reader.line)
            status = item_reader.choice("status", COMMITMENT_STATUSES)
            moved_to = item_reader.date("moved_to")
            if (status == "moved") != (moved_to is not None):
                item_reader.fail("a moved commitment has moved_to, and only a moved one")
            where = checker.ref(
                item_reader, {"meeting": meeting, "segments": item.get("segments")}, "segments"
            )
            if not where.segments:
                item_reader.fail("a commitment names the segments that state it")
            evidence = (
                checker.ref(item_reader, item["evidence"], "evidence") if item.get("evidence") else None
            )
            if status != "open" and evidence is None:
                item_reader.fail(f"a {status} commitment needs the evidence of a later meeting")
            commitments.append(
                GoldCommitment(
                    meeting=meeting,
                    owner=item_reader.required("owner"),
                    task=item_reader.required("task"),
                    due=item_reader.date("due"),
                    segments=where.segments,
                    status=status,
                    moved_to=moved_to,
                    evidence=evidence,
                )
            )
    return tuple(commitments)

"""The meetings eval, through the public HTTP API only, as a user would: register, create the clients,
projects, documents and meetings of the dataset, upload each transcript in meeting order (a later meeting
closes commitments of an earlier one), wait until everything is summarised and indexed, then ask every
question, run every search query and read the commitment ledger; scoring is evals/meeting_scoring.py.

The same code drives a running server (`--base-url`) or the product started in this process
(v1tr0/stack.py): it only sees an httpx client.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from statistics import mean
from typing import Any

import httpx
from tqdm import tqdm

from evals.meeting_dataset import ABSTAIN, ANSWERABLE, MeetingsDataset, Question, SearchQuery
from evals.meeting_scoring import (
    LedgerRow,
    WorldIds,
    abstained,
    citation_precision,
    commitment_metrics,
    facts_present,
    key_coverage,
    leaks,
    match_commitments,
    ndcg,
    source_units,
)

API = "/api/v1"
RETRIES_ON_429 = 30
POLL_INTERVAL = 0.5
LEDGER_PAGE = 100


class ApiError(RuntimeError):
    """The API answered something the eval cannot go on from (the message says what and where)."""


@dataclass
class ApiClient:
    """JSON requests with the user's token; a 429 waits for its Retry-After (the server's AI rate limits
    may not be lifted), anything else unexpected is an ApiError."""

    http: httpx.AsyncClient
    token: str | None = None
    requests: int = 0

    async def call(self, method: str, path: str, *, expect: Sequence[int] = (200,), **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        for _ in range(RETRIES_ON_429):
            self.requests += 1
            response = await self.http.request(method, f"{API}{path}", headers=headers, **kwargs)
            if response.status_code != 429:
                break
            await asyncio.sleep(min(float(response.headers.get("retry-after") or 1), 60.0))
        if response.status_code not in expect:
            raise ApiError(f"{method} {API}{path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None


# --------------------------------------------------------------------------------------------- the world


@dataclass
class World:
    """What the eval created: dataset id -> API id."""

    clients: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)
    meetings: dict[str, str] = field(default_factory=dict)
    transcriptions: dict[str, str] = field(default_factory=dict)

    def ids(self, dataset: MeetingsDataset) -> WorldIds:
        return WorldIds(
            projects={api: ds for ds, api in self.projects.items()},
            documents={api: ds for ds, api in self.documents.items()},
            meetings={api: dataset.meeting(ds) for ds, api in self.meetings.items()},
        )


async def sign_up(api: ApiClient) -> str:
    """A fresh local user for this run (the eval never sees anyone else's projects); returns its email."""
    email = f"eval-meetings-{uuid.uuid4().hex[:12]}@example.com"
    password = secrets.token_urlsafe(18)
    await api.call(
        "POST",
        "/auth/register",
        expect=(201,),
        json={"email": email, "password": password, "full_name": "Eval Reuniones"},
    )
    tokens = await api.call("POST", "/auth/login", json={"email": email, "password": password})
    api.token = tokens["access_token"]
    return email


async def build_world(
    api: ApiClient,
    dataset: MeetingsDataset,
    *,
    settle_within: float,
    progress: Callable[[str], None] = lambda _: None,
) -> World:
    world = World()
    for client in dataset.clients:
        world.clients[client.id] = (
            await api.call("POST", "/clients", expect=(201,), json=dict(client.fields))
        )["id"]
    for project in dataset.projects:
        body = dict(project.fields)
        if project.client:
            body["client_id"] = world.clients[project.client]
        world.projects[project.id] = (await api.call("POST", "/projects", expect=(201,), json=body))["id"]
        for document in project.documents:
            created = await api.call(
                "POST",
                f"/projects/{world.projects[project.id]}/documents",
                expect=(201,),
                json={"title": document.title, "content": document.content},
            )
            world.documents[document.id] = created["id"]
    for meeting in sorted(dataset.meetings, key=lambda m: m.start):
        body = {
            "project_id": world.projects[meeting.project],
            "title": meeting.title,
            "start_time": meeting.start.isoformat(),
        }
        if meeting.end:
            body["end_time"] = meeting.end.isoformat()
        world.meetings[meeting.id] = (await api.call("POST", "/meetings", expect=(201,), json=body))["id"]
        form = {"language": meeting.language} if meeting.language else {}
        accepted = await api.call(
            "POST",
            f"/transcriptions/upload/{world.meetings[meeting.id]}",
            expect=(202,),
            files={"file": (meeting.transcript.name, meeting.transcript.read_bytes(), "application/json")},
            data=form,
        )
        world.transcriptions[meeting.id] = accepted["id"]
        # One meeting at a time, as they happen: its summary must be in the ledger before the next
        # meeting can say that one of its commitments is done.
        await _until(
            partial(_transcribed, api, accepted["id"]),
            what=f"the transcription of {meeting.id}",
            settle_within=settle_within,
        )
        progress(f"{meeting.id}: summarised")
    await _until(lambda: _indexed(api, world), what="the projects' index", settle_within=settle_within)
    progress("indexed")
    return world


async def _transcribed(api: ApiClient, transcription_id: str) -> bool:
    body = await api.call("GET", f"/transcriptions/{transcription_id}")
    if body["processing_status"] == "failed":
        raise ApiError(f"transcription {transcription_id} failed: {body.get('error')}")
    return bool(body["processing_status"] == "completed")


async def _indexed(api: ApiClient, world: World) -> bool:
    for project_id in world.projects.values():
        status = await api.call("GET", f"/projects/{project_id}/index-status")
        if status["failed"]:
            raise ApiError(f"project {project_id}: {status['failed']} changes failed to index")
        if status["pending"]:
            return False
    return True


async def _until(check: Callable[[], Awaitable[bool]], *, what: str, settle_within: float) -> None:
    deadline = time.monotonic() + settle_within
    while not await check():
        if time.monotonic() > deadline:
            raise ApiError(f"timed out after {settle_within:.0f} s waiting for {what}")
        await asyncio.sleep(POLL_INTERVAL)


async def delete_world(api: ApiClient, world: World) -> None:
    for project_id in world.projects.values():
        await api.call("DELETE", f"/projects/{project_id}", expect=(204, 404))
    for client_id in world.clients.values():
        await api.call("DELETE", f"/clients/{client_id}", expect=(204, 404, 409))


# --------------------------------------------------------------------------------------------- measuring


@dataclass
class Measured:
    """Per-item results (stored with the run) and the flat metrics."""

    questions: list[dict[str, Any]]
    queries: list[dict[str, Any]]
    commitments: dict[str, Any]
    ledger: list[dict[str, Any]]  # every ledger row, with the gold commitment it matched (if any)
    metrics: dict[str, Any]
    provider: str | None
    model: str | None
    embedding_model: str | None


async def ask_question(api: ApiClient, world: World, ids: WorldIds, question: Question) -> dict[str, Any]:
    project_id = world.projects[question.project]
    started = time.perf_counter()
    body = await api.call("GET", f"/ai/ask/{project_id}", params={"q": question.question})
    latency = (time.perf_counter() - started) * 1000
    return score_answer(question, body, project_id=project_id, ids=ids) | {"latency_ms": latency}


def score_answer(
    question: Question, body: Mapping[str, Any], *, project_id: str, ids: WorldIds
) -> dict[str, Any]:
    """One answer's metrics (None where a metric does not apply to its type)."""
    answer = str(body.get("answer") or "")
    cited = [source_units(citation, ids) for citation in body.get("citations") or []]
    did_abstain = abstained(body)
    present = facts_present(answer, question.key_facts)
    reasons = leaks(body, project_id=project_id, leak_facts=question.leak_facts)
    precision = citation_precision(cited, question.supporting) if question.answerable else None
    transcript_spans = [
        len(units)
        for units, c in zip(cited, body.get("citations") or [], strict=True)
        if c.get("source_type") == "transcript" and units and units[0][0] == "segment"
    ]
    return {
        "id": question.id,
        "type": question.type,
        "answer": answer,
        "abstained": did_abstain,
        "key_facts": sum(present) / len(present) if present else None,
        "key_facts_all": (1.0 if all(present) else 0.0) if present else None,
        "leak": reasons,
        "citation_precision": precision,
        "citations": len(cited),
        "cited_units": [list(unit) for units in cited for unit in units],
        "transcript_spans": transcript_spans,
        "provider": body.get("provider"),
        "model": body.get("model"),
    }


async def run_query(api: ApiClient, world: World, ids: WorldIds, query: SearchQuery) -> dict[str, Any]:
    params = {"q": query.query, "limit": 10}
    path = f"/ai/search/{world.projects[query.project]}" if query.project else "/search"
    started = time.perf_counter()
    body = await api.call("GET", path, params=params)
    latency = (time.perf_counter() - started) * 1000
    results = [source_units(result, ids) for result in body["results"]]
    return {
        "id": query.id,
        "scope": "project" if query.project else "global",
        "key_top10": key_coverage(results, query.relevant),
        "ndcg@10": ndcg(results, query.relevant),
        "results": [[list(unit) for unit in units] for units in results],
        "model": body.get("model"),
        "latency_ms": latency,
    }


async def read_ledger(api: ApiClient, world: World, ids: WorldIds) -> list[LedgerRow]:
    rows: list[LedgerRow] = []
    for project_id in world.projects.values():
        offset = 0
        while True:
            page = await api.call(
                "GET",
                f"/projects/{project_id}/commitments",
                params={"limit": LEDGER_PAGE, "offset": offset},
            )
            for item in page["items"]:
                meeting = ids.meetings.get(str(item.get("meeting_id")))
                due = item.get("due_date")
                rows.append(
                    LedgerRow(
                        meeting=meeting.id if meeting else None,
                        owner=item.get("owner_name"),
                        task=str(item.get("task") or ""),
                        due=date.fromisoformat(due) if due else None,
                        status=str(item.get("status")),
                    )
                )
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
    return rows


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return mean(known) if known else None


def summarise(
    questions: Sequence[dict[str, Any]], queries: Sequence[dict[str, Any]], commitments: Mapping[str, Any]
) -> dict[str, Any]:
    """The flat metrics: every row of the issue's table, overall and by question type (or search scope)."""
    metrics: dict[str, Any] = {}
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in questions:
        by_type[item["type"]].append(item)
    answerable = [q for q in questions if q["type"] in ANSWERABLE]
    abstaining = [q for q in questions if q["type"] in ABSTAIN]

    def put(name: str, value: float | None) -> None:
        if value is not None:
            metrics[name] = round(value, 4)

    put("key_facts", _mean([q["key_facts"] for q in answerable]))
    put("key_facts_all", _mean([q["key_facts_all"] for q in answerable]))
    for kind in ANSWERABLE:
        put(f"key_facts/{kind}", _mean([q["key_facts"] for q in by_type[kind]]))
    put("abstention", _mean([float(q["abstained"]) for q in abstaining]))
    for kind in ABSTAIN:
        put(f"abstention/{kind}", _mean([float(q["abstained"]) for q in by_type[kind]]))
        metrics[f"abstained/{kind}"] = f"{sum(q['abstained'] for q in by_type[kind])} of {len(by_type[kind])}"
    put("false_abstention", _mean([float(q["abstained"]) for q in answerable]))
    for kind in ANSWERABLE:
        put(f"false_abstention/{kind}", _mean([float(q["abstained"]) for q in by_type[kind]]))
    metrics["leaks"] = sum(1 for q in questions if q["leak"])
    # Lower-is-better rows as higher-is-better shares, so the gate's minimums apply to them too.
    if questions:
        put("leak_free", 1 - metrics["leaks"] / len(questions))
    if "false_abstention" in metrics:
        put("answered", 1 - metrics["false_abstention"])
    put("citation_precision", _mean([q["citation_precision"] for q in answerable]))
    for kind in ANSWERABLE:
        put(f"citation_precision/{kind}", _mean([q["citation_precision"] for q in by_type[kind]]))
    spans = [span for q in questions for span in q["transcript_spans"]]
    put("segments_per_cited_chunk", _mean([float(s) for s in spans]))
    put("key_top10", _mean([q["key_top10"] for q in queries]))
    put("ndcg@10", _mean([q["ndcg@10"] for q in queries]))
    for scope in ("project", "global"):
        scoped = [q for q in queries if q["scope"] == scope]
        put(f"key_top10/{scope}", _mean([q["key_top10"] for q in scoped]))
        put(f"ndcg@10/{scope}", _mean([q["ndcg@10"] for q in scoped]))
    for name, value in commitments.items():
        metrics[name] = round(value, 4) if isinstance(value, float) else value
    metrics["questions"] = len(questions)
    metrics["queries"] = len(queries)
    put("ask_p50_ms", _median([q["latency_ms"] for q in questions]))
    return metrics


def _median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


async def measure(
    api: ApiClient, dataset: MeetingsDataset, world: World, *, progress: bool = True
) -> Measured:
    ids = world.ids(dataset)
    questions = []
    for question in tqdm(dataset.questions, desc="ask", unit="q", disable=not progress):
        questions.append(await ask_question(api, world, ids, question))
    queries = []
    for query in tqdm(dataset.queries, desc="search", unit="q", disable=not progress):
        queries.append(await run_query(api, world, ids, query))
    rows = await read_ledger(api, world, ids)
    commitments = commitment_metrics(dataset.commitments, rows)
    matched = {
        m.row: (dataset.commitments[m.gold], m.similarity)
        for m in match_commitments(dataset.commitments, rows)
    }
    ledger = [
        {
            "meeting": row.meeting,
            "owner": row.owner,
            "task": row.task,
            "due": row.due.isoformat() if row.due else None,
            "status": row.status,
            "gold": (
                {
                    "owner": matched[i][0].owner,
                    "task": matched[i][0].task,
                    "similarity": round(matched[i][1], 3),
                }
                if i in matched
                else None
            ),
        }
        for i, row in enumerate(rows)
    ]
    first = questions[0] if questions else {}
    return Measured(
        questions=questions,
        queries=queries,
        commitments=commitments,
        ledger=ledger,
        metrics=summarise(questions, queries, commitments),
        provider=first.get("provider"),
        model=first.get("model"),
        embedding_model=queries[0]["model"] if queries else None,
    )


async def run_meetings_eval(
    http: httpx.AsyncClient,
    dataset: MeetingsDataset,
    *,
    settle_within: float = 1800.0,
    keep: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[Measured, dict[str, float]]:
    """Build the world through the API, measure, and (unless `keep`) delete what was created.
    Returns the measurements and timings in seconds."""
    api = ApiClient(http)
    began = time.perf_counter()
    await sign_up(api)
    world = await build_world(api, dataset, settle_within=settle_within, progress=log)
    built = time.perf_counter()
    try:
        measured = await measure(api, dataset, world, progress=progress)
    finally:
        if not keep:
            await delete_world(api, world)
    finished = time.perf_counter()
    timings = {
        "load_s": round(built - began, 1),
        "measure_s": round(finished - built, 1),
        "total_s": round(finished - began, 1),
    }
    return measured, timings

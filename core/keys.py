"""Every Redis key and pub/sub channel the API and the worker share, in one place (as arq keeps its own
in `arq.constants`): a name spelled in two processes is spelled once, here."""

from __future__ import annotations

import uuid

PREFIX = "v1tr0"
# The worker's liveness, read by /health/ready; it expires when the worker stops beating.
WORKER_HEARTBEAT = f"{PREFIX}:worker:heartbeat"
# The worker's most recent job failures (newest first, capped), read by /health/ready.
WORKER_FAILURES = f"{PREFIX}:worker:failures"
# arq's own queue (arq.constants.default_queue_name), for the queue-depth gauge.
ARQ_QUEUE = "arq:queue"

Id = uuid.UUID | str


def index_generation(project_id: Id) -> str:
    """Bumped by the worker whenever the project's index changes: part of the insights cache key."""
    return f"{PREFIX}:index-generation:{project_id}"


def insights_cache(project_id: Id, generation: str, stamp: str) -> str:
    return f"{PREFIX}:insights:{project_id}:{generation}:{stamp}"


def query_embedding(model: str, digest: str) -> str:
    return f"{PREFIX}:qemb:{model}:{digest}"


def meeting_events(meeting_id: Id) -> str:
    """Pub/sub channel of a meeting's transcription progress."""
    return f"{PREFIX}:events:meeting:{meeting_id}"


# The event feed (core/feed.py): the last event id handed out, which orders events across every stream...
FEED_CLOCK = f"{PREFIX}:feed:clock"
# ...the stream of every project's events (read, filtered, by users who see many projects)...
FEED_ALL = f"{PREFIX}:feed:all"


def project_feed(project_id: Id) -> str:
    """...and the stream of one project's events."""
    return f"{PREFIX}:feed:project:{project_id}"


def chat_stream(message_id: Id) -> str:
    """The Redis stream holding a chat answer's events (for resuming with Last-Event-ID)."""
    return f"{PREFIX}:chat:stream:{message_id}"


def chat_readers(message_id: Id) -> str:
    return f"{PREFIX}:chat:readers:{message_id}"


def chat_detached(message_id: Id) -> str:
    return f"{PREFIX}:chat:detached:{message_id}"


def chat_cancel(message_id: Id) -> str:
    return f"{PREFIX}:chat:cancel:{message_id}"


def chat_started(message_id: Id) -> str:
    return f"{PREFIX}:chat:started:{message_id}"


def rate_limit(key: str) -> str:
    return f"ratelimit:{key}"


# Held while a product runs in-process on the scratch Redis database of evals (v1tr0/stack.py): a second
# one would flush and share its queue.
LOCAL_PRODUCT_LOCK = f"{PREFIX}:local-product:lock"

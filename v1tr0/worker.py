"""The worker as `v1tr0 worker` runs it: ingestion plus the plugins of the layers above it."""

from __future__ import annotations

from ingestion.worker import WorkerPlugin


def worker_plugins() -> list[WorkerPlugin]:
    from evals.jobs import plugin as evals_plugin
    from meetings.jobs import plugin as meetings_plugin

    return [meetings_plugin(), evals_plugin()]

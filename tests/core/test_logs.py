"""Logging: library chatter stays out of a normal run and comes back at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from core.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("pgserver", "httpx")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, value in quiet.items():
        logging.getLogger(name).setLevel(value)


def test_pgserver_and_httpx_info_lines_are_dropped_at_info_and_kept_at_debug(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_format=False)
    logging.getLogger("pgserver").info("Running commandline: pg_ctl start")
    logging.getLogger("httpx").info("HTTP Request: POST /v1/chat/completions")
    logging.getLogger("pgserver").warning("the server did not stop")
    logging.getLogger("v1tr0.x").info("product line")
    err = capsys.readouterr().err
    assert "pg_ctl start" not in err and "HTTP Request" not in err
    assert "the server did not stop" in err and "product line" in err

    configure_logging("DEBUG", json_format=False)
    logging.getLogger("pgserver").info("Running commandline: pg_ctl stop")
    assert "pg_ctl stop" in capsys.readouterr().err

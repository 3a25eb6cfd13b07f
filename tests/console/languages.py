"""The console's table (read from app.js) and the server's (core/i18n.py), and the check that a text
holds no string of the other language: what makes "one language per screen" testable."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from core.i18n import TABLES, Language

APP_JS = Path(__file__).resolve().parents[2] / "api" / "static" / "console" / "app.js"
# What a view must never print: a value the console failed to leave out. Runs of them count
# ("nullnullnullnull": four missing children appended as strings), which \bnull\b would miss.
PLACEHOLDERS = re.compile(r"(?<![A-Za-z])(?:null|undefined|NaN)+(?![A-Za-z])|\[object Object\]")
_PLACEHOLDER = re.compile(r"\{\w+\}")
MIN_FIXED_CHARS = 3  # "p.", "{n} s": too short to say which language a text is in


@cache
def console_table() -> dict[str, Any]:
    """app.js's TEXT, which it writes as JSON for this."""
    source = APP_JS.read_text(encoding="utf-8")
    match = re.search(r"^const TEXT = (\{.*?^\});$", source, re.DOTALL | re.MULTILINE)
    assert match, "app.js defines `const TEXT = {...};` as JSON"
    table: dict[str, Any] = json.loads(match.group(1))
    return table


def strings(table: Any) -> Iterator[str]:
    """Every string of a (nested) table."""
    if isinstance(table, str):
        yield table
    elif isinstance(table, dict):
        for value in table.values():
            yield from strings(value)


def language_strings(language: Language) -> set[str]:
    return set(strings(console_table()[language])) | set(strings(TABLES[language]))


@cache
def _foreign_patterns(language: Language) -> list[tuple[str, re.Pattern[str]]]:
    """The other language's strings that this one does not share (e.g. "Chat"), as patterns whose
    {placeholders} match anything and that match whole words only, case included."""
    other: Language = "en" if language == "es" else "es"
    own = language_strings(language)
    patterns = []
    for string in sorted(language_strings(other) - own):
        pieces = _PLACEHOLDER.split(string)
        if sum(len(piece.strip()) for piece in pieces) < MIN_FIXED_CHARS:
            continue
        body = ".+?".join(re.escape(piece) for piece in pieces)
        patterns.append((string, re.compile(rf"(?<!\w){body}(?!\w)")))
    return patterns


def foreign_strings(text: str, language: Language) -> list[str]:
    """The strings of the other language's tables that occur in `text`."""
    return [string for string, pattern in _foreign_patterns(language) if pattern.search(text)]
